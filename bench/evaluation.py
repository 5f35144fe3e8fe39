"""Measuring the reference world through `prompts.FrozenLM`: solve accuracy and critic quality.

Shared by the default-prompt trainer (`bench.train_prompts`) and the benchmark
(`bench.reference`), so that what a prompt was selected on and what it is reported on are
computed the same way.

Three ways to ask the model to solve a task:
- `text`: the pre-training instruction, `rev:abc=`;
- `none`: no instruction, `abc=`;
- `soft`: the task soft prompt with template `{input}=`.

The critic's verdict is P(`n`) > P(`y`) for the first token after the judge query, under the
critique soft prompt (`{instr}:{input}={answer}` + template `{input}?`) or, with no prompt, the
text instruction (`chk ...?`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from softloop.agent.graph import LoopConfig
from softloop.agent.graph.nodes import learned_critic
from softloop.agent.refine.evaluate import verdict_scores
from softloop.bench import formats
from softloop.bench.tasks import Task
from softloop.critics import CritiqueRequest

if TYPE_CHECKING:
    from softloop.prompts import FrozenLM, SoftPrompt

MAX_NEW_TOKENS = 24  # the longest reference answer is 17 characters
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
    cases = []
    for k, t in enumerate(temperatures):
        cases += zip(
            inputs,
            answers(lm, task, inputs, "text", temperature=t, seed=seed + 1000 * k),
            strict=True,
        )
    return cases


@torch.no_grad()
def p_wrong(
    lm: FrozenLM, cases: Sequence[tuple[Task, str, str]], prompt: SoftPrompt | None
) -> torch.Tensor:
    """P(`n`) - P(`y`) sign-compatible score per case: log P(n) - log P(y), `(N,)`."""
    y_id, n_id = lm.tokenizer.convert_tokens_to_ids([formats.YES_TOKEN, formats.NO_TOKEN])
    if prompt is None:
        queries = [formats.judge_text(t.instruction, x, a) for t, x, a in cases]
    else:
        queries = [formats.case_text(t.instruction, x, a) for t, x, a in cases]
    out = []
    for s in range(0, len(queries), CHUNK):
        logits = lm.logits(queries[s : s + CHUNK], prompt)[:, -1]  # (B, V) rows are left-padded
        out.append(logits[:, n_id] - logits[:, y_id])
    return torch.cat(out) if out else torch.empty(0)


def critic_prf(
    lm: FrozenLM, cases: Sequence[tuple[Task, str, str]], prompt: SoftPrompt | None
) -> dict:
    """The critic's precision / recall / F1 at catching the wrong answers among `cases`."""
    return prf(critic_flags(lm, cases, prompt), [not t.check(x, a) for t, x, a in cases])


def critic_flags(
    lm: FrozenLM, cases: Sequence[tuple[Task, str, str]], prompt: SoftPrompt | None
) -> list[bool]:
    """Whether the critic (critique prompt, or the text judge) flags each case as wrong."""
    return (p_wrong(lm, cases, prompt) > 0).tolist()


def loop_critic_flags(
    lm: FrozenLM,
    cases: Sequence[tuple[Task, str, str]],
    critique: SoftPrompt,
    task_prompts: Mapping[str, SoftPrompt],
    config: LoopConfig,
) -> tuple[list[bool], str]:
    """Whether the loop's default critic fails each case, in the order of `cases`; its name.

    That critic is what `agent.graph` builds when it is given none (`learned_critic`): the task
    prompt's confidence in the answer, then the critique prompt if its recorded balanced
    accuracy clears `config.min_critique_balanced_acc`.
    """
    config = config.model_copy(update={"task_labels": {t.name: t.instruction for t, _, _ in cases}})
    flags = [False] * len(cases)
    name = ""
    for task, prompt in task_prompts.items():
        rows = [i for i, (t, _, _) in enumerate(cases) if t.name == task]
        critic = learned_critic(lm, prompt, critique, config)
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
