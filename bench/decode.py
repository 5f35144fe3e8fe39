"""Batched text completion for the recipe, without padding: queries are grouped by token length.

The recipe needs thousands of completions (the model's own outputs, the per-difficulty accuracy
table). Grouping queries of equal length makes every batch rectangular, so no attention mask or
position bookkeeping is needed and a padded and an unpadded query can never disagree. The
benchmark itself goes through `prompts.FrozenLM`, like every other user of the model.
"""

from __future__ import annotations

import inspect
from collections import defaultdict

import torch
from transformers import LlamaForCausalLM

# transformers 5 renamed the key/value cache argument and output from `past_key_values` to `cache`.
_CACHE = (
    "cache"
    if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters
    else "past_key_values"
)


@torch.no_grad()
def complete(
    model,
    tokenizer,
    queries: list[str],
    *,
    max_new_tokens: int = 24,
    temperature: float = 0.0,
    seed: int = 0,
    batch_size: int = 256,
) -> list[str]:
    """The model's completion of each query (BOS added, stops at EOS); greedy at temperature 0."""
    model.eval()
    eos = tokenizer.eos_token_id
    groups: dict[int, list[int]] = defaultdict(list)
    encoded = [tokenizer(q).input_ids for q in queries]
    for i, ids in enumerate(encoded):
        groups[len(ids)].append(i)
    gen = torch.Generator().manual_seed(seed)
    out: list[str] = [""] * len(queries)
    for _, idx in sorted(groups.items()):
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            ids = torch.tensor([encoded[i] for i in chunk])  # (B, T)
            done = torch.zeros(len(chunk), dtype=torch.bool)
            new: list[torch.Tensor] = []
            past = None
            step_in = ids
            for _ in range(max_new_tokens):
                res = model(input_ids=step_in, use_cache=True, logits_to_keep=1, **{_CACHE: past})
                past = getattr(res, _CACHE)
                logits = res.logits[:, -1, :]  # (B, V)
                if temperature > 0:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                else:
                    nxt = logits.argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
                new.append(nxt)
                done |= nxt == eos
                if done.all():
                    break
                step_in = nxt[:, None]
            gen_ids = torch.stack(new, 1).tolist()  # (B, steps)
            for i, row in zip(chunk, gen_ids, strict=True):
                if eos in row:
                    row = row[: row.index(eos)]
                out[i] = tokenizer.decode(row, skip_special_tokens=True)
    return out


@torch.no_grad()
def next_token_logprobs(
    model, tokenizer, queries: list[str], batch_size: int = 256
) -> torch.Tensor:
    """Log-probabilities of the token after each query (BOS added): (N, vocab)."""
    model.eval()
    groups: dict[int, list[int]] = defaultdict(list)
    encoded = [tokenizer(q).input_ids for q in queries]
    for i, ids in enumerate(encoded):
        groups[len(ids)].append(i)
    out = torch.empty(len(queries), model.config.vocab_size)
    for _, idx in sorted(groups.items()):
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            logits = model(input_ids=torch.tensor([encoded[i] for i in chunk])).logits[:, -1]
            out[chunk] = torch.log_softmax(logits.float(), -1)
    return out


@torch.no_grad()
def mark_logprobs(
    model,
    tokenizer,
    queries: list[str],
    traces: list[str],
    pass_mark: str,
    fail_mark: str,
    batch_size: int = 256,
) -> list[list[float]]:
    """Per row, log P(pass) / (P(pass) + P(fail)) at each pass mark of its teacher-forced trace.

    The recipe's own view of what a critic reads: the judge's confidence in every step of an
    answer whose steps all hold.
    """
    model.eval()
    pass_id, fail_id = tokenizer.convert_tokens_to_ids([pass_mark, fail_mark])
    rows = [
        tokenizer(q).input_ids + tokenizer(t, add_special_tokens=False).input_ids
        for q, t in zip(queries, traces, strict=True)
    ]
    starts = [len(tokenizer(q).input_ids) for q in queries]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(rows):
        groups[len(ids)].append(i)
    out: list[list[float]] = [[] for _ in queries]
    for _, idx in sorted(groups.items()):
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            logits = model(input_ids=torch.tensor([rows[i] for i in chunk])).logits.float()
            pair = torch.log_softmax(logits[..., [pass_id, fail_id]], dim=-1)[..., 0]  # (B, T)
            for b, i in enumerate(chunk):
                marks = [k for k in range(starts[i], len(rows[i])) if rows[i][k] == pass_id]
                out[i] = [pair[b, k - 1].item() for k in marks]  # predicted one position before
    return out


@torch.no_grad()
def answer_logprobs(model, tokenizer, queries: list[str], answers: list[str]) -> list[list[float]]:
    """Per row, log P of each answer token and of EOS after the query (teacher-forced)."""
    model.eval()
    eos = tokenizer.eos_token_id
    rows = [
        tokenizer(q).input_ids + tokenizer(a, add_special_tokens=False).input_ids + [eos]
        for q, a in zip(queries, answers, strict=True)
    ]
    starts = [len(tokenizer(q).input_ids) for q in queries]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(rows):
        groups[len(ids)].append(i)
    out: list[list[float]] = [[] for _ in queries]
    for _, idx in sorted(groups.items()):
        for s in range(0, len(idx), 256):
            chunk = idx[s : s + 256]
            logp = torch.log_softmax(
                model(input_ids=torch.tensor([rows[i] for i in chunk])).logits.float(), -1
            )
            for b, i in enumerate(chunk):
                out[i] = [logp[b, k - 1, rows[i][k]].item() for k in range(starts[i], len(rows[i]))]
    return out
