"""The plain greedy answer both sides of `bench.perf` are checked against.

No cache, no padding, no batching tricks: rows of equal length are stacked (so no mask or
position bookkeeping is needed), every step recomputes the whole sequence, and the next token is
the argmax of the last position. Slow on purpose; nothing softloop or PEFT does is reused, except
the layout it reproduces (`FrozenLM.prompt_after_bos`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from softloop.prompts import FrozenLM, SoftPrompt


@torch.no_grad()
def greedy_ids(
    lm: FrozenLM,
    inputs: Sequence[str],
    prompts: Sequence[SoftPrompt],
    max_new_tokens: int,
    min_new_tokens: int = 0,
) -> list[list[int]]:
    """New token ids per row, up to EOS (excluded) or `max_new_tokens`; EOS is never chosen
    before `min_new_tokens`."""
    table = lm.embedding.weight  # (V, H)
    seqs: list[torch.Tensor] = []
    for text, prompt in zip(inputs, prompts, strict=True):
        ids = lm.bos_ids + list(
            lm.tokenizer(prompt.format(text), add_special_tokens=False).input_ids
        )
        n_bos = len(lm.bos_ids)
        tokens = table[torch.tensor(ids, device=lm.device)]  # (L, H)
        virtual = prompt.weight.detach().to(lm.dtype)
        if lm.prompt_after_bos:
            seqs.append(torch.cat([tokens[:n_bos], virtual, tokens[n_bos:]]))
        else:
            seqs.append(torch.cat([virtual, tokens]))
    groups: dict[int, list[int]] = defaultdict(list)
    for i, seq in enumerate(seqs):
        groups[len(seq)].append(i)
    out: list[list[int]] = [[] for _ in seqs]
    for rows in groups.values():
        x = torch.stack([seqs[i] for i in rows])  # (B, L, H): equal lengths, nothing to mask
        new: list[list[int]] = [[] for _ in rows]
        for step in range(max_new_tokens):
            logits = lm.model(inputs_embeds=x, use_cache=False).logits[:, -1].float()  # (B, V)
            if step < min_new_tokens and lm.eos_id is not None:
                logits[:, lm.eos_id] = float("-inf")
            nxt = logits.argmax(dim=-1)  # (B,)
            for j, t in enumerate(nxt.tolist()):
                new[j].append(t)
            x = torch.cat([x, table[nxt].unsqueeze(1).to(x.dtype)], dim=1)
        for j, i in enumerate(rows):
            ids = new[j]
            out[i] = ids[: ids.index(lm.eos_id)] if lm.eos_id in ids else ids
    return out
