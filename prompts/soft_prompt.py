"""The soft prompt: a few trainable virtual-token embeddings and the manifest describing them.

The module is deliberately thin. It owns one fp32 master parameter; the frozen model is passed
in when needed and never stored, so a prompt can be saved, moved and batched with other prompts
independently of any model instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from softloop.prompts.errors import ConfigError
from softloop.prompts.manifest import PromptKind, PromptManifest, check_template, split_template

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM

InitStrategy = Literal["text", "vocab", "random"]


class SoftPrompt(nn.Module):
    """`weight`: `(n_tokens, hidden)` fp32, cast to the model's dtype only at use.

    Keeping the master copy in fp32 lets a prompt be trained against a bf16/fp16 model without
    the optimiser's small updates rounding away.
    """

    def __init__(self, weight: torch.Tensor, manifest: PromptManifest) -> None:
        super().__init__()
        if weight.dim() != 2 or tuple(weight.shape) != (manifest.n_tokens, manifest.hidden_size):
            raise ValueError(
                f"weight shape {tuple(weight.shape)} does not match the manifest's "
                f"({manifest.n_tokens}, {manifest.hidden_size})"
            )
        self.weight = nn.Parameter(weight.detach().to(torch.float32).clone())
        self.manifest = manifest

    @property
    def n_tokens(self) -> int:
        return self.manifest.n_tokens

    @property
    def hidden_size(self) -> int:
        return self.manifest.hidden_size

    @property
    def template(self) -> str:
        return self.manifest.template

    @property
    def name(self) -> str:
        return self.manifest.name

    def embeds(self, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """The virtual tokens as the model consumes them: `(n_tokens, hidden)` in `dtype`."""
        return self.weight.to(device=device, dtype=dtype)

    def split(self, text: str) -> tuple[str, str]:
        """The template's text before the virtual tokens, and after them with `text` filled in.

        What training and generation both lay out: `[BOS][before][virtual tokens][after]`. The
        part before is empty unless the template places the tokens with `{prompt}`.
        """
        head, rest = split_template(self.manifest.template)
        return head, rest.format(input=text)

    def format(self, text: str) -> str:
        """The template's text around the virtual tokens, with `text` filled in."""
        head, rest = self.split(text)
        return head + rest

    def instructed(self, text: str, instruction: str) -> str:
        """The input as a plain-text prompt would show it: `instruction` where the virtual
        tokens go. Against this a trained prompt is measured (a text-initialised one starts
        out as exactly this)."""
        head, rest = self.split(text)
        return head + instruction + rest

    @property
    def instruction(self) -> str | None:
        """The instruction the prompt was initialised from, if any."""
        text = self.manifest.extra.get("init_text")
        return text if isinstance(text, str) and text else None

    @property
    def places_tokens(self) -> bool:
        """Whether the template puts text before the virtual tokens (a `{prompt}` slot)."""
        return bool(split_template(self.manifest.template)[0])

    def extra_repr(self) -> str:
        m = self.manifest
        shape = f"({m.n_tokens}, {m.hidden_size})"
        return f"name={m.name!r}, version={m.version}, kind={m.kind}, shape={shape}"

    @classmethod
    def from_init(
        cls,
        lm: FrozenLM,
        n_tokens: int,
        init: InitStrategy = "text",
        text: str | None = None,
        name: str = "prompt",
        kind: PromptKind | str = PromptKind.TASK,
        template: str = "{input}",
        seed: int = 0,
        *,
        chat: bool = False,
        system: str | None = None,
    ) -> SoftPrompt:
        """A new prompt for `lm`, initialised so that training starts somewhere sensible.

        `text` starts from the embeddings of an instruction (on a small model this keeps the
        instruction's accuracy from step 0); `vocab` from real token embeddings; `random` from
        noise with the embedding matrix's per-dimension mean and spread, because raw N(0, 1)
        can be orders of magnitude off the scale the model expects.

        `chat`: the template is the model's chat template around one user turn holding the
        virtual tokens and `template` (see `prompts.chat`), without the default system turn
        the chat template may add unless `system` gives one.
        """
        if n_tokens < 1:
            raise ConfigError(f"n_tokens={n_tokens} must be at least 1; pass a positive count")
        if chat:
            from softloop.prompts.chat import chat_template

            content = None if template == "{input}" else template
            template = chat_template(lm.tokenizer, system=system, content=content)
        elif system is not None:
            raise ConfigError("system= is a chat template's system turn; pass chat=True with it")
        try:
            check_template(template)
        except ValueError as err:
            raise ConfigError(f"{err}") from err
        table = lm.model.get_input_embeddings().weight.detach().to(torch.float32)  # (V, H)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        if init == "text":
            weight = _text_init(lm, table, n_tokens, text)
        elif init == "vocab":
            weight = _vocab_init(lm, table, n_tokens, gen)
        elif init == "random":
            mean, std = table.mean(dim=0).cpu(), table.std(dim=0).cpu()  # (H,), (H,)
            noise = torch.randn(n_tokens, table.shape[1], generator=gen)
            weight = (mean + std * noise).to(table.device)
        else:
            raise ConfigError(f"init={init!r} is not a strategy; use 'text', 'vocab' or 'random'")
        config = lm.model.config
        manifest = PromptManifest(
            name=name,
            kind=PromptKind(kind),
            n_tokens=n_tokens,
            hidden_size=lm.hidden_size,
            base_model_id=lm.model_id,
            base_fingerprint=lm.fingerprint,
            init=init,
            template=template,
            extra={
                **({"init_text": text} if init == "text" else {}),
                **({"chat": True} if chat else {}),
                **({"system": system} if system is not None else {}),
                "init_seed": seed,
                # Recorded so a PEFT export can fill its config without the model at hand.
                "model_type": getattr(config, "model_type", None),
                "num_layers": getattr(config, "num_hidden_layers", None),
                "num_attention_heads": getattr(config, "num_attention_heads", None),
            },
        )
        return cls(weight.to(lm.device), manifest)

    # Files live in prompts.files; these are the convenient spellings.
    def save(self, directory: str | Path) -> Path:
        """Write `prompt.safetensors` + `manifest.json` into `directory` atomically."""
        from softloop.prompts.files import save_prompt

        return save_prompt(self, directory)

    @classmethod
    def load(cls, directory: str | Path, lm: FrozenLM | None = None) -> SoftPrompt:
        """Read a saved prompt, refusing anything unsafe, corrupt or made for another model."""
        from softloop.prompts.files import load_prompt

        return load_prompt(directory, lm)


def _text_init(lm: FrozenLM, table: torch.Tensor, n_tokens: int, text: str | None) -> torch.Tensor:
    if not text:
        raise ConfigError("init='text' needs a non-empty text; pass text=... or use init='vocab'")
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError(f"text {text!r} tokenises to nothing; pass a longer instruction")
    reps = -(-n_tokens // len(ids))  # ceil: tile, then truncate
    index = torch.tensor((ids * reps)[:n_tokens], device=table.device)
    return table[index]  # (n_tokens, H)


def _vocab_init(
    lm: FrozenLM, table: torch.Tensor, n_tokens: int, gen: torch.Generator
) -> torch.Tensor:
    # Special tokens (BOS, pad, ...) carry positional or control meaning; never start from them.
    # Rows past the tokenizer's size are padding added for speed and were never trained.
    special = set(lm.tokenizer.all_special_ids)
    size = min(table.shape[0], len(lm.tokenizer))
    candidates = torch.tensor([i for i in range(size) if i not in special], dtype=torch.long)
    if len(candidates) == 0:
        candidates = torch.arange(table.shape[0])
    replace = len(candidates) < n_tokens
    if replace:
        pick = torch.randint(len(candidates), (n_tokens,), generator=gen)
    else:
        pick = torch.randperm(len(candidates), generator=gen)[:n_tokens]
    return table[candidates[pick].to(table.device)]  # (n_tokens, H)
