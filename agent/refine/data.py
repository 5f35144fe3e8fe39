"""From stored runs to training and evaluation examples.

What the store knows about an answer, most trusted first:
1. a label (human or oracle) on the run: says whether the final answer was right, and may give
   the right answer; with a right answer known, every attempt of the run is known right or wrong;
2. the oracle truth the loop stored on an attempt (tasks with an exact checker);
3. the critic's verdict alone: a run that passed is probably right (weighted by `critic_trust`;
   with "auto", by the critic's pass precision measured on the answers whose truth is known,
   and only when that is high enough — see `critic_weight`).

Task prompts learn (input → known right answer). The critique prompt learns (input, answer →
check trace) only where the truth is confirmed by 1 or 2, because training the critic on its own
verdicts would teach it nothing; rows it got wrong are up-weighted. Where a task can say which
step of an answer fails (`StepsFn`), the trace marks each step; otherwise one verdict.

Where many answers are right, a label's answer cannot say whether another attempt was right;
a `CheckFn` (the task's exact checker, as a reviewer would apply it) judges each attempt of a
labelled run instead.

Labelled runs are split by a hash of their request (task and input): a fixed
`holdout_fraction` of them is never trained on and joins the evaluation set. Hashing the request,
not the run, keeps an input asked twice on one side of the split (a held-out answer that was
also trained on measures nothing), and makes the split the same on every replay of the same
traffic. For the same reason the rows come out in one canonical order, not in the order the runs
reached the store, which concurrent writers shuffle: the same feedback trains the same prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from softloop.agent.refine.config import RefineConfig
from softloop.agent.store import AttemptView, RunDetail
from softloop.critics import CriticFormat
from softloop.prompts import Example

# task, input, wrong answer -> a short hint of what is wrong (the critique prompt's `no:<hint>`)
HintFn = Callable[[str, str, str], str]
# task, input, answer -> each claim with whether it holds; None where the task has no steps
StepsFn = Callable[[str, str, str], Sequence[tuple[str, bool]] | None]
# task, input, answer -> right?, None where the task has no checker
CheckFn = Callable[[str, str, str], bool | None]


@dataclass
class Dataset:
    train: list[Example] = field(default_factory=list)
    holdout: list[Example] = field(default_factory=list)
    new_rows: int = 0  # rows from feedback newer than the active version
    critic_weight: float = 0.0  # what a critic-passed answer weighed
    critic_precision: float | None = None  # right share of known answers the critic passed
    critic_evidence: int = 0  # how many known answers that share rests on


def in_holdout(run: RunDetail, fraction: float) -> bool:
    """Whether the run's request belongs to the held-out `fraction` (by a hash of task + input)."""
    digest = hashlib.sha256(f"{run.task}\x00{run.input}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def _canonical(data: Dataset, limit: int) -> Dataset:
    """Keep the newest `limit` training rows (runs arrive newest first), then sort both sides."""
    data.train = sorted(data.train[:limit], key=_row_key)
    data.holdout = sorted(data.holdout, key=_row_key)
    return data


def _row_key(example: Example) -> tuple[str, str, float]:
    return example.input, example.output, example.weight


def _truth(
    run: RunDetail, use_oracle: bool, check: CheckFn | None = None
) -> tuple[str | None, dict[int, bool], bool, datetime]:
    """(right answer if known, round → known correctness, labelled?, when the truth arrived)."""
    known: dict[int, bool] = {}
    when = run.created_at
    answer = None
    labelled = bool(run.labels)
    if labelled:
        label = max(run.labels, key=lambda lb: lb.created_at)
        when = label.created_at
        final_round = next(
            (a.round for a in reversed(run.attempts) if a.output == run.final_output), None
        )
        if label.correct:
            answer = label.answer or run.final_output
        elif label.answer:
            answer = label.answer
        checked = (
            {a.round: check(run.task, run.input, a.output) for a in run.attempts}
            if (check is not None)
            else {}
        )
        if checked and all(v is not None for v in checked.values()):
            known = {r: bool(v) for r, v in checked.items()}
        elif answer is not None:
            known = {a.round: a.output == answer for a in run.attempts}
        elif final_round is not None:
            known = {final_round: False}
    if use_oracle:
        for a in run.attempts:
            if a.oracle_correct is not None and a.round not in known:
                known[a.round] = a.oracle_correct
                if a.oracle_correct and answer is None:
                    answer = a.output
    return answer, known, labelled, when


def _critic_passed(attempt: AttemptView) -> bool | None:
    """The critic's last verdict on an attempt (None if it was never judged)."""
    return attempt.critiques[-1].verdict == "pass" if attempt.critiques else None


def critic_pass_precision(
    truths: Iterable[tuple[RunDetail, dict[int, bool]]],
) -> tuple[float | None, int]:
    """(share of right answers among the known answers the critic passed, how many were known).

    truths: each run with its round → known correctness (from `_truth`).
    """
    right = known_passed = 0
    for run, known in truths:
        for attempt in run.attempts:
            correct = known.get(attempt.round)
            if correct is not None and _critic_passed(attempt):
                known_passed += 1
                right += correct
    return (right / known_passed if known_passed else None), known_passed


def critic_weight(config: RefineConfig, precision: float | None, evidence: int) -> float:
    """The weight of a critic-passed answer: fixed, or earned by measured precision."""
    if config.critic_trust != "auto":
        return config.critic_trust
    if precision is None or evidence < config.min_trust_evidence:
        return 0.0
    return precision if precision >= config.min_critic_precision else 0.0


def task_dataset(
    runs: Iterable[RunDetail], since: datetime, config: RefineConfig, check: CheckFn | None = None
) -> Dataset:
    """(input → right answer) rows for one task's prompt."""
    truths = [(run, _truth(run, config.use_attempt_oracle, check)) for run in runs]
    data = Dataset()
    data.critic_precision, data.critic_evidence = critic_pass_precision(
        (run, truth[1]) for run, truth in truths
    )
    data.critic_weight = critic_weight(config, data.critic_precision, data.critic_evidence)
    for run, (answer, _, labelled, when) in truths:
        weight = 1.0
        if answer is None and run.status == "passed" and run.final_output is not None:
            answer, weight, when = run.final_output, data.critic_weight, run.created_at
        if answer is None or weight <= 0:
            continue
        example = Example(input=run.input, output=answer, weight=weight)
        if labelled and in_holdout(run, config.holdout_fraction):
            data.holdout.append(example)
            continue
        data.train.append(example)
        data.new_rows += when > since
    return _canonical(data, config.max_examples)


def critique_dataset(
    runs: Iterable[RunDetail],
    since: datetime,
    config: RefineConfig,
    fmt: CriticFormat | None = None,
    hint: HintFn | None = None,
    steps: StepsFn | None = None,
    check: CheckFn | None = None,
) -> Dataset:
    """(task, input, answer → check trace) rows whose truth a label or oracle confirms."""
    fmt = fmt or CriticFormat()
    data = Dataset()
    for run in runs:
        _, known, labelled, when = _truth(run, config.use_attempt_oracle, check)
        holdout = labelled and in_holdout(run, config.holdout_fraction)
        for attempt in run.attempts:
            correct = known.get(attempt.round)
            if correct is None:
                continue
            example = critique_example(
                run.task, run.input, attempt.output, correct, fmt, hint, config, steps
            )
            said_pass = _critic_passed(attempt)
            if said_pass is not None and said_pass != correct:
                # The critic's own mistakes teach it most.
                example = replace(example, weight=example.weight * config.missed_weight)
            if holdout:
                data.holdout.append(example)
            else:
                data.train.append(example)
                data.new_rows += when > since
    return _canonical(data, config.max_examples)


def critique_example(
    task: str,
    input: str,
    answer: str,
    correct: bool,
    fmt: CriticFormat,
    hint: HintFn | None,
    config: RefineConfig,
    steps: StepsFn | None = None,
) -> Example:
    text = fmt.render_parts(task, input, answer)
    known = steps(task, input, answer) if steps is not None else None
    if known is not None and all(ok for _, ok in known) != correct:
        known = None  # the steps disagree with the label: trust the label, one verdict
    note = "" if correct else (hint(task, input, answer) if hint else "wrong")
    target = fmt.target(known, correct, note)
    return Example(input=text, output=target, weight=1.0 if correct else config.wrong_weight)
