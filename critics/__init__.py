"""Judging an answer: the critique soft prompt, the model's own confidence, programmatic checks,
and their composition."""

from critics.checks import OracleCritic, PredicateCritic, RegexCritic, SchemaCritic
from critics.compose import AllOf, WeightedScore
from critics.confidence import ConfidenceCritic, Doubt, DoubtHint, position_hint
from critics.critique import BatchedCritic, Critic, Critique, CritiqueRequest, Verdict
from critics.soft_prompt_critic import CriticFormat, SoftPromptCritic

__all__ = [
    "AllOf",
    "BatchedCritic",
    "ConfidenceCritic",
    "Critic",
    "CriticFormat",
    "Critique",
    "CritiqueRequest",
    "Doubt",
    "DoubtHint",
    "OracleCritic",
    "PredicateCritic",
    "RegexCritic",
    "SchemaCritic",
    "SoftPromptCritic",
    "Verdict",
    "WeightedScore",
    "position_hint",
]
