"""Measuring the reference world through `prompts.FrozenLM`: solve accuracy and critic quality.

Shared by the default-prompt trainer (`bench.train_prompts`) and the benchmark
(`bench.reference`), so that what a prompt was selected on and what it is reported on are
computed the same way.

Three ways to ask the model to solve a task:
- `text`: the pre-training instruction, `pth:a d;ab bd=`;
- `none`: no instruction, `a d;ab bd=`;
- `soft`: the task soft prompt with template `{input}=`.

The critic's score is the probability that every step of an answer holds, read off the passing
check trace (`bench.formats`) under the critique soft prompt (`{instr}:{input}={answer}` +
template `{input}?`) or, with no prompt, the text instruction (`chk ...?`). Right or wrong is
always the task's oracle; answers are the model's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from softloop.agent.graph import LoopConfig
from softloop.agent.graph.nodes import learned_critic
from softloop.agent.refine.evaluate import verdict_scores
from softloop.bench import formats
from softloop.bench.tasks import Task
from softloop.bench.world import critic_format
from softloop.critics import CritiqueRequest, auc
from softloop.critics.soft_prompt_critic import step_logprobs

if TYPE_CHECKING:
    from softloop.prompts import FrozenLM, PromptedLM, SoftPrompt

MAX_NEW_TOKENS = 24  # the longest reference answer (a walk through every node) fits
CHUNK = 256  # rows per forward pass


def prf(pred_wrong: Sequence[bool], is_wrong: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and F1 at catching wrong answers (wrong = the positive class).

    Also the balanced accuracy, the mean of the recall on wrong and on right answers: 0.5 for
    any constant verdict, whereas F1 rewards "always wrong" (F1 = 2w / (1 + w) at a wrong rate
    w) and so cannot select a critic. Computed as the refiner computes it.
    """
    scores = verdict_scores(pred_wrong, is_wrong)
    return {
        "balanced_acc": scores.balanced_accuracy,
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "n": scores.n,
        "wrong": sum(is_wrong),
    }


def solve_queries(task: Task, inputs: Sequence[str], mode: str) -> list[str]:
    if mode == "text":
        return [formats.solve_text(task.instruction, x) for x in inputs]
    if mode == "none":
        return [formats.TASK_TEMPLATE.format(input=x) for x in inputs]
    return list(inputs)  # soft: the prompt's template adds "="


def answers(
    lm: FrozenLM,
    task: Task,
    inputs: Sequence[str],
    mode: str = "text",
    prompt: SoftPrompt | None = None,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """The model's answers (greedy at temperature 0, else sampled)."""
    queries = solve_queries(task, inputs, mode)
    out: list[str] = []
    for s in range(0, len(queries), CHUNK):
        out += lm.generate(
            queries[s : s + CHUNK],
            prompts=prompt if mode == "soft" else None,
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else 1.0,
            seed=seed + s,
        )
    return out


def accuracy(
    lm: FrozenLM, task: Task, pairs, mode: str = "text", prompt: SoftPrompt | None = None
) -> float:
    got = answers(lm, task, [x for x, _ in pairs], mode, prompt)
    return sum(task.check(x, a) for (x, _), a in zip(pairs, got, strict=True)) / max(1, len(pairs))


def own_cases(
    lm: FrozenLM,
    task: Task,
    inputs: Sequence[str],
    temperatures: Sequence[float] = (0.0, 0.7, 1.0),
    seed: int = 0,
) -> list[tuple[str, str]]:
    """The model's own (input, answer) pairs with the text instruction, one per temperature."""
    cases: list[tuple[str, str]] = []
    for k, t in enumerate(temperatures):
        cases += zip(
            inputs,
            answers(lm, task, inputs, "text", temperature=t, seed=seed + 1000 * k),
            strict=True,
        )
    return cases


def pass_probabilities(
    lm: PromptedLM, cases: Sequence[tuple[Task, str, str]], prompt: SoftPrompt | None
) -> list[float]:
    """The critic's probability that every step of each case's answer holds.

    With a critique prompt, it reads `{instr}:{input}={answer}` (its template adds `?`); with
    none, the text-instructed judge reads `chk {instr}:{input}={answer}?`. Either way the
    passing trace is teacher-forced and each mark read (`softloop.critics.soft_prompt_critic`).
    """
    fmt = critic_format()
    if prompt is None:
        texts = [formats.judge_text(t.instruction, x, a) for t, x, a in cases]
    else:
        texts = [formats.case_text(t.instruction, x, a) for t, x, a in cases]
    traces = [fmt.passing_trace(t.name, x, a) for t, x, a in cases]
    marks = step_logprobs(lm, prompt, texts, traces, fmt)
    return [math.exp(sum(m)) for m in marks]


def critic_prf(
    lm: PromptedLM,
    cases: Sequence[tuple[Task, str, str]],
    prompt: SoftPrompt | None,
    threshold: float = 0.5,
) -> dict:
    """The critic's precision / recall / F1 / AUC at catching the wrong answers among `cases`."""
    probs = pass_probabilities(lm, cases, prompt)
    return probs_prf(probs, [not t.check(x, a) for t, x, a in cases], threshold)


def probs_prf(probs: Sequence[float], wrong: Sequence[bool], threshold: float) -> dict:
    """`critic_prf` from pass probabilities already read: flagged below `threshold`."""
    return {**prf([p < threshold for p in probs], wrong), "auc": auc([-p for p in probs], wrong)}


def loop_critic_flags(
    lm: FrozenLM,
    cases: Sequence[tuple[Task, str, str]],
    critique: SoftPrompt,
    task_prompts: Mapping[str, SoftPrompt],
    config: LoopConfig,
) -> tuple[list[bool], str]:
    """Whether the loop's default critic fails each case, in the order of `cases`; its name.

    That critic is what `agent.graph` builds when it is given none (`learned_critic`), with the
    reference world's critique format.
    """
    config = config.model_copy(update={"task_labels": {t.name: t.instruction for t, _, _ in cases}})
    flags = [False] * len(cases)
    name = ""
    for task, prompt in task_prompts.items():
        rows = [i for i, (t, _, _) in enumerate(cases) if t.name == task]
        critic = learned_critic(lm, prompt, critique, config, fmt=critic_format())
        assert critic is not None
        name = critic.name.replace(f"{prompt.manifest.name}@", "TASK@")
        for s in range(0, len(rows), CHUNK):
            chunk = rows[s : s + CHUNK]
            requests = [
                CritiqueRequest(task=task, input=cases[i][1], answer=cases[i][2]) for i in chunk
            ]
            for i, verdict in zip(chunk, critic.critique_batch(requests), strict=True):
                flags[i] = not verdict.passed
    return flags, name


def flags_prf(cases: Sequence[tuple[Task, str, str]], flags: Sequence[bool]) -> dict:
    """`prf` of a critic's flags over all `cases`, with the same per task under `per_task`."""
    wrong = [not t.check(x, a) for t, x, a in cases]
    out: dict = prf(flags, wrong)
    out["per_task"] = {
        name: prf(
            [f for f, c in zip(flags, cases, strict=True) if c[0].name == name],
            [w for w, c in zip(wrong, cases, strict=True) if c[0].name == name],
        )
        for name in dict.fromkeys(t.name for t, _, _ in cases)
    }
    return out
