"""Judging an answer: the critique soft prompt, programmatic checks, and their composition."""

from critics.checks import OracleCritic, PredicateCritic, RegexCritic, SchemaCritic
from critics.compose import AllOf, WeightedScore
from critics.critique import BatchedCritic, Critic, Critique, CritiqueRequest, Verdict
from critics.soft_prompt_critic import CriticFormat, SoftPromptCritic

__all__ = [
    "AllOf",
    "BatchedCritic",
    "Critic",
    "CriticFormat",
    "Critique",
    "CritiqueRequest",
    "OracleCritic",
    "PredicateCritic",
    "RegexCritic",
    "SchemaCritic",
    "SoftPromptCritic",
    "Verdict",
    "WeightedScore",
]
