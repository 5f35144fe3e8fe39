"""Hugging Face PEFT prompt tuning as `bench.perf`'s peer: the same model, prompts and requests.

One `PeftModelForCausalLM` holds every benchmark prompt as a named adapter over the same frozen
module softloop runs (prompt tuning leaves the base model untouched, so both sides share it).
Requests are served as a PEFT user would: tokenise with the model's tokenizer (left padding),
`set_adapter`, `generate`; scoring is one forward pass and a log-softmax; training is PEFT's own
forward with labels and AdamW on the prompt.

`repair_generate` works around PEFT 0.21's prompt-tuning `generate` on transformers 5, which
looks for the key/value cache under `past_key_values` while transformers passes `cache`: PEFT
then re-inserts the virtual tokens at every decode step and every row goes wrong after its first
token. The repair renames the key on the way into PEFT's logic and back out to the model, which
makes one-at-a-time decoding exact; batches of several lengths still differ from a plain
reference because PEFT pads between prompt and text and drops position ids (PEFT issue #1093).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from softloop.prompts import FrozenLM, SoftPrompt

IGNORE = -100


class PeftPeer:
    """PEFT prompt tuning over `lm.model`, one adapter per prompt."""

    def __init__(self, lm: FrozenLM, prompts: Sequence[SoftPrompt], repaired: bool = True):
        from peft import PromptTuningConfig, TaskType, get_peft_model

        self.lm, self.tokenizer = lm, lm.tokenizer
        config = lm.model.config
        n_tokens = prompts[0].n_tokens
        cfg = PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=n_tokens,
            token_dim=lm.hidden_size,
            num_transformer_submodules=1,
            num_attention_heads=config.num_attention_heads,
            num_layers=config.num_hidden_layers,
        )
        self.names = [f"p{i}" for i in range(len(prompts))]
        self.model = get_peft_model(lm.model, cfg, adapter_name=self.names[0])
        for name in self.names[1:]:
            self.model.add_adapter(name, cfg)
        with torch.no_grad():
            for name, prompt in zip(self.names, prompts, strict=True):
                self.encoder(name).copy_(prompt.weight.detach())
        self.model.eval()
        self._adapter_of = {id(p): n for p, n in zip(prompts, self.names, strict=True)}
        self._undo: Callable[[], None] | None = None
        self.set_repaired(repaired)

    def set_repaired(self, repaired: bool) -> None:
        """Serve `generate` with the cache-key repair (the fair peer) or as PEFT ships."""
        if repaired and self._undo is None:
            self._undo = repair_generate(self.model)
        elif not repaired and self._undo is not None:
            self._undo()
            self._undo = None

    @property
    def repaired(self) -> bool:
        return self._undo is not None

    def encoder(self, name: str) -> torch.nn.Parameter:
        encoder: Any = self.model.prompt_encoder[name]
        return encoder.embedding.weight

    def use(self, prompt: SoftPrompt) -> None:
        self.model.set_adapter(self._adapter_of[id(prompt)])

    # --- inference ---------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        inputs: Sequence[str],
        prompt: SoftPrompt,
        max_new_tokens: int,
        min_new_tokens: int = 0,
    ) -> list:
        """New token ids per row (EOS and what follows dropped), one adapter, one batch."""
        self.use(prompt)
        enc = self.tokenizer(list(inputs), return_tensors="pt", padding=True)
        out = self.model.generate(
            input_ids=enc.input_ids.to(self.lm.device),
            attention_mask=enc.attention_mask.to(self.lm.device),
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=False,
            pad_token_id=self.lm.pad_id,
        )
        new = out[:, enc.input_ids.shape[1] :]  # (B, new tokens): generate returns the inputs too
        return [_until_eos(row.tolist(), self.lm.eos_id) for row in new]

    @torch.no_grad()
    def score(self, inputs: Sequence[str], targets: Sequence[str], prompt: SoftPrompt):
        """Sum of target log-probs per row, as a PEFT user computes it: full forward, gather."""
        self.use(prompt)
        ids, mask, labels = self.pack(inputs, targets, eos=False, side="left")
        logits = self.model(input_ids=ids, attention_mask=mask).logits  # (B, n + T, V)
        logits = logits[:, -ids.shape[1] : -1]  # the text positions that predict a next token
        labels = labels[:, 1:]
        logp = torch.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * (labels != IGNORE)).sum(dim=1)

    # --- training ----------------------------------------------------------------------------

    def train_step(
        self, optimiser: torch.optim.Optimizer, inputs: Sequence[str], targets: Sequence[str]
    ) -> float:
        """One step of PEFT's own training: forward with labels, backward, clip, AdamW."""
        ids, mask, labels = self.pack(inputs, targets, eos=True, side="right")
        loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(optimiser.param_groups[0]["params"], 1.0)
        optimiser.step()
        return float(loss.detach())

    def trainer(self, prompt: SoftPrompt, lr: float = 1e-2) -> torch.optim.Optimizer:
        """The adapter for `prompt`, made trainable, and an AdamW over it alone."""
        self.use(prompt)
        weight = self.encoder(self._adapter_of[id(prompt)])
        weight.requires_grad_(True)
        return torch.optim.AdamW([weight], lr=lr, weight_decay=0.0)

    def pack(
        self, inputs: Sequence[str], targets: Sequence[str], eos: bool, side: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`[BOS] input target [EOS]` per row, padded on `side`; labels on the target only."""
        tok, device = self.tokenizer, self.lm.device
        rows, labs = [], []
        for x, y in zip(inputs, targets, strict=True):
            head = tok(x)["input_ids"]  # BOS added by the tokenizer, as PEFT users get it
            tail = tok(y, add_special_tokens=False)["input_ids"] + ([self.lm.eos_id] if eos else [])
            rows.append(head + tail)
            labs.append([IGNORE] * len(head) + tail)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.lm.pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, (r, lab) in enumerate(zip(rows, labs, strict=True)):
            cols = slice(width - len(r), width) if side == "left" else slice(0, len(r))
            ids[i, cols], mask[i, cols], labels[i, cols] = torch.tensor(r), 1, torch.tensor(lab)
        return ids.to(device), mask.to(device), labels.to(device)


def repair_generate(model: Any) -> Callable[[], None]:
    """Make PEFT 0.21's prompt-tuning `generate` see transformers 5's `cache` (module docstring);
    returns what undoes it."""
    base_prepare = model.base_model_prepare_inputs_for_generation
    outer_prepare = model.prepare_inputs_for_generation

    @functools.wraps(base_prepare)
    def base(*args: Any, **kwargs: Any) -> dict:
        out = base_prepare(*args, **kwargs)
        if "cache" in out:  # where PEFT's prompt-tuning logic looks for it
            out["past_key_values"] = out.pop("cache")
        return out

    @functools.wraps(outer_prepare)
    def outer(*args: Any, **kwargs: Any) -> dict:
        out = outer_prepare(*args, **kwargs)
        if "past_key_values" in out:  # where the model's forward takes it
            out["cache"] = out.pop("past_key_values")
        return out

    model.base_model_prepare_inputs_for_generation = base
    model.prepare_inputs_for_generation = outer

    def undo() -> None:
        model.base_model_prepare_inputs_for_generation = base_prepare
        del model.prepare_inputs_for_generation  # the class's own method again

    return undo


def _until_eos(ids: list[int], eos: int | None) -> list[int]:
    return ids[: ids.index(eos)] if eos is not None and eos in ids else ids
