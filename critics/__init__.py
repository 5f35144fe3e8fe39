"""Judging an answer: the critique soft prompt, the model's own confidence, programmatic checks,
and their composition.

The critic built on torch loads on first use, so that the store and the CLI's review commands,
which only need the vocabulary (`Verdict`), do not import it.
"""

from typing import TYPE_CHECKING

from softloop.critics.checks import OracleCritic, PredicateCritic, RegexCritic, SchemaCritic
from softloop.critics.compose import AllOf, WeightedScore
from softloop.critics.confidence import ConfidenceCritic, Doubt, DoubtHint, position_hint
from softloop.critics.critique import BatchedCritic, Critic, Critique, CritiqueRequest, Verdict
from softloop.prompts.lazy import lazy_exports

if TYPE_CHECKING:
    from softloop.critics.soft_prompt_critic import CriticFormat, SoftPromptCritic

_LAZY = {
    "CriticFormat": "softloop.critics.soft_prompt_critic",
    "SoftPromptCritic": "softloop.critics.soft_prompt_critic",
}

__getattr__ = lazy_exports("softloop.critics", _LAZY, globals())

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
