"""Benchmark the shipped task prompts: `python -m softloop.bench.reference [--json] [--n N]`.

Per task, on `n` test-split inputs at the task's default difficulty, greedy, judged by the
task's oracle: accuracy with the text instruction (`pth:a d;ab bd=`), with no instruction
(`a d;ab bd=`), and with the shipped soft prompt (template `{input}=`), plus the prompt's size.
The critics are measured by `python -m softloop.bench.critic`.

`--json` prints `{"tasks": {NAME: {"text_instruction_acc", "no_instruction_acc",
"soft_prompt_acc", "n_tokens", "trainable_params", "difficulty", "n"}}}`, accuracies as
fractions.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from softloop.bench import evaluation as ev
from softloop.bench.tasks import TASKS
from softloop.bench.world import default_prompt_path, reference_model_path
from softloop.prompts import FrozenLM, SoftPrompt


def run(n: int = 200, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    lm = FrozenLM.from_pretrained(reference_model_path())
    tasks: dict[str, dict] = {}
    for task in TASKS.values():
        pairs = task.split("test", n, seed=seed)
        prompt = SoftPrompt.load(default_prompt_path(task.name), lm=lm)
        tasks[task.name] = {
            "text_instruction_acc": ev.accuracy(lm, task, pairs, "text"),
            "no_instruction_acc": ev.accuracy(lm, task, pairs, "none"),
            "soft_prompt_acc": ev.accuracy(lm, task, pairs, "soft", prompt),
            "n_tokens": prompt.n_tokens,
            "trainable_params": prompt.weight.numel(),
            "difficulty": task.default_difficulty,
            "n": len(pairs),
        }
    return {"tasks": tasks}


def table(result: dict) -> str:
    lines = [
        "| task | difficulty | text instruction | no instruction | soft prompt | tokens | params |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["tasks"].items():
        lines.append(
            f"| {name} | {r['difficulty']} | {r['text_instruction_acc']:.1%}"
            f" | {r['no_instruction_acc']:.1%}"
            f" | {r['soft_prompt_acc']:.1%} | {r['n_tokens']} | {r['trainable_params']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m softloop.bench.reference", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--n", type=int, default=200, help="test inputs per task (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="which sample of test inputs")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = run(args.n, args.seed)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(
        json.dumps(result, indent=1)
        if args.json
        else table(result) + f"\n\n({result['seconds']:.0f}s)"
    )


if __name__ == "__main__":
    main()
