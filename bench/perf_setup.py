"""What `bench.perf` runs on: its settings, models, requests, clock and memory probe."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from softloop.prompts import Example, FrozenLM, SoftPrompt

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class PerfConfig:
    """What to run; the defaults take a few minutes on two CPU cores."""

    reps: int = 5  # timed repetitions per measurement on the first model
    big_reps: int = 1  # on the others: one repetition of the 768-wide model takes minutes
    prompt_tokens: int = 20
    input_tokens: int = 20
    target_tokens: int = 3
    new_tokens: int = 10
    n_prompts: int = 8
    requests: int = 64
    score_batch: int = 16
    train_examples: int = 64
    train_batch: int = 16
    train_steps: int = 8  # steps per timed repetition on the first model
    big_train_steps: int = 3  # on the others
    # PEFT as it ships, one request at a time, is the slowest run of all: on the first model
    # only, unless asked for everywhere.
    unrepaired_single_everywhere: bool = False
    loop_concurrency: int = 16
    loop_per_task: int = 16  # loop requests per reference task
    loop_reps: int = 3
    clock: str = "cpu"
    configs: tuple[str, ...] = ("reference", "llama-768")
    seed: int = 0

    @classmethod
    def quick(cls) -> PerfConfig:
        """Seconds, for a smoke test: tiny models, one repetition, no loop."""
        return cls(
            reps=1,
            big_reps=1,
            prompt_tokens=4,
            input_tokens=6,
            new_tokens=3,
            n_prompts=2,
            requests=4,
            score_batch=2,
            train_examples=8,
            train_batch=4,
            train_steps=1,
            big_train_steps=1,
            loop_per_task=0,
            configs=("reference", "llama-tiny"),
        )


def build_lm(name: str, seed: int = 0) -> FrozenLM:
    """The benchmark's models, all on the reference tokenizer, in PEFT's layout."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from softloop.bench.world import reference_model_path

    path = reference_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model: Any
    if name == "reference":
        model = AutoModelForCausalLM.from_pretrained(path)
    else:
        shape = MODEL_SHAPES[name]
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=512))
    return FrozenLM(model, tokenizer, model_id=name, prompt_after_bos=False)


MODEL_SHAPES: dict[str, dict[str, Any]] = {
    # Llama-2-like proportions at GPT-2-small size, random weights, a 32k vocabulary.
    "llama-768": {
        "vocab_size": 32000,
        "hidden_size": 768,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "num_key_value_heads": 12,
    },
    "llama-tiny": {
        "vocab_size": 1024,  # room for every id of the reference tokenizer
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
}


def describe(lm: FrozenLM) -> dict[str, Any]:
    c = lm.model.config
    return {
        "name": lm.model_id,
        "layers": c.num_hidden_layers,
        "hidden": c.hidden_size,
        "vocab": c.vocab_size,
        "parameters": sum(p.numel() for p in lm.model.parameters()),
    }


def clock_of(name: str) -> Callable[[], float]:
    return time.process_time if name == "cpu" else time.perf_counter


def interleaved(
    fns: dict[str, Callable[[], Any]],
    reps: int,
    clock: Callable[[], float],
    warm: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each function, in `reps` rounds each in a fresh seeded random order,
    after one warm-up each (the function itself, or a cheaper call from `warm` that touches the
    same paths: first-call allocations, prefix caches, generation settings).

    Not a rotation: a rotation keeps the cyclic order, so each function would always run right
    after the same other one, on the CPU caches that one left (a small call after a large one
    finds its weights evicted; after a small one, warm).
    """
    for name, fn in fns.items():
        (warm or {}).get(name, fn)()
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    order = random.Random(0)
    for _ in range(reps):
        for name in order.sample(names, len(names)):
            t0 = clock()
            fns[name]()
            times[name].append(clock() - t0)
    return times


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def peak_bytes(step: Callable[[], Any]) -> int:
    """Most bytes allocated at once while `step` runs, above what was allocated before it."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
        key=lambda e: e.start_ns(),
    )
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


@dataclass
class Workload:
    prompts: list[SoftPrompt]
    mixed_inputs: list[str]
    mixed_prompts: list[SoftPrompt]
    candidates: list[str]  # single requests; the first is the one timed
    target: str
    train: list[Example]


def workload(lm: FrozenLM, cfg: PerfConfig) -> Workload:
    rng = random.Random(cfg.seed)

    def text(n: int) -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(n))

    prompts = [
        SoftPrompt.from_init(lm, cfg.prompt_tokens, "vocab", name=f"p{i}", seed=cfg.seed + i)
        for i in range(cfg.n_prompts)
    ]
    lo, hi = max(1, cfg.input_tokens * 6 // 10), cfg.input_tokens * 14 // 10
    mixed = [text(rng.randint(lo, hi)) for _ in range(cfg.requests)]
    train = [
        Example(text(rng.randint(lo, hi)), text(rng.randint(1, 2 * cfg.target_tokens)))
        for _ in range(cfg.train_examples)
    ]
    return Workload(
        prompts=prompts,
        mixed_inputs=mixed,
        mixed_prompts=[prompts[i % len(prompts)] for i in range(cfg.requests)],
        candidates=[text(cfg.input_tokens) for _ in range(8)],
        target=text(cfg.target_tokens),
        train=train,
    )
