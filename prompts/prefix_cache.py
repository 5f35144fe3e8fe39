"""A soft prompt's key/value cache, computed once and reused by every call that shares it.

The prefix `[BOS][virtual tokens]` (with the template's text before `{prompt}` between the
two, where it places them) is the same for every row under one prompt, so its keys and
values need computing only once per prompt version (PEFT recomputes them on every call). A call
then runs only the rows' own tokens on top of their prompts' caches, and rows under different
prompts (or none) still share one forward pass:

    [cache pads] [the row's prompt prefix (cached, P_i slots)] [pads] [template(input)] [target]

The cache slots are left-padded to the longest prefix in the batch and the rows' own tokens to the
longest row; every pad is masked, and a row's positions continue from its own P_i counting real
tokens only, so every row computes what it would without the cache (to float rounding).

Two ways in: `FrozenLM.prefix_cache(prompt)` hands out an explicit cache for one prompt (the
caller passes it as `prefix=`), and `PrefixStore` keeps one per prompt behind the scenes for
every inference call (`PrefixCacheConfig.auto`), rebuilt when the prompt's weights change.
The caches are never modified: each call builds a fresh model cache from them.

Known limitations: inference only (no gradient through a cache); each row needs at least one
token of its own after the prefix.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from softloop.prompts.batching import Row
from softloop.prompts.errors import ConfigError
from softloop.prompts.soft_prompt import SoftPrompt

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM, PromptsArg

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: keys, values (1, heads, P, d)


@dataclass(frozen=True)
class PrefixCacheConfig:
    """When inference reuses prompts' cached prefixes without being asked (`FrozenLM`).

    A cached prefix saves its positions' work in every layer, but a call on caches has a fixed
    cost of its own: the batch's cache is assembled from the stored keys and values, and every
    layer concatenates it with the new ones. On a small model a few saved positions are worth
    less than that, so a call uses the caches only where the work they save, positions times
    the parameters each position runs through, reaches `min_saved_work`.
    """

    auto: bool = True  # inference calls under prompts use their caches; off: only `prefix=`
    # Saved positions x parameters per position: 1e7 is about 2e7 FLOPs, a few tenths of a
    # millisecond of one CPU core on small matrices, about what a call on caches costs besides
    # its arithmetic.
    min_saved_work: float = 1e7

    def __post_init__(self) -> None:
        if not self.min_saved_work >= 0:
            raise ConfigError(
                f"min_saved_work={self.min_saved_work!r} is invalid: use 0 (always use the "
                "cache) or more"
            )


@dataclass(frozen=True)
class Prefix:
    """The keys and values of one prompt's prefix, as computed from `snapshot`."""

    length: int  # P: positions the prefix occupies
    layers: KV
    snapshot: torch.Tensor  # the prompt weights it was computed from, to detect staleness

    def is_current(self, prompt: SoftPrompt) -> bool:
        weight = prompt.weight.detach()
        same_place = weight.device == self.snapshot.device and weight.shape == self.snapshot.shape
        return same_place and torch.equal(weight, self.snapshot)


@dataclass
class PrefixCache:
    """The model's cache after `[BOS][prompt]`, for one prompt as it was when built."""

    prompt: SoftPrompt
    length: int  # P: positions the prefix occupies
    cache: Any  # the model's Cache object for batch size 1
    snapshot: torch.Tensor  # the prompt weights it was computed from, to detect staleness
    fingerprint: str  # the model it was computed on
    prefix: Prefix | None = field(default=None, repr=False)

    def model_kwargs(
        self,
        lm: FrozenLM,
        inputs: list[str],
        prompts: PromptsArg,
        targets: list[str] | None,
        add_eos: bool,
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """Forward kwargs and `(B, T)` labels for the rows' own tokens on top of the prefix."""
        self._check(lm, prompts, len(inputs))
        rows = lm.rows(inputs, self.prompt, targets, add_eos)
        entry = self.prefix or Prefix(self.length, layers_of(self.cache), self.snapshot)
        return cached_kwargs(lm, rows, [entry] * len(rows))

    def expand(self, batch_size: int) -> Any:
        """A private copy of the model cache for `batch_size` rows (forward passes extend it)."""
        cache = copy.deepcopy(self.cache)
        if batch_size > 1:
            cache.batch_repeat_interleave(batch_size)
        return cache

    def _check(self, lm: FrozenLM, prompts: PromptsArg, n: int) -> None:
        if lm.fingerprint != self.fingerprint:
            raise ConfigError("this prefix cache was built on another model; build one with lm")
        per_row = lm.prompts_per_row(prompts, n) if prompts is not None else [self.prompt] * n
        if any(p is not self.prompt for p in per_row):
            raise ConfigError(
                f"the prefix cache is for prompt {self.prompt.name!r}; pass prompts=None or that "
                "prompt for every row, or call without prefix="
            )
        if not torch.equal(self.prompt.weight.detach(), self.snapshot):
            raise ConfigError(
                f"prompt {self.prompt.name!r} changed since its prefix cache was built; "
                "build a new one with lm.prefix_cache(prompt)"
            )


class PrefixStore:
    """One `Prefix` per prompt, built on first use and rebuilt once the prompt has changed.

    Keys are held weakly, so a prompt that is dropped (a refiner's rejected candidate) takes its
    cache with it. A lock makes it safe for threads sharing one model.
    """

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[SoftPrompt, Prefix] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, lm: FrozenLM, prompt: SoftPrompt) -> Prefix:
        with self._lock:
            entry = self._entries.get(prompt)
            if entry is None or not entry.is_current(prompt):
                entry = build_prefix_cache(lm, prompt).prefix
                assert entry is not None
                self._entries[prompt] = entry
            return entry

    def __len__(self) -> int:
        return len(self._entries)


def auto_prefixes(lm: FrozenLM, rows: Sequence[Row]) -> list[Prefix | None] | None:
    """Each row's cached prefix, or None where the call should run plain.

    Plain when the config says so, when a gradient must reach a prompt, or when the caches
    would save too little work (`PrefixCacheConfig.min_saved_work`).
    """
    config = lm.prefix_config
    sources = [r.source for r in rows]
    if not config.auto or all(s is None for s in sources):
        return None
    if torch.is_grad_enabled() and any(s is not None and s.weight.requires_grad for s in sources):
        return None
    cached = sum(len(r.prefix_ids) + r.n_prompt for r, s in zip(rows, sources, strict=True) if s)
    if cached == 0 or cached * lm.position_params < config.min_saved_work:
        return None
    if any(s is not None and not r.text_ids for r, s in zip(rows, sources, strict=True)):
        return None  # the first target token is predicted from the prompt's last position
    entries: dict[int, Prefix] = {}
    out: list[Prefix | None] = []
    for s in sources:
        if s is None:
            out.append(None)
            continue
        if id(s) not in entries:
            entries[id(s)] = lm.prefix_store.get(lm, s)
        out.append(entries[id(s)])
    return out


def cached_kwargs(
    lm: FrozenLM,
    rows: Sequence[Row],
    prefixes: Sequence[Prefix | None],
    plain_layers: bool = False,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Forward kwargs and `(B, T)` labels for rows on top of their prefixes (None: no prefix).

    A row with a prefix contributes only its text and target; a row without one, all of it.
    A prefixed row needs text: its first own position is what predicts the first target token.
    The prefixes go in as the model's cache object, or with `plain_layers` as per-layer keys
    and values (what the lean pass reads; building the cache object costs more than a small
    model's pass saves), which `with_model_cache` turns into one where the model's forward runs.
    """
    if any(p is not None and not r.text_ids for r, p in zip(rows, prefixes, strict=True)):
        raise ConfigError(
            "with a prefix cache every input needs at least one token after the prompt; "
            "pass non-empty inputs or call without prefix="
        )
    own = [
        Row([], None, r.text_ids, r.target_ids) if p is not None else r
        for r, p in zip(rows, prefixes, strict=True)
    ]
    batch = lm.batch(own)
    lengths = [0 if p is None else p.length for p in prefixes]
    width = max(lengths)
    n = len(own)
    device = batch.attention_mask.device
    flat = [int(i >= width - p) for p in lengths for i in range(width)]
    prefix_mask = torch.tensor(flat, dtype=torch.long, device=device).view(n, width)
    offsets = torch.tensor(lengths, dtype=torch.long, device=device).unsqueeze(1)  # (B, 1)
    kwargs: dict[str, Any] = {
        "inputs_embeds": batch.inputs_embeds,  # (B, T, H)
        "attention_mask": torch.cat([prefix_mask, batch.attention_mask], dim=1),  # (B, P + T)
        "position_ids": batch.position_ids + offsets,  # (B, T)
    }
    layers = _batch_layers(prefixes, width)
    kwargs[lm.cache_arg] = layers if plain_layers else new_cache(lm, layers)
    return kwargs, batch.labels


def with_model_cache(lm: FrozenLM, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` for the model's own forward: prefixes given as per-layer keys and values
    (`cached_kwargs(..., plain_layers=True)`) become the model's cache object."""
    cache = kwargs.get(lm.cache_arg)
    if not isinstance(cache, (tuple, list)):
        return kwargs
    return {**kwargs, lm.cache_arg: new_cache(lm, cache)}


def _batch_layers(prefixes: Sequence[Prefix | None], width: int) -> KV:
    """Each row's prefix keys and values, left-padded to `width` slots: `(B, heads, width, d)`
    per layer (one prompt for every row: broadcast views, which the model's cache copies)."""
    distinct: dict[int, int] = {}
    for p in prefixes:
        if p is not None and id(p) not in distinct:
            distinct[id(p)] = len(distinct) + 1  # 0: the zero entry of rows without a prefix
    first = next(p for p in prefixes if p is not None)
    n = len(prefixes)
    if len(distinct) == 1 and all(p is first for p in prefixes):
        return tuple((k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in first.layers)
    index = torch.tensor(
        [0 if p is None else distinct[id(p)] for p in prefixes], device=first.layers[0][0].device
    )
    unique = [first] * (len(distinct) + 1)
    for p in prefixes:
        if p is not None:
            unique[distinct[id(p)]] = p
    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    for layer in range(len(first.layers)):
        kv = []
        for part in (0, 1):
            ref = first.layers[layer][part]  # (1, heads, P, d)
            zero = ref.new_zeros(1, ref.shape[1], width, ref.shape[3])
            stack = [zero] + [left_pad(u.layers[layer][part], width) for u in unique[1:]]
            kv.append(torch.cat(stack).index_select(0, index))  # (B, heads, width, d)
        layers.append((kv[0], kv[1]))
    return tuple(layers)


def left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    """`(B, heads, C, d)` keys or values to `(B, heads, width, d)`, zero slots in front."""
    pad = width - t.shape[2]
    return t if pad == 0 else torch.nn.functional.pad(t, (0, 0, pad, 0))


def new_cache(lm: FrozenLM, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A fresh model cache holding the given per-layer keys and values."""
    from transformers import DynamicCache

    try:
        return DynamicCache(ddp_cache_data=layers, config=lm.model.config)
    except TypeError:  # transformers 4.x
        return DynamicCache.from_legacy_cache(tuple(layers))  # type: ignore[attr-defined]


def cache_of(out: object) -> Any:
    """The model cache a forward pass returned, under whichever name transformers gave it."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def layers_of(cache: Any) -> KV:
    """Per-layer (keys, values) of a model cache, whichever transformers wrote it (or of
    per-layer keys and values already)."""
    if isinstance(cache, (tuple, list)):
        return tuple(cache)
    if hasattr(cache, "layers"):
        return tuple((layer.keys, layer.values) for layer in cache.layers)
    return tuple(zip(cache.key_cache, cache.value_cache, strict=True))


@torch.no_grad()
def build_prefix_cache(lm: FrozenLM, prompt: SoftPrompt) -> PrefixCache:
    """Run `[BOS][prompt]` once and keep the model's cache."""
    [row] = lm.rows([""], prompt)  # the template's text is per-row; the prefix is the rest
    prefix = Row(row.prefix_ids, row.prompt, [], [])
    batch = lm.batch([prefix])
    extra = {"logits_to_keep": 1} if lm.takes_logits_to_keep else {}
    out = lm.model(
        inputs_embeds=batch.inputs_embeds,  # (1, P, H)
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=True,
        **extra,
    )
    cache = cache_of(out)
    snapshot = prompt.weight.detach().clone()
    layers = tuple((k.detach(), v.detach()) for k, v in layers_of(cache))
    return PrefixCache(
        prompt=prompt,
        length=len(prefix),
        cache=cache,
        snapshot=snapshot,
        fingerprint=lm.fingerprint,
        prefix=Prefix(len(prefix), layers, snapshot),
    )
