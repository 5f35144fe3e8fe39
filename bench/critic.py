"""Benchmark the critics on the model's own answers: `python -m softloop.bench.critic`.

The answers are the ones the loop's critic judges first: the shipped task prompts' greedy
answers to test-split inputs at each task's default difficulty (`--n` per task; `--seed`
draws another sample of test inputs). The oracle says which are wrong. One row per critic, each
judging every answer once:

- `confidence`: the task prompt's own confidence, its least likely answer token (with EOS),
  failing below `LoopConfig.confidence_threshold` (`softloop.critics.ConfidenceCritic`);
- `critique`: the shipped critique prompt alone, at the threshold recorded with it for each task;
- `loop`: the critic the loop builds by default (`softloop.agent.graph.nodes.learned_critic`);
- `oracle`: the exact checker, the ceiling.

Each row has AUC (how well its score ranks wrong answers above right ones, threshold-free) and,
at its threshold, balanced accuracy, precision, recall and F1 at catching wrong answers.

`--json` prints `{"critics": {NAME: {"auc", "balanced_acc", "precision", "recall", "f1", "n",
"wrong", ...}}, "per_task": {TASK: {NAME: {...}}}, "answers": N, "wrong": W, "seed": S}`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence

import torch

from softloop.agent.graph import LoopConfig
from softloop.agent.graph.nodes import critique_threshold, learned_critic
from softloop.bench import evaluation as ev
from softloop.bench.tasks import TASKS
from softloop.bench.world import CRITIQUE, critic_format, default_prompt_path, reference_model_path
from softloop.critics import ConfidenceCritic, Critic, CritiqueRequest, SoftPromptCritic, auc
from softloop.prompts import FrozenLM, SoftPrompt
from softloop.prompts.threads import fit_threads

CRITICS = ("confidence", "critique", "loop", "oracle")
CHUNK = 256  # requests per critic call


def _judge(critic: Critic, task: str, cases: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
    """(score, flagged wrong) for each (input, answer)."""
    out: list[tuple[float, bool]] = []
    for s in range(0, len(cases), CHUNK):
        requests = [CritiqueRequest(task=task, input=x, answer=a) for x, a in cases[s : s + CHUNK]]
        out += [(c.score, not c.passed) for c in critic.critique_batch(requests)]
    return out


def _row(judged: Sequence[tuple[float, bool]], wrong: Sequence[bool]) -> dict:
    scores = [s for s, _ in judged]
    return {
        **ev.prf([f for _, f in judged], wrong),
        "auc": auc([-s for s in scores], wrong),
    }


def run(n: int = 500, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    lm = FrozenLM.from_pretrained(reference_model_path())
    fit_threads(lm.model)
    critique = SoftPrompt.load(default_prompt_path(CRITIQUE), lm=lm)
    fmt = critic_format()
    config = LoopConfig(task_labels=dict(fmt.task_labels))
    judged: dict[str, list[tuple[float, bool]]] = {name: [] for name in CRITICS}
    wrong: list[bool] = []
    per_task: dict[str, dict] = {}
    loop_names: list[str] = []
    for task in TASKS.values():
        prompt = SoftPrompt.load(default_prompt_path(task.name), lm=lm)
        inputs = [x for x, _ in task.split("test", n, seed=seed)]
        cases = list(zip(inputs, ev.answers(lm, task, inputs, "soft", prompt), strict=True))
        task_wrong = [not task.check(x, a) for x, a in cases]
        assert config.confidence_threshold is not None
        loop = learned_critic(lm, prompt, critique, config, fmt=fmt)
        assert loop is not None
        loop_names.append(loop.name.replace(f"{prompt.manifest.name}@", "TASK@"))
        critics: dict[str, Critic] = {
            "confidence": ConfidenceCritic(lm, prompt, threshold=config.confidence_threshold),
            "critique": SoftPromptCritic(
                lm, critique, fmt=fmt, threshold=critique_threshold(critique, task.name)
            ),
            "loop": loop,
        }
        task_judged = {name: _judge(c, task.name, cases) for name, c in critics.items()}
        task_judged["oracle"] = [(0.0 if w else 1.0, w) for w in task_wrong]
        per_task[task.name] = {name: _row(j, task_wrong) for name, j in task_judged.items()}
        for name, j in task_judged.items():
            judged[name] += j
        wrong += task_wrong
    rows = {name: _row(judged[name], wrong) for name in CRITICS}
    rows["critique"]["threshold"] = {t: critique_threshold(critique, t) for t in TASKS}
    rows["critique"]["n_tokens"] = critique.n_tokens
    rows["confidence"]["threshold"] = config.confidence_threshold
    rows["loop"]["name"] = ", ".join(dict.fromkeys(loop_names))
    return {
        "critics": rows,
        "per_task": per_task,
        "answers": len(wrong),
        "wrong": sum(wrong),
        "seed": seed,
        "n_per_task": n,
    }


def _cells(m: dict) -> str:
    auc_cell = "-" if math.isnan(m["auc"]) else f"{m['auc']:.3f}"
    return (
        f"{auc_cell} | {m['balanced_acc']:.3f} | {m['precision']:.3f} | {m['recall']:.3f}"
        f" | {m['f1']:.3f}"
    )


def _thresholds(by_task: dict[str, float]) -> str:
    values = set(by_task.values())
    if len(values) == 1:
        return f"{values.pop():.3g}"
    return ", ".join(f"{t} {v:.3g}" for t, v in by_task.items())


def table(result: dict) -> str:
    c = result["critics"]
    lines = [
        f"Critics on the model's own greedy test answers ({result['answers']} answers,"
        f" {result['wrong']} wrong; seed {result['seed']}):",
        "",
        "| critic | AUC | balanced acc | precision | recall | F1 |",
        "|---|---|---|---|---|---|",
        f"| confidence (task prompt, least likely token ≥ {c['confidence']['threshold']})"
        f" | {_cells(c['confidence'])} |",
        f"| critique prompt alone ({c['critique']['n_tokens']} tokens, thresholds"
        f" {_thresholds(c['critique']['threshold'])}) | {_cells(c['critique'])} |",
        f"| the loop's default critic ({c['loop']['name']}) | {_cells(c['loop'])} |",
        f"| oracle | {_cells(c['oracle'])} |",
        "",
        "Per task, AUC / F1:",
        "",
        "| task | answers | wrong | confidence | critique | loop |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in result["per_task"].items():
        cells = [
            f"{rows[k]['auc']:.3f} / {rows[k]['f1']:.3f}"
            for k in ("confidence", "critique", "loop")
        ]
        lines.append(
            f"| {name} | {rows['oracle']['n']} | {rows['oracle']['wrong']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m softloop.bench.critic", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--n", type=int, default=500, help="test inputs per task (default 500)")
    ap.add_argument(
        "--seed", type=int, default=0, help="draw this sample of test inputs (default 0)"
    )
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
