"""The frozen causal LM a soft prompt steers: loading, freezing, and loss/score under prompts.

`FrozenLM` wraps any `AutoModelForCausalLM` + tokenizer; it does not subclass the model, so any
architecture that accepts `inputs_embeds`, `attention_mask` and `position_ids` works. Every base
parameter has `requires_grad=False`; only prompts passed in are differentiated.

Two checks run on every call, before any model work, because both failures are otherwise
silent or ruinous: a prompt whose manifest names another model's fingerprint is refused (its
vectors mean nothing to this model), and a row longer than the model's context is refused with
one sentence (left to the model, a 1 MB input asks for a terabyte of attention scores).
Generation stops where the context ends, even if `max_new_tokens` would go further.

Known limitations: the fingerprint depends on the dtype the embedding is loaded in (fp32 vs
bf16 copies of the same checkpoint hash differently).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from softloop.prompts.batching import IGNORE, Batch, PaddingSide, Row, build_batch
from softloop.prompts.errors import ConfigError, PromptMismatchError, SoftloopError
from softloop.prompts.lean_forward import (
    LeanModel,
    hooked,
    lean_logits,
    lean_model,
    lean_supported,
)
from softloop.prompts.prefix_cache import (
    PrefixCacheConfig,
    PrefixStore,
    auto_prefixes,
    cached_kwargs,
    layers_of,
    with_model_cache,
)
from softloop.prompts.soft_prompt import SoftPrompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from softloop.prompts.prefix_cache import PrefixCache

PromptsArg = SoftPrompt | Sequence[SoftPrompt | None] | None

_FINGERPRINT_ROWS = 4096  # rows hashed per chunk, so a 150k-vocab model needs no fp32 copy
_NO_LIMIT = 1_000_000  # tokenizers say "1e30" for "no maximum"; take anything above as none
# Texts whose token ids are remembered: inputs recur (samples, candidates, the critic's verdict
# words) and a tokenizer call costs as much as a small model's layer.
_ENCODED_TEXTS = 16384


@dataclass(frozen=True)
class TokenChoices:
    """Per target position `(B, L)`, zero where `mask` is False (left padding)."""

    target_ids: torch.Tensor  # the target's tokens
    logprobs: torch.Tensor  # log P(target token)
    top_ids: torch.Tensor  # the model's most likely token at that position
    top_logprobs: torch.Tensor  # its log-prob
    mask: torch.Tensor  # True on target positions

    @classmethod
    def of(cls, logp: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> TokenChoices:
        """From `target_logp`'s log-softmax `(B, L, V)`, labels and mask `(B, L)`."""
        top_logp, top_ids = logp.max(dim=-1)
        return cls(
            target_ids=labels.clamp(min=0) * mask,
            logprobs=picked_logprobs(logp, labels, mask),
            top_ids=top_ids * mask,
            top_logprobs=top_logp * mask,
            mask=mask,
        )


def picked_logprobs(logp: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-prob of each label under `logp` `(B, L, V)`, zero off target positions: `(B, L)`."""
    return logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask


class FrozenLM:
    """A causal LM whose weights never change, plus the tokenizer that goes with it.

    `prompt_after_bos=True` (default) keeps BOS at position 0 and puts the virtual tokens after
    it: a model pre-trained with BOS first has never seen anything before it. PEFT puts them
    before BOS; pass `False` to reproduce PEFT's layout exactly (used by the interop tests).

    `prefix_config` says when inference under a prompt reuses that prompt's cached keys and
    values by itself (default: whenever it saves enough; see `PrefixCacheConfig`). `lean`: scoring,
    verdicts, training and decoding steps run `prompts.lean_forward` where the architecture
    allows: the model's numbers (a batch's logits to the output layer's rounding) at less cost.
    The model is looked at once, here (its embedding, its lean weights): make the `FrozenLM`
    after the model is put together; moving it or loading weights into it later is seen.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str | None = None,
        prompt_after_bos: bool = True,
        *,
        prefix_config: PrefixCacheConfig | None = None,
        lean: bool = True,
    ) -> None:
        self.model = model.eval()
        for param in self.model.parameters():
            param.requires_grad_(False)
        # Looked up once: every call reads it several times, and the lookup is not free.
        self._embedding = cast(nn.Embedding, model.get_input_embeddings())
        self.tokenizer = tokenizer
        self.model_id = model_id or getattr(model.config, "_name_or_path", "") or "unnamed"
        self.prompt_after_bos = prompt_after_bos
        self.bos_ids = _bos_prefix(tokenizer)
        self.eos_id: int | None = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (self.eos_id or 0)
        forward_args = inspect.signature(model.forward).parameters
        self._takes_logits_to_keep = "logits_to_keep" in forward_args
        # transformers 5.2x renamed `past_key_values` to `cache`; speak whichever it takes.
        self.cache_arg = "cache" if "cache" in forward_args else "past_key_values"
        self.prefix_config = prefix_config or PrefixCacheConfig()
        self.prefix_store = PrefixStore()
        # Passes skip the model's forward where its architecture allows (`lean_forward`); False
        # compares with, or falls back to, the model's own forward.
        self.lean = lean and lean_supported(model)
        self._lean_modules = list(model.modules()) if self.lean else []
        self._lean_weights = lean_model(model) if self.lean else None
        self._encode_cached = functools.lru_cache(maxsize=_ENCODED_TEXTS)(self._encode_text)

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | Path,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        prompt_after_bos: bool = True,
        *,
        cache_dir: str | Path | None = None,
    ) -> FrozenLM:
        """Load model + tokenizer from a local path, a hub id or a `.gguf` file; freeze them.

        A GGUF file is converted to safetensors once and read from that copy afterwards
        (`cache_dir`, default `$SOFTLOOP_HOME/models`; see `prompts.gguf`).
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from softloop.prompts.gguf import is_gguf, load_gguf

        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise ConfigError(f"dtype={dtype!r} is not a torch dtype; use e.g. 'float32'")
            dtype = getattr(torch, dtype)
        if is_gguf(path_or_id):
            cache = Path(cache_dir) if cache_dir is not None else None
            model, tokenizer = load_gguf(path_or_id, dtype, cache)
            if device is not None:
                model = model.to(device)  # type: ignore[arg-type]
            return cls(
                model, tokenizer, model_id=str(path_or_id), prompt_after_bos=prompt_after_bos
            )
        check_model_source(path_or_id)
        kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
        # A hub id not in the local cache is fetched only when the hub answers at once: without
        # a network the hub client would retry for most of a minute before failing.
        local_only = not _looks_local(path_or_id) and not _in_hub_cache(str(path_or_id))
        if local_only and not _hub_reachable():
            raise SoftloopError(
                f"model {path_or_id!r} is not in the local Hugging Face cache and the hub cannot "
                "be reached; download it where there is a network, or pass a local model folder"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(path_or_id)
            model = AutoModelForCausalLM.from_pretrained(path_or_id, **kwargs)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SoftloopError(
                f"cannot load a causal LM from {path_or_id!r} ({first}); pass a local model "
                "directory or a hub id that is available offline"
            ) from err
        if device is not None:
            model = model.to(device)  # type: ignore[arg-type]  # transformers' stub is too narrow
        return cls(model, tokenizer, model_id=str(path_or_id), prompt_after_bos=prompt_after_bos)

    # --- facts about the model -------------------------------------------------------------

    @property
    def embedding(self) -> nn.Embedding:
        return self._embedding

    @property
    def hidden_size(self) -> int:
        return int(self.embedding.weight.shape[1])

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding.weight.dtype

    @cached_property
    def context_length(self) -> int | None:
        """The most positions the model takes (prompt, input and answer together), if known."""
        config = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and 0 < value < _NO_LIMIT:
                return value
        value = getattr(self.tokenizer, "model_max_length", None)
        return value if isinstance(value, int) and 0 < value < _NO_LIMIT else None

    @cached_property
    def position_params(self) -> int:
        """Parameters every position runs through: all but the input embedding's lookup."""
        total = sum(p.numel() for p in self.model.parameters())
        return total - self.embedding.weight.numel()

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens dropped."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the input embedding matrix as fp32 bytes, first 16 hex characters.

        Identifies the weights a prompt was trained against, whatever the model is called.
        """
        table = self.embedding.weight.detach()
        digest = hashlib.sha256()
        for start in range(0, table.shape[0], _FINGERPRINT_ROWS):
            chunk = table[start : start + _FINGERPRINT_ROWS].to("cpu", torch.float32)
            digest.update(chunk.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    # --- turning text into rows ------------------------------------------------------------

    def prompts_per_row(self, prompts: PromptsArg, n: int) -> list[SoftPrompt | None]:
        """Normalise the `prompts` argument: None, one prompt for all rows, or one per row."""
        rows = (
            [prompts] * n if prompts is None or isinstance(prompts, SoftPrompt) else list(prompts)
        )
        if len(rows) != n:
            raise ConfigError(
                f"got {len(rows)} prompts for {n} inputs; pass one prompt per input, "
                "a single prompt for all, or None"
            )
        checked: set[int] = set()
        for p in rows:
            if p is None or id(p) in checked:
                continue
            checked.add(id(p))
            if p.hidden_size != self.hidden_size:
                raise ConfigError(
                    f"prompt {p.name!r} has hidden size {p.hidden_size} but this model has "
                    f"{self.hidden_size}; use a prompt made for {self.model_id}"
                )
            made_for = p.manifest.base_fingerprint
            if made_for and made_for != self.fingerprint:
                raise PromptMismatchError(
                    f"prompt {p.name!r} was made for model {p.manifest.base_model_id} "
                    f"(fingerprint {made_for}), not {self.model_id} (fingerprint "
                    f"{self.fingerprint}); use a prompt trained for this model"
                )
        return rows

    def rows(
        self,
        inputs: Sequence[str],
        prompts: PromptsArg,
        targets: Sequence[str] | None = None,
        add_eos: bool = True,
        check_length: bool = True,
    ) -> list[Row]:
        """Tokenise each input through its prompt's template; targets get EOS if `add_eos`.

        A row longer than the model's context is refused (`check_length=False`: the caller
        checks, with its own words, through `check_fits`).
        """
        per_row = self.prompts_per_row(prompts, len(inputs))
        if targets is not None and len(targets) != len(inputs):
            raise ConfigError(f"got {len(targets)} targets for {len(inputs)} inputs; pair them up")
        rows = []
        for i, (text, prompt) in enumerate(zip(inputs, per_row, strict=True)):
            head, formatted = prompt.split(text) if prompt is not None else ("", text)
            prefix_ids = self._prefix_ids(head, prompt)
            text_ids = self._encode(formatted)
            target_ids: list[int] = []
            if targets is not None:
                target_ids = self._encode(targets[i])
                if add_eos and self.eos_id is not None:
                    target_ids.append(self.eos_id)
            embeds = prompt.embeds(self.dtype, self.device) if prompt is not None else None
            row = Row(prefix_ids, embeds, text_ids, target_ids, source=prompt)
            if len(row) == 0:
                raise ConfigError(f"input {i} is empty and has no prompt or BOS; pass some text")
            if check_length:
                self.check_fits(len(row), f"input {i}", targets is not None)
            rows.append(row)
        return rows

    def _prefix_ids(self, head: str, prompt: SoftPrompt | None) -> list[int]:
        """BOS, then the template's text before the virtual tokens (BOS once, if it has one)."""
        if not head:
            return list(self.bos_ids)
        if not self.prompt_after_bos:
            assert prompt is not None
            raise ConfigError(
                f"prompt {prompt.name!r} places its virtual tokens inside its template "
                "({prompt}), but this model puts them before all text (prompt_after_bos=False, "
                "PEFT's layout); load the model with prompt_after_bos=True"
            )
        ids = self._encode(head)
        n = len(self.bos_ids)
        return ids if n and ids[:n] == self.bos_ids else self.bos_ids + ids

    def check_fits(self, n_tokens: int, what: str = "an input", with_target: bool = False) -> None:
        """Refuse a row of `n_tokens` positions that the model's context cannot hold."""
        limit = self.context_length
        if limit is not None and n_tokens > limit:
            parts = "with its prompt and answer" if with_target else "with its prompt"
            raise ConfigError(
                f"{what} is {n_tokens} tokens long {parts}, more than the {limit} tokens of "
                f"{self.model_id}'s context; shorten it"
            )

    def batch(self, rows: list[Row], padding_side: PaddingSide = "left") -> Batch:
        return build_batch(
            rows,
            self.embedding,
            self.hidden_size,
            self.dtype,
            self.device,
            padding_side=padding_side,
            prompt_after_bos=self.prompt_after_bos,
        )

    def _encode(self, text: str) -> list[int]:
        return list(self._encode_cached(text))

    def _encode_text(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def inference_kwargs(
        self,
        inputs: Sequence[str],
        prompts: PromptsArg,
        targets: Sequence[str] | None = None,
        add_eos: bool = True,
        padding_side: PaddingSide = "left",
        prefix: PrefixCache | None = None,
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """`model_kwargs`, on the prompts' cached prefixes wherever that pays (no-grad calls)."""
        if prefix is not None or padding_side != "left":
            return self.model_kwargs(inputs, prompts, targets, add_eos, padding_side, prefix)
        return self.rows_kwargs(self.rows(inputs, prompts, targets, add_eos))

    def rows_kwargs(
        self, rows: list[Row], padding_side: PaddingSide = "left"
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """Forward kwargs and `(B, T)` labels for rows already built by `rows`, maybe by several
        calls: on the rows' cached prefixes where that pays (`prefix_config`), else plain. For
        `forward_logits` and decoding, which read the prefixes as per-layer keys and values on
        the lean pass and make the model's cache object of them where its forward runs."""
        prefixes = auto_prefixes(self, rows) if padding_side == "left" else None
        if prefixes is not None:
            return cached_kwargs(self, rows, prefixes, plain_layers=True)
        batch = self.batch(rows, padding_side)
        kwargs = {
            "inputs_embeds": batch.inputs_embeds,
            "attention_mask": batch.attention_mask,
            "position_ids": batch.position_ids,
        }
        return kwargs, batch.labels

    # --- scoring ---------------------------------------------------------------------------

    def logits(self, inputs: Sequence[str], prompts: PromptsArg = None) -> torch.Tensor:
        """Logits over the left-padded rows `[BOS][prompt][template(input)]` (the template's
        text before `{prompt}`, if any, between BOS and the prompt): `(B, T, V)`.

        Row `i`'s real positions are the last `len(row)` ones; mostly useful to compare layouts.
        """
        kwargs, _ = self.model_kwargs(inputs, prompts)
        with torch.no_grad():
            return self.forward_logits(kwargs).float()

    def model_kwargs(
        self,
        inputs: Sequence[str],
        prompts: PromptsArg,
        targets: Sequence[str] | None = None,
        add_eos: bool = True,
        padding_side: PaddingSide = "left",
        prefix: PrefixCache | None = None,
    ) -> tuple[dict[str, Any], torch.Tensor]:
        """Keyword arguments for the model's forward pass, and the `(B, T)` labels."""
        if prefix is not None:
            if padding_side != "left":
                raise ConfigError("a prefix cache needs padding_side='left'")
            return prefix.model_kwargs(self, list(inputs), prompts, _list(targets), add_eos)
        batch = self.batch(self.rows(inputs, prompts, targets, add_eos), padding_side)
        kwargs = {
            "inputs_embeds": batch.inputs_embeds,
            "attention_mask": batch.attention_mask,
            "position_ids": batch.position_ids,
        }
        return kwargs, batch.labels

    def token_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        padding_side: PaddingSide = "left",
        prefix: PrefixCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs of each target token and a mask of which positions are targets: `(B, L)`."""
        logp, labels, mask = self._target_logp(
            inputs, targets, prompts, add_eos, padding_side, prefix
        )
        return picked_logprobs(logp, labels, mask), mask

    @torch.no_grad()
    def token_choices(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        prefix: PrefixCache | None = None,
    ) -> TokenChoices:
        """How sure the model was of each target token, and which token it would have chosen.

        One forward pass; what a confidence critic reads to say where an answer goes wrong.
        """
        logp, labels, mask = self._target_logp(inputs, targets, prompts, add_eos, "left", prefix)
        return TokenChoices.of(logp, labels, mask)

    def choice_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        token_ids: Sequence[int],
        prefix: PrefixCache | None = None,
        grad: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs of the given tokens at every target position, with the targets' own ids.

        Returns `(B, L, K)` log-probs of `token_ids`, the `(B, L)` target ids and the `(B, L)`
        mask of target positions (EOS not added). One forward pass: a critic reads several
        verdict marks of a teacher-forced trace at once, each against its alternative. With
        `grad`, differentiable in the prompts (training a critic on its marks).
        """
        with torch.set_grad_enabled(grad):
            logp, labels, mask = self._target_logp(inputs, targets, prompts, False, "left", prefix)
            ids = torch.tensor(list(token_ids), device=logp.device)
            return logp[..., ids], labels.clamp(min=0) * mask, mask

    def _target_logp(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool,
        padding_side: PaddingSide,
        prefix: PrefixCache | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-softmax over the positions that predict targets `(B, L, V)`, labels, mask."""
        kwargs, labels = self.inference_kwargs(
            inputs, prompts, targets, add_eos, padding_side, prefix
        )
        return self.target_logp(kwargs, labels, padding_side)

    def target_logp(
        self, kwargs: dict[str, Any], labels: torch.Tensor, padding_side: PaddingSide = "left"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One forward pass over `kwargs`; log-softmax where `labels` has targets, labels, mask.

        Shapes `(B, L, V)`, `(B, L)`, `(B, L)`: L counts the positions that predict a target
        in the row with the most (left padding), or every position (right padding).
        """
        labels = labels[:, 1:]  # (B, T-1) token at t+1 is predicted at t
        keep = 0
        if padding_side == "left" and self._takes_logits_to_keep:
            # Targets sit at the end of every left-padded row: project only those positions.
            n_target = (labels != IGNORE).sum(dim=1).max().item()
            keep = int(n_target) + 1
        logits = self.forward_logits(kwargs, logits_to_keep=keep)  # (B, T or keep, V)
        logits = logits[:, :-1]  # (B, L, V)
        labels = labels[:, labels.shape[1] - logits.shape[1] :]  # (B, L)
        mask = labels != IGNORE  # (B, L)
        return torch.log_softmax(logits.float(), dim=-1), labels, mask

    def loss(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        weights: Sequence[float] | None = None,
        padding_side: PaddingSide = "left",
    ) -> torch.Tensor:
        """Mean NLL over each target's tokens (EOS included), weighted across examples.

        Each example's loss is the mean over its own tokens (so long answers do not dominate);
        weights multiply those and the result is divided by the weights' sum, which keeps the
        scale, and so the learning rate, independent of how heavily examples are weighted.
        """
        picked, mask = self.token_logprobs(inputs, targets, prompts, True, padding_side)
        per_example = -picked.sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (B,)
        if weights is None:
            return per_example.mean()
        w = torch.tensor(list(weights), dtype=per_example.dtype, device=per_example.device)
        if w.shape != per_example.shape or (w < 0).any() or w.sum() <= 0:
            raise ConfigError(
                f"weights {list(weights)} must be one non-negative number per example with a "
                "positive sum"
            )
        return (per_example * w).sum() / w.sum()

    @torch.no_grad()
    def score(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        prefix: PrefixCache | None = None,
    ) -> torch.Tensor:
        """Sum of log-probs of each target's tokens, without EOS: `(B,)`; no grad."""
        picked, _ = self.token_logprobs(inputs, targets, prompts, add_eos=False, prefix=prefix)
        return picked.sum(dim=1)

    @torch.no_grad()
    def next_token_logprobs(
        self, inputs: Sequence[str], prompts: PromptsArg, prefix: PrefixCache | None = None
    ) -> torch.Tensor:
        """Log-probs of the token after each input: `(B, V)`; one pass, last position only.

        What a verdict needs: P(pass word) against P(fail word) for every row at once.
        """
        kwargs, _ = self.inference_kwargs(inputs, prompts, prefix=prefix)
        logits = self.forward_logits(kwargs, logits_to_keep=1)[:, -1]  # left-padded: last is real
        return torch.log_softmax(logits.float(), dim=-1)

    def prefix_cache(self, prompt: SoftPrompt) -> PrefixCache:
        """The prompt's key/value cache, to pass as `prefix=` to `generate` and `score`.

        Worth it when many calls share one prompt (the critic's scoring, batched requests). It
        is a snapshot: after the prompt is trained further, using it raises; build a new one.
        """
        from softloop.prompts.prefix_cache import build_prefix_cache

        return build_prefix_cache(self, prompt)

    def lean_now(self) -> LeanModel | None:
        """The weights for a lean pass now, or None where the model's forward must run: the
        architecture does not allow it, or a hook listens."""
        if self._lean_weights is None or hooked(self._lean_modules):
            return None
        return self._lean_weights

    @property
    def takes_logits_to_keep(self) -> bool:
        """Whether the model can project only the last positions to the vocabulary."""
        return self._takes_logits_to_keep

    def forward_logits(self, kwargs: dict[str, Any], logits_to_keep: int = 0) -> torch.Tensor:
        """The model's logits for prepared kwargs (`rows_kwargs`): the last `logits_to_keep`
        positions only where the model can, all of them with 0. Through `lean_logits` where the
        architecture allows (`self.lean`): the same numbers without the model's bookkeeping."""
        weights = self.lean_now()
        if weights is not None:
            cache = kwargs.get(self.cache_arg)
            return lean_logits(
                weights,
                kwargs["inputs_embeds"],
                kwargs["attention_mask"],
                kwargs["position_ids"],
                past=layers_of(cache) if cache is not None else None,
                logits_to_keep=logits_to_keep,
            )
        extra: dict[str, Any] = {"use_cache": self.cache_arg in kwargs}
        if logits_to_keep and self._takes_logits_to_keep:
            extra["logits_to_keep"] = logits_to_keep
        return self.model(**with_model_cache(self, kwargs), **extra).logits

    # --- generation ------------------------------------------------------------------------

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
        """Continue each input under its prompt; returns only the new text, one string per row.

        Output stops at EOS, at the first `stop` string (excluded) or after `max_new_tokens`.
        `prefix` (from `prefix_cache(prompt)`) skips recomputing a shared prompt.
        `min_new_tokens` keeps EOS from being chosen before that many new tokens (as in
        transformers' `generate`): a fixed amount of decoding, e.g. to time it.
        """
        from softloop.prompts.generation import generate

        return generate(
            self,
            [inputs] if isinstance(inputs, str) else list(inputs),
            prompts,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            seed=seed,
            stop=[stop] if isinstance(stop, str) else list(stop or []),
            prefix=prefix,
            min_new_tokens=min_new_tokens,
        )

    def __repr__(self) -> str:
        return f"FrozenLM({self.model_id!r}, hidden={self.hidden_size}, dtype={self.dtype})"


def _list(items: Sequence[str] | None) -> list[str] | None:
    return None if items is None else list(items)


def _bos_prefix(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """`[bos]` if the tokenizer puts BOS in front of text by itself, else `[]`."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    adds = bool(with_special) and with_special[0] == bos and (not without or without[0] != bos)
    return [bos] if adds else []


__all__ = ["FrozenLM"]


def check_model_source(path_or_id: str | Path) -> None:
    """Refuse, in softloop's words, a model path that does not exist (before any hub lookup)."""
    if _looks_local(path_or_id) and not Path(path_or_id).expanduser().exists():
        raise SoftloopError(
            f"no model at {path_or_id}; pass a folder saved with save_pretrained, a .gguf file "
            "or a hub id"
        )


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a hub model's config is already in the local cache (no network needed)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id: let transformers say why
        return True


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One short connection attempt to the hub (or `$HF_ENDPOINT`); never with HF_HUB_OFFLINE."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_local(path_or_id: str | Path) -> bool:
    """Whether a model name is meant as a path on disk rather than a hub id (`org/name`)."""
    text = str(path_or_id)
    return isinstance(path_or_id, Path) or text.startswith(("/", ".", "~")) or Path(text).exists()
