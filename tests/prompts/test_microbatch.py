"""Concurrent callers through one MicroBatchLM get what each would get from the model alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import torch

from softloop.prompts import ConfigError, FrozenLM, PromptedLM, SoftPrompt
from softloop.prompts.microbatch import MicroBatchConfig, MicroBatchLM
from softloop.prompts.prefix_cache import PrefixCacheConfig

# Waits long enough that every caller of a test joins the first batch, whatever the load.
PATIENT = MicroBatchConfig(max_wait_s=2.0, idle_s=0.5, max_rows=256)

Call = Callable[[PromptedLM], Any]


def calls(lm: FrozenLM) -> list[Call]:
    """Every PromptedLM method, greedy and seeded sampling, several prompts and lengths."""
    p = SoftPrompt.from_init(lm, 3, "vocab", template="{input}=")
    q = SoftPrompt.from_init(lm, 6, "random", seed=4, template="{input}?")
    return [
        lambda m: m.generate(["ab", "cdefg"], [p, q], max_new_tokens=7),
        lambda m: m.generate("hij", None, max_new_tokens=3),
        lambda m: m.generate(["k", "lm"], q, max_new_tokens=9, stop="a"),
        lambda m: m.generate(["ab"] * 3, p, do_sample=True, temperature=1.4, seed=3),
        lambda m: m.generate(["xy", "z"], q, do_sample=True, top_k=5, seed=8, max_new_tokens=6),
        lambda m: m.score(["ab", "cd"], ["1", "234"], [p, None]),
        lambda m: m.token_logprobs(["abc"], ["xyzzy"], q),
        lambda m: m.token_choices(["a", "bcdef"], ["12", "3"], p),
        lambda m: m.choice_logprobs(["a", "bcdef"], ["12", "3"], q, [5, 6]),
        lambda m: m.next_token_logprobs(["abc", "d"], [q, p]),
    ]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b)


def concurrently(batcher: MicroBatchLM, todo: list[Call]) -> list[Any]:
    start = threading.Barrier(len(todo))

    def run(call: Call) -> Any:
        start.wait()
        return call(batcher)

    with ThreadPoolExecutor(len(todo)) as pool:
        return list(pool.map(run, todo))


@pytest.mark.parametrize("caches", ["plain", "cached"])
def test_concurrent_calls_answer_as_they_do_alone(lm: FrozenLM, caches: str) -> None:
    if caches == "cached":  # merged batches on the prompts' prefix caches, however small
        lm = FrozenLM(lm.model, lm.tokenizer, prefix_config=PrefixCacheConfig(min_saved_work=0))
    todo = calls(lm)
    alone = [call(lm) for call in todo]
    with MicroBatchLM(lm, PATIENT) as batcher:
        together = concurrently(batcher, todo)
        stats = batcher.stats
    assert isinstance(batcher, PromptedLM)
    for a, b in zip(alone, together, strict=True):
        assert same(a, b)
    assert stats.requests == len(todo)
    assert stats.batches < len(todo), "concurrent calls should share forward passes"


def test_generations_join_a_running_decode_and_keep_their_answers(llama: FrozenLM) -> None:
    p = SoftPrompt.from_init(llama, 3, "vocab", template="{input}=")
    long = lambda m: m.generate(["abcdef"], p, max_new_tokens=30)  # noqa: E731
    short = [
        lambda m, i=i: m.generate([f"{i}x"], p, max_new_tokens=2 + i, do_sample=i % 2 == 1, seed=i)
        for i in range(6)
    ]
    alone = [call(llama) for call in [long, *short]]
    results: list[Any] = []
    with MicroBatchLM(llama, MicroBatchConfig(max_wait_s=0.0, idle_s=0.0)) as batcher:
        first = threading.Thread(target=lambda: results.append(long(batcher)))
        first.start()
        later = [call(batcher) for call in short]  # while the long one is decoding, or after
        first.join()
    assert results == alone[:1]
    assert later == alone[1:]


def test_an_error_stays_with_its_caller(llama: FrozenLM) -> None:
    p = SoftPrompt.from_init(llama, 3, "vocab", template="{input}=")
    limit = llama.context_length
    assert limit is not None
    # Fills the context exactly: accepted as input, but leaves no room to generate.
    full = "a" * (limit - len(llama.bos_ids) - p.n_tokens - 1)
    todo: list[Call] = [
        lambda m: m.generate([full], p, max_new_tokens=2),
        lambda m: m.generate(["ab"], p, max_new_tokens=4),
        lambda m: m.score(["ab"], ["c"], p),
    ]
    with MicroBatchLM(llama, PATIENT) as batcher:
        start = threading.Barrier(len(todo))

        def run(call: Call) -> Any:
            start.wait()
            try:
                return call(batcher)
            except ConfigError as err:
                return err

        with ThreadPoolExecutor(len(todo)) as pool:
            out = list(pool.map(run, todo))
    assert isinstance(out[0], ConfigError) and "no room" in str(out[0])
    assert out[1] == llama.generate(["ab"], p, max_new_tokens=4)
    assert same(out[2], llama.score(["ab"], ["c"], p))


def test_bad_arguments_raise_in_the_calling_thread(llama: FrozenLM) -> None:
    with MicroBatchLM(llama) as batcher:
        with pytest.raises(ConfigError, match="got 1 prompts for 2 inputs"):
            batcher.generate(["a", "b"], [None])
        with pytest.raises(ConfigError, match="temperature=0"):
            batcher.generate("a", do_sample=True, temperature=0)
        assert batcher.generate([], None) == []


def test_a_closed_batcher_refuses_calls(llama: FrozenLM) -> None:
    batcher = MicroBatchLM(llama)
    assert batcher.generate("ab", max_new_tokens=2) == llama.generate("ab", max_new_tokens=2)
    batcher.close()
    with pytest.raises(ConfigError, match="closed"):
        batcher.generate("ab", max_new_tokens=2)


@pytest.mark.parametrize(
    ("field", "value"), [("max_wait_s", -1.0), ("idle_s", 5.0), ("max_rows", 0)]
)
def test_config_names_the_bad_value(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"{field}={value}"):
        MicroBatchConfig(**{field: value})
