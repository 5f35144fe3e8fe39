"""Turning (prompt, input, target) rows into one padded `inputs_embeds` batch.

Every row is laid out as

    [BOS if the tokenizer adds one] [virtual tokens] [template(input)] [target + EOS]

(or with the virtual tokens before BOS, PEFT's layout, when `prompt_after_bos=False`). Rows are
built one by one, so each may carry a different prompt, of a different length, or none; then the
whole row is padded on one side. Pads never land between the prompt and the text (PEFT issue
#1093), pads get attention 0, and positions count only real tokens (`cumsum(mask) - 1`), so a
row's logits do not depend on what it is batched with or on which side it is padded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

IGNORE = -100  # label of positions that carry no loss, as Hugging Face models expect

PaddingSide = Literal["left", "right"]


@dataclass
class Row:
    """One sequence before embedding; `prompt` is `(n_tokens, H)` already in the model dtype."""

    prefix_ids: list[int]  # BOS, or nothing
    prompt: torch.Tensor | None
    text_ids: list[int]
    target_ids: list[int]

    def __len__(self) -> int:
        n_prompt = 0 if self.prompt is None else self.prompt.shape[0]
        return len(self.prefix_ids) + n_prompt + len(self.text_ids) + len(self.target_ids)


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
    """Embed each row, concatenate its parts, and pad all rows to the longest."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side={padding_side!r}; use 'left' or 'right'")
    width = max(len(r) for r in rows)
    embeds, masks, labels = [], [], []
    for row in rows:
        token_part = row.prefix_ids + row.text_ids + row.target_ids
        ids = torch.tensor(token_part, dtype=torch.long, device=device)
        emb = embed(ids).to(dtype)  # (L_tokens, H)
        n_pre, n_text = len(row.prefix_ids), len(row.text_ids)
        pre, rest = emb[:n_pre], emb[n_pre:]
        prompt = row.prompt if row.prompt is not None else emb.new_zeros(0, hidden_size)  # (n, H)
        parts = [pre, prompt, rest] if prompt_after_bos else [prompt, pre, rest]
        seq = torch.cat(parts, dim=0)  # (L, H)
        n_untargeted = n_pre + prompt.shape[0] + n_text
        lab = torch.full((len(seq),), IGNORE, dtype=torch.long, device=device)
        lab[n_untargeted:] = ids[n_pre + n_text :]
        pad = width - len(seq)
        pad_emb = seq.new_zeros(pad, hidden_size)
        pad_lab = torch.full((pad,), IGNORE, dtype=torch.long, device=device)
        ones = torch.ones(len(seq), dtype=torch.long, device=device)
        zeros = torch.zeros(pad, dtype=torch.long, device=device)
        if padding_side == "left":
            embeds.append(torch.cat([pad_emb, seq]))
            masks.append(torch.cat([zeros, ones]))
            labels.append(torch.cat([pad_lab, lab]))
        else:
            embeds.append(torch.cat([seq, pad_emb]))
            masks.append(torch.cat([ones, zeros]))
            labels.append(torch.cat([lab, pad_lab]))
    mask = torch.stack(masks)  # (B, T)
    return Batch(
        inputs_embeds=torch.stack(embeds),  # (B, T, H)
        attention_mask=mask,
        position_ids=positions(mask),
        labels=torch.stack(labels),
    )


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so padding never shifts a row: `(B, T)`."""
    return (mask.cumsum(dim=-1) - 1).clamp(min=0)
