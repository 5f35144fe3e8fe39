"""`PromptedLM`: what the rest of softloop needs of a model steered by soft prompts.

Critics, the loop's nodes and the refiner's evaluation only generate, score and read token
log-probabilities under prompts; they never touch weights. This protocol is that seam.
`FrozenLM` implements it in-process; a second backend (a serving engine that accepts prompt
embeddings) implements the same methods. Training a prompt needs gradients through the model,
so it stays with `FrozenLM`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from softloop.prompts.batching import PaddingSide
    from softloop.prompts.frozen_lm import PromptsArg, TokenChoices
    from softloop.prompts.prefix_cache import PrefixCache


@runtime_checkable
class PromptedLM(Protocol):
    """A frozen causal LM that runs under soft prompts. Shapes: B rows, L target positions."""

    model_id: str  # the name prompts record as their base model

    @property
    def fingerprint(self) -> str:
        """Identifies the weights a prompt was trained against."""
        ...

    @property
    def hidden_size(self) -> int: ...

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase: ...

    @property
    def eos_id(self) -> int | None: ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens dropped."""
        ...

    def generate(
        self,
        inputs: Sequence[str] | str,
        prompts: PromptsArg = None,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop: Sequence[str] | str | None = None,
        prefix: PrefixCache | None = None,
        min_new_tokens: int = 0,
    ) -> list[str]:
        """Continue each input under its prompt; only the new text, one string per row."""
        ...

    def score(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        prefix: PrefixCache | None = None,
    ) -> torch.Tensor:
        """Sum of log-probs of each target's tokens, without EOS: `(B,)`."""
        ...

    def token_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        padding_side: PaddingSide = "left",
        prefix: PrefixCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs of each target token and the mask of target positions: `(B, L)` each."""
        ...

    def token_choices(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        prefix: PrefixCache | None = None,
    ) -> TokenChoices:
        """Per target token: its log-prob, and the token the model would have chosen."""
        ...

    def choice_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        token_ids: Sequence[int],
        prefix: PrefixCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs of the given tokens at each target position `(B, L, K)`, the target ids
        `(B, L)` and the mask of target positions `(B, L)`, EOS not added."""
        ...

    def next_token_logprobs(
        self, inputs: Sequence[str], prompts: PromptsArg, prefix: PrefixCache | None = None
    ) -> torch.Tensor:
        """Log-probs of the token after each input: `(B, vocab)`; one pass, last position only."""
        ...
