"""The decode loop, written out so that every row may carry its own soft prompt.

`model.generate` cannot take a different prefix per row, and PEFT's prompt-tuning wrapper pads
between prompt and text (PEFT issue #1093). Here the prefill is one forward pass over the
left-padded `inputs_embeds` batch; each later step feeds the new token ids with the model's own
KV cache, extending the attention mask and each row's position by one. Because pads are masked
and positions count only real tokens, a row decodes the same batched or alone.

Output also stops where the model's context ends (`FrozenLM.context_length`), whatever
`max_new_tokens` says; an input that leaves no room at all is refused.

Known limitations: stop strings are checked by decoding each unfinished row after every token
(fine for short answers); finished rows keep riding along in the batch until all are done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

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
) -> list[str]:
    """Greedy or sampled continuation of every row; see `FrozenLM.generate`."""
    _check(max_new_tokens, do_sample, temperature, top_k)
    if not inputs:
        return []
    stop = [s for s in (stop or []) if s]
    gen = None
    if do_sample and seed is not None:
        gen = torch.Generator(device=lm.device).manual_seed(seed)
    kwargs, _ = lm.model_kwargs(inputs, prompts, prefix=prefix)
    max_new_tokens = _room(lm, kwargs["position_ids"], max_new_tokens)
    mask = kwargs["attention_mask"]  # (B, T), or (B, P + T) on a prefix cache
    out = lm.model(**kwargs, use_cache=True)
    cache = _cache_of(out)
    logits = out.logits[:, -1, :]  # (B, V)
    position = kwargs["position_ids"][:, -1:] + 1  # (B, 1)
    n = len(inputs)
    new_ids: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for step in range(max_new_tokens):
        token = _pick(logits.float(), do_sample, temperature, top_k, gen)  # (B,)
        for i in range(n):
            if done[i]:
                continue
            t = int(token[i])
            if t == lm.eos_id:
                done[i] = True
                continue
            new_ids[i].append(t)
            text = lm.decode(new_ids[i]) if stop else ""
            if stop and _cut(text, stop) is not None:
                done[i] = True
        if all(done) or step == max_new_tokens - 1:
            break
        # Finished rows are fed pads; their outputs are ignored from here on.
        feed = torch.tensor(
            [lm.pad_id if d else int(t) for d, t in zip(done, token.tolist(), strict=True)],
            device=lm.device,
        ).unsqueeze(1)  # (B, 1)
        mask = torch.cat([mask, mask.new_ones(n, 1)], dim=1)  # (B, T+step+1)
        out = lm.model(
            input_ids=feed,
            attention_mask=mask,
            position_ids=position,
            use_cache=True,
            **{lm.cache_arg: cache},
        )
        cache = _cache_of(out)
        logits = out.logits[:, -1, :]  # (B, V)
        position = position + 1
    texts = [lm.decode(ids) for ids in new_ids]
    cut = [_cut(text, stop) for text in texts]
    return [text if c is None else c for text, c in zip(texts, cut, strict=True)]


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


def _cache_of(out: object) -> object:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _pick(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float,
    top_k: int | None,
    gen: torch.Generator | None,
) -> torch.Tensor:
    """Next token per row from `(B, V)` logits: argmax, or a sample from the tempered top-k."""
    if not do_sample:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


def _cut(text: str, stop: list[str]) -> str | None:
    """`text` up to its earliest stop string, or None if it contains none."""
    hits = [text.find(s) for s in stop if s in text]
    return text[: min(hits)] if hits else None


def _check(max_new_tokens: int, do_sample: bool, temperature: float, top_k: int | None) -> None:
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens={max_new_tokens} must be at least 1")
    if do_sample and not temperature > 0:
        raise ConfigError(
            f"temperature={temperature} must be positive when sampling; use do_sample=False "
            "for greedy decoding"
        )
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k} must be at least 1, or None to sample from all tokens")
