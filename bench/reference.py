"""Benchmark the shipped reference world: `python -m bench.reference [--json] [--n N]`.

Per task, on `n` test-split inputs at the task's default difficulty, greedy: accuracy with the
text instruction (`rev:abc=`), with no instruction (`abc=`), and with the shipped soft prompt
(template `{input}=`), plus the prompt's size. Then the shipped critique prompt's precision,
recall and F1 at catching wrong answers among the base model's OWN answers to the same test
inputs (text instruction; greedy, and sampled at T=0.7 and T=1.0), labelled by the oracle; the
verdict is P(`n`) > P(`y`) for the first token. The text-instructed judge (`chk ...?`) is
reported alongside as the baseline the prompt has to beat, and so is the critic the loop uses
by default: the shipped task prompt's confidence in the answer (`critics.ConfidenceCritic`),
then the critique prompt if its recorded balanced accuracy clears
`LoopConfig.min_critique_balanced_acc`.

`--json` prints `{"tasks": {NAME: {"text_instruction_acc", "no_instruction_acc",
"soft_prompt_acc", "n_tokens", "trainable_params", ...}}, "critic": {"precision", "recall",
"f1", ...}, "loop_critic": {"precision", "recall", "f1", ...}}` with accuracies as fractions.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from softloop.agent.graph import LoopConfig
from softloop.agent.graph.nodes import critique_balanced_acc
from softloop.bench import evaluation as ev
from softloop.bench.tasks import TASKS
from softloop.bench.world import CRITIQUE, default_prompt_path, reference_model_path
from softloop.prompts import FrozenLM, SoftPrompt


def run(n: int = 200, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    lm = FrozenLM.from_pretrained(reference_model_path())
    tasks: dict[str, dict] = {}
    cases = []
    prompts = {}
    for task in TASKS.values():
        pairs = task.split("test", n, seed=seed)
        prompt = prompts[task.name] = SoftPrompt.load(default_prompt_path(task.name), lm=lm)
        tasks[task.name] = {
            "text_instruction_acc": ev.accuracy(lm, task, pairs, "text"),
            "no_instruction_acc": ev.accuracy(lm, task, pairs, "none"),
            "soft_prompt_acc": ev.accuracy(lm, task, pairs, "soft", prompt),
            "n_tokens": prompt.n_tokens,
            "trainable_params": prompt.weight.numel(),
            "difficulty": task.default_difficulty,
            "n": len(pairs),
        }
        cases += [
            (task, x, a) for x, a in ev.own_cases(lm, task, [x for x, _ in pairs], seed=seed + 1)
        ]
    critique = SoftPrompt.load(default_prompt_path(CRITIQUE), lm=lm)
    # Each critic judges every case once; the per-task figures are read from the same flags.
    critic = ev.flags_prf(cases, ev.critic_flags(lm, cases, critique))
    critic["n_tokens"] = critique.n_tokens
    critic["text_judge"] = ev.critic_prf(lm, cases, None)
    config = LoopConfig()
    loop_flags, loop_name = ev.loop_critic_flags(lm, cases, critique, prompts, config)
    loop_critic = ev.flags_prf(cases, loop_flags)
    loop_critic["name"] = loop_name
    loop_critic["confidence_threshold"] = config.confidence_threshold
    loop_critic["critique_balanced_acc"] = critique_balanced_acc(critique)
    loop_critic["min_critique_balanced_acc"] = config.min_critique_balanced_acc
    return {"tasks": tasks, "critic": critic, "loop_critic": loop_critic}


def _prf(m: dict) -> str:
    return f"{m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f}"


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
    c, j, lc = result["critic"], result["critic"]["text_judge"], result["loop_critic"]
    with_critique = "critique@" in lc["name"]
    loop_row = f"task prompt's confidence ≥ {lc['confidence_threshold']}" + (
        ", then the critique prompt" if with_critique else ""
    )
    lines += [
        "",
        f"Critic on the model's own test answers ({c['n']} answers, {c['wrong']} wrong):",
        "",
        "| critic | tokens | precision | recall | F1 |",
        "|---|---|---|---|---|",
        f"| critique soft prompt | {c['n_tokens']} | {_prf(c)} |",
        f"| text instruction `chk ` | 4 | {_prf(j)} |",
        f"| the loop's critic: {loop_row} | {c['n_tokens'] if with_critique else 0} | {_prf(lc)} |",
        "",
        *(
            []
            if with_critique
            else [
                f"The loop leaves the critique prompt out: its recorded balanced accuracy "
                f"{lc['critique_balanced_acc']:.3f} is below "
                f"`LoopConfig.min_critique_balanced_acc` ({lc['min_critique_balanced_acc']}).",
                "",
            ]
        ),
        "Per task (prompt: the critique prompt alone; loop: the loop's critic):",
        "",
        "| task | answers | wrong | prompt P | prompt R | prompt F1 | loop P | loop R | loop F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in c["per_task"].items():
        lines.append(
            f"| {name} | {m['n']} | {m['wrong']} | {_prf(m)} | {_prf(lc['per_task'][name])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.reference", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--n", type=int, default=200, help="test inputs per task (default 200)")
    ap.add_argument("--seed", type=int, default=0)
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
