"""Rows decoding together, as a state that can take new rows and let finished ones go.

`FrozenLM.generate` decodes one call's rows from prefill to the end. A serving loop does better
by keeping one running batch: every step advances all unfinished rows at once, a call's rows
leave as soon as they are done, and new calls join at the next step (continuous batching):

    DecodeBatch(prefill) ─ pick ─┬─ advance ─ pick ─┬─ ...      finished spans: texts out, evicted
                                  └─ merge(other) ───┘            new spans: prefilled, merged in

Each span (one caller's call) keeps its own sampling settings, step count, limit and seeded
generator, and picks its tokens from its own rows' logits: it draws exactly what it would draw
decoded alone. Rows never see each other (masked pads, positions counting real tokens), so
merging two batches means left-padding the shorter cache and mask and stacking the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from softloop.prompts.errors import ConfigError
from softloop.prompts.lean_forward import lean_step
from softloop.prompts.prefix_cache import (
    cache_of,
    layers_of,
    left_pad,
    new_cache,
    with_model_cache,
)

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM


@dataclass(frozen=True)
class Sampling:
    """How one call's rows choose their tokens, and when they stop."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    min_new_tokens: int = 0  # EOS is not chosen before this many new tokens

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens={self.max_new_tokens} must be at least 1")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ConfigError(
                f"min_new_tokens={self.min_new_tokens} must be between 0 and max_new_tokens="
                f"{self.max_new_tokens}"
            )
        if self.do_sample and not self.temperature > 0:
            raise ConfigError(
                f"temperature={self.temperature} must be positive when sampling; use "
                "do_sample=False for greedy decoding"
            )
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(
                f"top_k={self.top_k} must be at least 1, or None to sample from all tokens"
            )


@dataclass(frozen=True)
class Span:
    """Rows `start:end` of a batch, decoded under one `Sampling`: one caller's call."""

    start: int
    end: int
    sampling: Sampling


@dataclass
class _SpanState:
    sampling: Sampling
    start: int  # rows start:end of the batch's tensors
    end: int
    limit: int  # new tokens allowed (max_new_tokens, or what the context leaves)
    gen: torch.Generator | None
    tag: Any = None  # the caller's handle, returned with the texts
    steps: int = 0
    finished: bool = False
    new_ids: list[list[int]] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)


class DecodeBatch:
    """A batch after prefill, ready to pick its rows' next tokens (`pick`, then `advance`)."""

    def __init__(
        self,
        lm: FrozenLM,
        kwargs: dict[str, Any],
        spans: Sequence[Span],
        limits: Sequence[int],
        tags: Sequence[Any] = (),
    ) -> None:
        self.lm = lm
        positions = kwargs["position_ids"]  # (B, T)
        self.spans = [
            _SpanState(
                s.sampling,
                s.start,
                s.end,
                limits[k],
                _generator(lm, s.sampling),
                tag=tags[k] if tags else None,
                new_ids=[[] for _ in range(s.start, s.end)],
                done=[False] * (s.end - s.start),
            )
            for k, s in enumerate(spans)
        ]
        # The model's cache object, or per-layer keys and values on the lean path.
        self.cache: Any
        # Decided once: the two paths keep different caches.
        self.lean_weights = lm.lean_now()
        if self.lean_weights is not None:
            prefix = kwargs.get(lm.cache_arg)
            self.logits, self.cache = lean_step(
                self.lean_weights,
                kwargs["inputs_embeds"],
                kwargs["attention_mask"],
                kwargs["position_ids"],
                past=layers_of(prefix) if prefix is not None else None,
            )
        else:
            extra = {"logits_to_keep": 1} if lm.takes_logits_to_keep else {}
            out = lm.model(**with_model_cache(lm, kwargs), use_cache=True, **extra)
            self.cache = cache_of(out)
            self.logits = out.logits[:, -1, :]  # (B, V): where every row's next token comes from
        self.mask = kwargs["attention_mask"]  # (B, C): C cache positions, pads 0
        self.position = positions[:, -1:] + 1  # (B, 1)
        self.feed = [lm.pad_id] * self.rows

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.spans)

    def pick(self) -> list[tuple[Any, list[str]]]:
        """Choose each unfinished row's next token; `(tag, texts)` of spans that end here."""
        lm, scores, ended = self.lm, self.logits.float(), []
        for span in self.spans:
            if span.finished:
                continue
            s = span.sampling
            logits = scores[span.start : span.end]
            if span.steps < s.min_new_tokens and lm.eos_id is not None:
                logits = logits.clone()
                logits[:, lm.eos_id] = float("-inf")  # too early to end
            tokens = pick(logits, s, span.gen).tolist()
            for j, t in enumerate(tokens):
                i = span.start + j
                self.feed[i] = lm.pad_id  # finished rows are fed pads, their outputs ignored
                if span.done[j]:
                    continue
                if t == lm.eos_id:
                    span.done[j] = True
                    continue
                span.new_ids[j].append(t)
                if s.stop and cut(lm.decode(span.new_ids[j]), s.stop) is not None:
                    span.done[j] = True
                else:
                    self.feed[i] = t
            if all(span.done) or span.steps == span.limit - 1:
                span.finished = True
                for i in range(span.start, span.end):
                    self.feed[i] = lm.pad_id
                ended.append((span.tag, self._texts(span)))
            span.steps += 1
        return ended

    def advance(self) -> None:
        """One forward step for every row: the picked tokens in, the next logits out."""
        lm, n = self.lm, self.rows
        ids = torch.tensor(self.feed, device=lm.device).unsqueeze(1)  # (B, 1)
        self.mask = torch.cat([self.mask, self.mask.new_ones(n, 1)], dim=1)  # (B, C + 1)
        if self.lean_weights is not None:
            self.logits, self.cache = lean_step(
                self.lean_weights, lm.embedding(ids), self.mask, self.position, past=self.cache
            )
            self.position = self.position + 1
            return
        out = lm.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=self.position,
            use_cache=True,
            **{lm.cache_arg: self.cache},
        )
        self.cache = cache_of(out)
        self.logits = out.logits[:, -1, :]  # (B, V)
        self.position = self.position + 1

    def evict(self, min_share: float = 0.0) -> None:
        """Drop the rows of finished spans, and the cache columns no row attends to any more.

        Only once finished rows are at least `min_share` of the batch: dropping rows copies the
        cache, while a finished row riding along costs one token per step.
        """
        keep = [s for s in self.spans if not s.finished]
        gone = self.rows - sum(s.end - s.start for s in keep)
        if gone == 0 or (keep and gone < min_share * self.rows):
            return
        index = [i for s in keep for i in range(s.start, s.end)]
        self.spans = keep
        if not index:
            return
        rows = torch.tensor(index, device=self.mask.device)
        mask = self.mask.index_select(0, rows)
        first = int(mask.any(dim=0).nonzero()[0])  # leading columns that are pads in every row
        self.mask = mask[:, first:]
        self._set_cache([(k[rows, :, first:], v[rows, :, first:]) for k, v in self._layers()])
        self.logits = self.logits.index_select(0, rows)
        self.position = self.position.index_select(0, rows)
        self.feed = [self.feed[i] for i in index]
        start = 0
        for s in keep:
            s.start, s.end, start = start, start + (s.end - s.start), start + (s.end - s.start)

    def merge(self, other: DecodeBatch) -> DecodeBatch:
        """This batch with `other`'s rows below, both ready to advance; returns self."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        mine, theirs = self._layers(), other._layers()
        layers = []
        for (k1, v1), (k2, v2) in zip(mine, theirs, strict=True):
            k = torch.cat([left_pad(k1, width), left_pad(k2, width)])
            v = torch.cat([left_pad(v1, width), left_pad(v2, width)])
            layers.append((k, v))
        self._set_cache(layers)
        self.mask = torch.cat([_left_pad_2d(self.mask, width), _left_pad_2d(other.mask, width)])
        self.logits = torch.cat([self.logits, other.logits])
        self.position = torch.cat([self.position, other.position])
        offset = len(self.feed)
        self.feed += other.feed
        for s in other.spans:
            s.start, s.end = s.start + offset, s.end + offset
            self.spans.append(s)
        return self

    @property
    def lean(self) -> bool:
        """Whether this batch decodes on the lean pass (its cache is per-layer tensors)."""
        return self.lean_weights is not None

    def texts(self) -> list[str]:
        """Every row's text so far, in row order (what `decode` returns at the end)."""
        return [t for s in self.spans for t in self._texts(s)]

    def _texts(self, span: _SpanState) -> list[str]:
        texts = [self.lm.decode(ids) for ids in span.new_ids]
        cuts = [cut(t, span.sampling.stop) for t in texts]
        return [t if c is None else c for t, c in zip(texts, cuts, strict=True)]

    def _layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(self.cache) if self.lean else list(layers_of(self.cache))

    def _set_cache(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.cache = layers if self.lean else new_cache(self.lm, layers)


def _generator(lm: FrozenLM, s: Sampling) -> torch.Generator | None:
    if not (s.do_sample and s.seed is not None):
        return None
    return torch.Generator(device=lm.device).manual_seed(s.seed)


def _left_pad_2d(mask: torch.Tensor, width: int) -> torch.Tensor:
    pad = width - mask.shape[1]
    return mask if pad == 0 else torch.nn.functional.pad(mask, (pad, 0))


def pick(logits: torch.Tensor, s: Sampling, gen: torch.Generator | None) -> torch.Tensor:
    """Next token per row from `(B, V)` logits: argmax, or a sample from the tempered top-k."""
    if not s.do_sample:
        return logits.argmax(dim=-1)
    logits = logits / s.temperature
    if s.top_k is not None and s.top_k < logits.shape[-1]:
        kth = torch.topk(logits, s.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


def cut(text: str, stop: Sequence[str]) -> str | None:
    """`text` up to its earliest stop string after its first non-space character, or None.

    Stop strings in leading whitespace do not count: a model that opens its answer with a
    line break (as instruct models often do) would otherwise answer nothing under `stop="\n"`.
    The leading whitespace stays in the text.
    """
    start = len(text) - len(text.lstrip())
    hits = [i for i in (text.find(s, start) for s in stop) if i >= 0]
    return text[: min(hits)] if hits else None
