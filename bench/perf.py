"""softloop's fast paths side by side with Hugging Face PEFT: `python -m softloop.bench.perf`.

Both sides run in one process on the same frozen module, the same prompts (20 virtual tokens,
8 of them) and the same requests, in interleaved repetitions (the order alternates, so neither
side always runs on a warm cache); figures are medians. Ratios are PEFT's time over softloop's
(higher: softloop faster), except training memory: softloop's peak over PEFT's (lower: leaner).

PEFT is the *repaired* PEFT: 0.21's prompt-tuning `generate` loses its key/value cache on
transformers 5 (`bench.peft_peer`), so the benchmark renames the key for it; what PEFT users get
today is measured too and reported apart. Every generated answer, from either side, is checked
against a plain greedy reference (`bench.greedy_reference`); softloop runs PEFT's layout
(virtual tokens before BOS) so that one reference serves both.

- train_throughput: examples/s of prompt training, softloop's `train_prompt` with length-bucketed
  batches against PEFT's forward-with-labels loop on random batches of the same data.
- score_latency: one request, a 20-token input scored in one pass (what the critic does), on the
  prompt's cached prefix where that pays (`PrefixCacheConfig`); generate_latency: the same
  request, 10 new tokens.
- mixed_vs_grouped / mixed_vs_single: 64 requests over 8 prompts, 10 new tokens each: one mixed
  batch against PEFT grouped by prompt (`set_adapter`, one batch per group) and one at a time.
- train_peak_memory: bytes allocated at the peak of one training step above what was live before.
- loop_concurrency: 16 concurrent loop runs sharing forward passes (`MicroBatchLM`) over one at a
  time, on the reference world (`bench.perf_loop`).

Models: `reference`, the embedded reference Llama, and `llama-768`, a 12-layer, 768-wide
Llama with random weights and a 32k vocabulary on the same tokenizer (`--configs`). The first
model gets `--reps` repetitions and the others `--big-reps`, fewer training steps, and PEFT as
shipped one request at a time only with `--unrepaired-everywhere`: one repetition of the large
model takes minutes on a CPU core. `--quick` swaps in tiny models for a smoke test.

The clock is the process's CPU time by default: on a shared machine wall time also counts the
time the benchmark waits for a core. `--clock wall` measures wall time instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import statistics
import sys
from collections.abc import Callable
from typing import Any

import torch

from softloop.bench.perf_model import Bench
from softloop.bench.perf_setup import PerfConfig

RATIOS = (
    "train_throughput",
    "score_latency",
    "generate_latency",
    "mixed_vs_grouped",
    "mixed_vs_single",
    "train_peak_memory",
    "loop_concurrency",
)
TARGETS = {
    "train_throughput": ">= 1.2",
    "score_latency": ">= 1.6",
    "generate_latency": ">= 1.1",
    "mixed_vs_grouped": ">= 2",
    "mixed_vs_single": ">= 10",
    "train_peak_memory": "<= 1",
    "loop_concurrency": ">= 3",
}


# --- the whole run -----------------------------------------------------------------------------


def run(
    cfg: PerfConfig, log: Callable[[str], None] = lambda _: None, command: str = ""
) -> dict[str, Any]:
    torch.set_num_threads(1)
    configs, raw = [], {}
    for i, name in enumerate(cfg.configs):
        result = Bench(name, cfg, first=i == 0).run(log)
        configs.append({"name": name, **result["model"], "ratios": result["ratios"]})
        raw[name] = result["raw"]
    loop: dict[str, Any] | None = None
    if cfg.loop_per_task:
        log("loop: concurrent runs against one at a time")
        from softloop.bench.perf_loop import loop_concurrency

        try:
            loop = loop_concurrency(
                cfg.loop_concurrency, cfg.loop_per_task, cfg.loop_reps, cfg.seed, cfg.clock
            )
        except Exception as err:  # the reference world may be unusable (being rebuilt)
            loop = {"error": f"{type(err).__name__}: {err}"}
    raw["loop"] = loop
    ratios = dict(configs[0]["ratios"])
    ratios["loop_concurrency"] = loop["ratio"] if loop and "ratio" in loop else None
    configs[0]["ratios"]["loop_concurrency"] = ratios["loop_concurrency"]
    import peft
    import transformers

    return {
        "ratios": ratios,
        "configs": configs,
        "raw": raw,
        "meta": {
            "date": datetime.date.today().isoformat(),
            "command": f"python -m softloop.bench.perf {command}".strip(),
            "clock": "process CPU time" if cfg.clock == "cpu" else "wall time",
            "torch_threads": torch.get_num_threads(),
            "peer": f"PEFT {peft.__version__} prompt tuning, generate repaired (cache key)",
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
                "python": platform.python_version(),
            },
            "config": dataclasses.asdict(cfg),
            "targets": TARGETS,
        },
    }


def table(report: dict[str, Any]) -> str:
    """The ratios, one row per measurement and a column per model, with the targets."""
    names = [c["name"] for c in report["configs"]]
    lines = [
        f"{'measurement':22}" + "".join(f"{n:>14}" for n in names) + f"{'target':>10}",
    ]
    for key in RATIOS:
        cells = []
        for c in report["configs"]:
            v = c["ratios"].get(key)
            cells.append(f"{'-' if v is None else f'{v:.2f}x':>14}")
        lines.append(f"{key:22}" + "".join(cells) + f"{TARGETS[key]:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m softloop.bench.perf", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--quick", action="store_true", help="tiny models, seconds: a smoke test")
    parser.add_argument("--reps", type=int, help="repetitions on the first model (default 5)")
    parser.add_argument("--big-reps", type=int, help="repetitions on the others (default 1)")
    parser.add_argument("--requests", type=int, help="mixed requests (default 64)")
    parser.add_argument(
        "--train-steps", type=int, help="training steps per repetition on the first model (8)"
    )
    parser.add_argument("--configs", help="comma-separated: reference, llama-768, llama-tiny")
    parser.add_argument("--loop-per-task", type=int, help="loop requests per task (16; 0: skip)")
    parser.add_argument("--loop-reps", type=int, help="loop repetitions (default 3)")
    parser.add_argument("--clock", choices=("cpu", "wall"), help="what to time (default cpu)")
    parser.add_argument(
        "--unrepaired-everywhere",
        action="store_true",
        help="time PEFT as shipped one request at a time on every model, not just the first",
    )
    args = parser.parse_args(argv)
    cfg = PerfConfig.quick() if args.quick else PerfConfig()
    updates = {
        "reps": args.reps,
        "big_reps": args.big_reps,
        "requests": args.requests,
        "train_steps": args.train_steps,
        "loop_per_task": args.loop_per_task,
        "loop_reps": args.loop_reps,
        "clock": args.clock,
        "configs": tuple(args.configs.split(",")) if args.configs else None,
        "unrepaired_single_everywhere": args.unrepaired_everywhere or None,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in updates.items() if v is not None})
    log = (lambda _: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    report = run(cfg, log, " ".join(sys.argv[1:] if argv is None else argv))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    meta = report["meta"]
    print(
        f"softloop / PEFT ({meta['peer']}); {meta['clock']}, medians, "
        f"{meta['torch_threads']} torch thread; higher is better except memory"
    )
    print(table(report))
    for name, raw in report["raw"].items():
        if name == "loop" or raw is None:
            continue
        broken = ", ".join(f"{k} {v:.2f}x" for k, v in raw["unrepaired_peft"].items())
        print(
            f"{name}: PEFT as shipped (generate unrepaired): {broken}; answers matching the "
            f"plain reference out of {raw['mixed']['requests']}: "
            f"{raw['mixed']['matches_reference']}"
        )
    loop = report["raw"]["loop"]
    if loop and "ratio" in loop:
        print(
            f"loop: {loop['concurrency']} concurrent runs / one at a time {loop['ratio']:.2f}x "
            f"over {loop['requests']} requests, identical answers: {loop['identical']}, "
            f"{loop['rows_per_pass']:.1f} rows per forward pass"
        )
        if meta["clock"] == "process CPU time":
            n = loop["requests"]
            pairs = zip(loop["concurrent_s"], loop["passes_cpu_s"], strict=True)
            passes = statistics.median(loop["passes_cpu_s"])
            own = statistics.median(c - p for c, p in pairs)
            print(
                f"loop, per run: {1000 * statistics.median(loop['one_at_a_time_s']) / n:.1f} ms "
                f"one at a time; concurrent: the shared forward passes {1000 * passes / n:.1f} "
                f"ms, the runs' own threads {1000 * own / n:.1f} ms (CPU, medians)"
            )
    elif loop:
        print(f"loop: not measured ({loop['error']})")


if __name__ == "__main__":
    main()
