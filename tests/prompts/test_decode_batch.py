"""A running decode takes new calls and lets finished ones go without changing any answer."""

from __future__ import annotations

from softloop.prompts import FrozenLM, SoftPrompt
from softloop.prompts.decode_batch import DecodeBatch, Sampling, Span
from softloop.prompts.generation import start


def begin(lm: FrozenLM, inputs: list[str], prompt: SoftPrompt | None, s: Sampling, tag: str):
    rows = lm.rows(inputs, prompt)
    kwargs, _ = lm.rows_kwargs(rows)
    return start(lm, kwargs, [Span(0, len(rows), s)], [tag])


def run_to_end(batch: DecodeBatch, joiners: list[tuple[int, DecodeBatch]]) -> dict[str, list]:
    """Decode `batch`, merging each joiner in after the given number of steps."""
    out: dict[str, list] = {}
    pending = sorted(joiners, key=lambda j: j[0])
    for tag, texts in batch.pick():
        out[tag] = texts
    for other in [b for at, b in pending if at == 0]:
        for tag, texts in other.pick():
            out[tag] = texts
        batch.merge(other)
    step = 0
    while not batch.finished:
        batch.advance()
        step += 1
        for tag, texts in batch.pick():
            out[tag] = texts
        batch.evict()
        for other in [b for at, b in pending if at == step]:
            for tag, texts in other.pick():
                out[tag] = texts
            other.evict()
            batch.merge(other)
    return out


def test_merged_and_evicted_spans_decode_as_they_do_alone(lm: FrozenLM) -> None:
    p = SoftPrompt.from_init(lm, 3, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 7, "random", seed=2, template="{input}?")
    jobs = {
        "long": (["abcdefgh", "i"], p, Sampling(max_new_tokens=12)),
        "short": (["jk"], q, Sampling(max_new_tokens=2)),
        "sampled": (["lmno", "p", "q"], q, Sampling(9, do_sample=True, temperature=1.2, seed=4)),
        "bare": (["rs"], None, Sampling(max_new_tokens=5, top_k=3, do_sample=True, seed=1)),
    }
    alone = {
        tag: lm.generate(x, pr, s.max_new_tokens, s.do_sample, s.temperature, s.top_k, s.seed)
        for tag, (x, pr, s) in jobs.items()
    }
    batches = {tag: begin(lm, x, pr, s, tag) for tag, (x, pr, s) in jobs.items()}
    together = run_to_end(
        batches["long"], [(0, batches["short"]), (1, batches["sampled"]), (4, batches["bare"])]
    )
    assert together == alone


def test_evicting_drops_finished_rows_and_dead_cache_columns(llama: FrozenLM) -> None:
    p = SoftPrompt.from_init(llama, 3, "vocab", template="{input}=")
    long = begin(llama, ["a" * 20], p, Sampling(max_new_tokens=6), "long")
    short = begin(llama, ["b"], p, Sampling(max_new_tokens=8), "short")
    long.pick()
    short.pick()
    long.merge(short)
    for _ in range(5):
        long.advance()
        long.pick()
    width = long.mask.shape[1]
    long.evict()  # the long row is done: the short row's cache needs far fewer columns
    assert long.rows == 1 and long.mask.shape[1] < width
    assert bool(long.mask[:, 0].all())
