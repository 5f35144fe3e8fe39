"""The decode loop, written out so that every row may carry its own soft prompt.

`model.generate` cannot take a different prefix per row, and PEFT's prompt-tuning wrapper pads
between prompt and text (PEFT issue #1093). Here the prefill is one forward pass over the
left-padded `inputs_embeds` batch; each later step feeds the new token ids with the keys and
values so far (the model's own cache, or plain tensors on the lean path of `lean_forward`),
extending the attention mask and each row's position by one. Because pads are masked
and positions count only real tokens, a row decodes the same batched or alone.

Output also stops where the model's context ends (`FrozenLM.context_length`), whatever
`max_new_tokens` says; an input that leaves no room at all is refused.

Known limitations: stop strings are checked by decoding each unfinished row after every token
(fine for short answers); finished rows keep riding along in the batch until all are done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from softloop.prompts.decode_batch import DecodeBatch, Sampling, Span
from softloop.prompts.errors import ConfigError

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM, PromptsArg
    from softloop.prompts.prefix_cache import PrefixCache


@torch.no_grad()
def generate(
    lm: FrozenLM,
    inputs: list[str],
    prompts: PromptsArg,
    max_new_tokens: int = 32,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    stop: list[str] | None = None,
    prefix: PrefixCache | None = None,
    min_new_tokens: int = 0,
) -> list[str]:
    """Greedy or sampled continuation of every row; see `FrozenLM.generate`."""
    sampling = Sampling(
        max_new_tokens,
        do_sample,
        temperature,
        top_k,
        seed,
        tuple(s for s in stop or [] if s),
        min_new_tokens,
    )
    if not inputs:
        return []
    kwargs, _ = lm.inference_kwargs(inputs, prompts, prefix=prefix)
    return decode(lm, kwargs, [Span(0, len(inputs), sampling)])


@torch.no_grad()
def decode(lm: FrozenLM, kwargs: dict[str, Any], spans: Sequence[Span]) -> list[str]:
    """Decode every row of a prepared batch (`FrozenLM.rows_kwargs`) to the end, in one go."""
    batch = start(lm, kwargs, spans)
    batch.pick()
    while not batch.finished:
        batch.advance()
        batch.pick()
    return batch.texts()


@torch.no_grad()
def start(
    lm: FrozenLM, kwargs: dict[str, Any], spans: Sequence[Span], tags: Sequence[Any] = ()
) -> DecodeBatch:
    """Prefill a prepared batch: a `DecodeBatch` whose spans stop at their limits or the
    model's context, whichever comes first; `tags` name the spans in what `pick` returns."""
    positions = kwargs["position_ids"]
    limits = [_room(lm, positions[s.start : s.end], s.sampling.max_new_tokens) for s in spans]
    return DecodeBatch(lm, kwargs, spans, limits, tags)


def _room(lm: FrozenLM, position_ids: torch.Tensor, max_new_tokens: int) -> int:
    """New tokens the context leaves after the longest row (at most `max_new_tokens`)."""
    limit = lm.context_length
    if limit is None:
        return max_new_tokens
    longest = int(position_ids.max()) + 1  # positions count real tokens, the prefix included
    if longest >= limit:
        raise ConfigError(
            f"an input fills all {limit} tokens of {lm.model_id}'s context with its prompt, "
            "leaving no room for an answer; shorten it"
        )
    return min(max_new_tokens, limit - longest)
