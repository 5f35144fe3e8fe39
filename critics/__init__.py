"""Judging an answer: the critique soft prompt, the model's own confidence, programmatic checks,
and their composition.

Importing the package needs no torch: the critics reach the model through the `PromptedLM`
they are given, so the store and the CLI's review commands can share the vocabulary.
"""

from softloop.critics.checks import OracleCritic, PredicateCritic, RegexCritic, SchemaCritic
from softloop.critics.compose import AllOf, WeightedScore
from softloop.critics.confidence import (
    ConfidenceChoice,
    ConfidenceCritic,
    Doubt,
    DoubtHint,
    confidence_auc,
    confidence_choice,
    fit_confidence,
    position_hint,
)
from softloop.critics.critique import BatchedCritic, Critic, Critique, CritiqueRequest, Verdict
from softloop.critics.joint import JointChoice, fit_joint, joint_choice, joint_critic
from softloop.critics.metrics import auc
from softloop.critics.soft_prompt_critic import (
    CriticFormat,
    SoftPromptCritic,
    default_marks,
    fit_threshold,
    format_for,
    mark_loss,
    record_marks,
    recorded_marks,
)

__all__ = [
    "AllOf",
    "BatchedCritic",
    "ConfidenceChoice",
    "ConfidenceCritic",
    "Critic",
    "CriticFormat",
    "Critique",
    "CritiqueRequest",
    "Doubt",
    "DoubtHint",
    "JointChoice",
    "OracleCritic",
    "PredicateCritic",
    "RegexCritic",
    "SchemaCritic",
    "SoftPromptCritic",
    "Verdict",
    "WeightedScore",
    "auc",
    "confidence_auc",
    "confidence_choice",
    "default_marks",
    "fit_confidence",
    "fit_joint",
    "fit_threshold",
    "format_for",
    "joint_choice",
    "joint_critic",
    "mark_loss",
    "position_hint",
    "record_marks",
    "recorded_marks",
]
