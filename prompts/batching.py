"""Turning (prompt, input, target) rows into one padded `inputs_embeds` batch.

Every row is laid out as

    [BOS if the tokenizer adds one] [virtual tokens] [template(input)] [target + EOS]

(or with the virtual tokens before BOS, PEFT's layout, when `prompt_after_bos=False`). A
template may place the virtual tokens itself (`{prompt}`, e.g. inside a chat template's user
turn); its text before them then joins BOS in the row's prefix, which is the same for every row
under that prompt. Rows are
built one by one, so each may carry a different prompt, of a different length, or none; then the
whole row is padded on one side. Pads never land between the prompt and the text (PEFT issue
#1093), pads get attention 0, and positions count only real tokens (`cumsum(mask) - 1`), so a
row's logits do not depend on what it is batched with or on which side it is padded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from softloop.prompts.soft_prompt import SoftPrompt

IGNORE = -100  # label of positions that carry no loss, as Hugging Face models expect

PaddingSide = Literal["left", "right"]


@dataclass
class Row:
    """One sequence before embedding; `prompt` is `(n_tokens, H)` already in the model dtype."""

    prefix_ids: list[int]  # BOS (or nothing), then the template's text before the prompt
    prompt: torch.Tensor | None
    text_ids: list[int]
    target_ids: list[int]
    # The prompt the virtual tokens came from: what a cached prefix is looked up by.
    source: SoftPrompt | None = None

    @property
    def n_prompt(self) -> int:
        return 0 if self.prompt is None else int(self.prompt.shape[0])

    def __len__(self) -> int:
        return len(self.prefix_ids) + self.n_prompt + len(self.text_ids) + len(self.target_ids)


@dataclass
class Batch:
    inputs_embeds: torch.Tensor  # (B, T, H)
    attention_mask: torch.Tensor  # (B, T) 1 on real positions, 0 on pads
    position_ids: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T) token id on target positions, IGNORE elsewhere


def build_batch(
    rows: list[Row],
    embed: Callable[[torch.Tensor], torch.Tensor],
    hidden_size: int,
    dtype: torch.dtype,
    device: torch.device,
    padding_side: PaddingSide = "left",
    prompt_after_bos: bool = True,
) -> Batch:
    """Embed every row's tokens in one lookup, place the prompts, and pad all rows to the longest.

    The layout is written out in Python lists first and becomes tensors once: per-row tensor
    work costs more than the model itself on small models and short rows. The virtual tokens go
    in with one `index_put_`, which autograd records, so gradients reach every prompt in the
    batch.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side={padding_side!r}; use 'left' or 'right'")
    n, width = len(rows), max(len(r) for r in rows)
    ids = [0] * (n * width)  # row-major (B, T); prompt and pad slots keep a placeholder id
    labels = [IGNORE] * (n * width)
    mask = [0] * (n * width)
    at_rows: list[int] = []
    at_cols: list[int] = []
    prompts: list[torch.Tensor] = []
    for b, row in enumerate(rows):
        length = len(row)
        start = b * width + (width - length if padding_side == "left" else 0)
        n_prompt = row.n_prompt
        n_pre = len(row.prefix_ids)
        pre_at = start + (0 if prompt_after_bos else n_prompt)
        prompt_at = start + (n_pre if prompt_after_bos else 0)
        ids[pre_at : pre_at + n_pre] = row.prefix_ids
        rest = start + n_pre + n_prompt
        n_text = len(row.text_ids)
        ids[rest : rest + n_text] = row.text_ids
        ids[rest + n_text : start + length] = row.target_ids
        labels[rest + n_text : start + length] = row.target_ids
        mask[start : start + length] = [1] * length
        if row.prompt is not None and n_prompt:
            col = prompt_at - b * width
            at_rows += [b] * n_prompt
            at_cols += range(col, col + n_prompt)
            prompts.append(row.prompt)
    ids_t = torch.tensor(ids, dtype=torch.long, device=device).view(n, width)
    mask_t = torch.tensor(mask, dtype=torch.long, device=device).view(n, width)
    # A fresh tensor (the base is frozen, so nothing is recorded for it): written in place, so
    # that a training step holds one (B, T, H) copy of its inputs, not three.
    embeds = embed(ids_t).to(dtype)  # (B, T, H)
    # Pads are zero vectors, as they would be if each row were padded on its own.
    embeds.masked_fill_(mask_t.unsqueeze(-1) == 0, 0.0)
    if prompts:
        where = (
            torch.tensor(at_rows, dtype=torch.long, device=device),
            torch.tensor(at_cols, dtype=torch.long, device=device),
        )
        values = torch.cat(prompts).to(dtype)  # (sum of n_tokens, H)
        embeds.index_put_(where, values)
    return Batch(
        inputs_embeds=embeds,
        attention_mask=mask_t,
        position_ids=positions(mask_t),
        labels=torch.tensor(labels, dtype=torch.long, device=device).view(n, width),
    )


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so padding never shifts a row: `(B, T)`."""
    return (mask.cumsum(dim=-1) - 1).clamp(min=0)
