"""The learned critic: the frozen LM, steered by a critique soft prompt, judges an answer.

The model reads `{task}:{input}={answer}` under the critique prompt and writes a *check trace*:
the answer's steps, each followed by a mark (`a+ ab+ bd- d+`), or, for a task with no steps, a
single verdict word (`yes` / `no:<hint>`). Writing one mark per step turns judging into a row
of small lookups a model can learn, where one verdict for the whole answer asks it to do every
check at once in a single position.

The score comes from probabilities, not from parsing generated text: the critic teacher-forces
the *passing* trace (every mark a pass) and reads, at each mark, P(pass) / (P(pass) + P(fail)).
The pass probability of the answer is the product over its steps; it ranks candidate revisions,
and the verdict is that probability against a threshold fitted on labelled answers and stored
with the prompt version (`critic_threshold` in its metrics). One forward pass per batch.

Which steps an answer has comes from the task (`CriticFormat.claims`): claims are read off the
answer and the input (`ab` for the hop from `a` to `b`), never from the truth, so the critic
knows what to check but not the outcome.

The verdict words are part of the critique prompt: a prompt trained to write `Yes` means
nothing when read for `yes`. So a new critique prompt takes words its model writes as one token
each (`default_marks`: `Yes` / `No` for a chat model, whose answers start with a capital), and
records them in its manifest (`record_marks`); whoever builds a critic from the prompt reads
them back (`format_for`; `SoftPromptCritic` does so itself). A prompt that records none was
trained with the format's words.

Known limitation: the verdict words are compared by their first token; a model that answers
in other words must be given matching `pass_mark` / `fail_mark`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from softloop.critics.critique import BatchedCritic, Critique, CritiqueRequest, verdict_of

if TYPE_CHECKING:  # the format is read before any model loads; the critic needs torch then
    from softloop.prompts import PromptedLM, SoftPrompt

# (task, input, answer) -> the claims to check, in order; each must be free of the marks.
ClaimsFn = Callable[[str, str, str], Sequence[str]]
SCORE_BATCH = 64  # rows per forward pass
VERDICT_KEY = "verdict"  # a critique prompt's manifest extra: {"pass": ..., "fail": ...}


@dataclass(frozen=True)
class CriticFormat:
    """How a request is shown to the model and what its check trace looks like."""

    # Matches the reference world's judge format `chk {task}:{input}={answer}?` with the soft
    # prompt standing in for `chk ` and the prompt's template supplying the `?`.
    input_format: str = "{task}:{input}={answer}"
    pass_mark: str = "yes"
    fail_mark: str = "no"
    step_sep: str = " "
    # A single verdict may be followed by a generated hint: `no:<hint>`.
    feedback_sep: str = ":"
    # What the revise step is told about a failed step.
    feedback_format: str = "no {claim}"
    # Task name → the word the model knows the task by (the reference model says `pth` for
    # `path`); names not listed are shown as they are.
    task_labels: Mapping[str, str] = field(default_factory=dict)
    # The steps of an answer; None: one verdict for the whole answer.
    claims: ClaimsFn | None = None

    def render(self, r: CritiqueRequest) -> str:
        return self.render_parts(r.task, r.input, r.answer)

    def render_parts(self, task: str, input: str, answer: str) -> str:
        label = self.task_labels.get(task, task)
        return self.input_format.format(task=label, input=input, answer=answer)

    def claims_of(self, task: str, input: str, answer: str) -> list[str]:
        return [""] if self.claims is None else list(self.claims(task, input, answer)) or [""]

    def passing_trace(self, task: str, input: str, answer: str) -> str:
        """The trace of an answer whose every step holds: what the critic scores."""
        if self.claims is None:
            return self.pass_mark
        claims = self.claims_of(task, input, answer)
        return self.step_sep.join(c + self.pass_mark for c in claims)

    def target(self, steps: Sequence[tuple[str, bool]] | None, correct: bool, hint: str) -> str:
        """What the critique prompt learns to write for one labelled answer.

        steps: each claim with whether it holds, where the task has steps (None otherwise, or
        when only the whole answer's correctness is known: then one verdict).
        """
        if self.claims is not None:
            known = steps if steps else [("", correct)]
            return self.step_sep.join(
                c + (self.pass_mark if ok else self.fail_mark) for c, ok in known
            )
        if correct:
            return self.pass_mark
        return f"{self.fail_mark}{self.feedback_sep}{hint}" if hint else self.fail_mark

    def passing_of(self, target: str) -> str:
        """The passing trace with the same steps as a target trace (claims hold no marks)."""
        if self.claims is None:
            return self.pass_mark
        return target.replace(self.fail_mark, self.pass_mark)

    def is_pass(self, target: str) -> bool:
        """Whether a target trace says the answer is right (no step fails)."""
        if self.claims is None:
            return target.startswith(self.pass_mark)
        return self.fail_mark not in target


def step_logprobs(
    lm: PromptedLM,
    prompt: SoftPrompt | None,
    texts: Sequence[str],
    traces: Sequence[str],
    fmt: CriticFormat,
) -> list[list[float]]:
    """Per row, log P(pass) / (P(pass) + P(fail)) at each pass mark of its passing trace.

    `prompt` None reads the texts as they are (a text-instructed judge).
    """
    pass_id = _first_token(lm, fmt.pass_mark)
    fail_id = _first_token(lm, fmt.fail_mark)
    out: list[list[float]] = []
    for s in range(0, len(texts), SCORE_BATCH):
        chunk_texts = list(texts[s : s + SCORE_BATCH])
        chunk_traces = list(traces[s : s + SCORE_BATCH])
        logp, ids, mask = lm.choice_logprobs(chunk_texts, chunk_traces, prompt, [pass_id, fail_id])
        pair = logp - logp.logsumexp(dim=-1, keepdim=True)  # (B, L, 2) over the two marks
        marks = (ids == pass_id) & mask  # (B, L)
        for b in range(len(chunk_texts)):
            out.append(pair[b, :, 0][marks[b]].tolist())
    return out


def target_marks(fmt: CriticFormat, target: str) -> list[bool]:
    """Whether each step of a target trace passes, in order (claims hold no marks)."""
    if fmt.claims is None:
        return [target.startswith(fmt.pass_mark)]
    marks: list[bool] = []
    i = 0
    while i < len(target):
        if target.startswith(fmt.pass_mark, i):
            marks.append(True)
            i += len(fmt.pass_mark)
        elif target.startswith(fmt.fail_mark, i):
            marks.append(False)
            i += len(fmt.fail_mark)
        else:
            i += 1
    return marks


def mark_loss(fmt: CriticFormat, fail_weight: float = 1.0) -> Callable:
    """A training loss for a critique prompt: each mark of the passing trace against the truth.

    The critic is scored by the marks it puts on the passing trace of an answer (every claim
    teacher-forced, every mark a pass); this loss is the cross-entropy of exactly those marks,
    pass against fail, with the target's marks as labels and failing marks weighted by
    `fail_weight`. Nothing else of the text is learned: the claims are copies, read, not
    written. Pass it as `train_prompt(..., loss=mark_loss(fmt))`.
    """
    import torch

    def loss(lm, prompt: SoftPrompt, batch: Sequence) -> torch.Tensor:
        pass_id, fail_id = _first_token(lm, fmt.pass_mark), _first_token(lm, fmt.fail_mark)
        traces = [fmt.passing_of(e.output) for e in batch]
        logp, ids, mask = lm.choice_logprobs(
            [e.input for e in batch], traces, prompt, [pass_id, fail_id], grad=True
        )
        pair = logp - logp.logsumexp(dim=-1, keepdim=True)  # (B, L, 2)
        at_marks = (ids == pass_id) & mask  # (B, L)
        rows = []
        for b, example in enumerate(batch):
            truth = target_marks(fmt, example.output)
            chosen = pair[b][at_marks[b]]  # (marks, 2)
            n = min(len(truth), chosen.shape[0])
            if n == 0:
                continue
            label = torch.tensor([0 if t else 1 for t in truth[:n]], device=pair.device)
            ce = -chosen[:n].gather(1, label[:, None]).squeeze(1)  # (marks,)
            w = torch.tensor(
                [1.0 if t else fail_weight for t in truth[:n]], device=pair.device
            )
            rows.append(((ce * w).sum() / w.sum(), example.weight))
        if not rows:
            return pair.sum() * 0.0
        total = sum(w for _, w in rows)
        return sum(value * w for value, w in rows) / max(total, 1e-9)

    return loss


def pass_probability(
    lm: PromptedLM, prompt: SoftPrompt, requests: Sequence[CritiqueRequest], fmt: CriticFormat
) -> list[float]:
    """P(every step passes) for each request: the product of its marks' pass probabilities."""
    return [math.exp(sum(m)) for m in _marks(lm, prompt, requests, fmt)[0]]


def _marks(
    lm: PromptedLM, prompt: SoftPrompt, requests: Sequence[CritiqueRequest], fmt: CriticFormat
) -> tuple[list[list[float]], list[list[str]]]:
    claims = [fmt.claims_of(r.task, r.input, r.answer) for r in requests]
    texts = [fmt.render(r) for r in requests]
    traces = [fmt.passing_trace(r.task, r.input, r.answer) for r in requests]
    return step_logprobs(lm, prompt, texts, traces, fmt), claims


def _first_token(lm: PromptedLM, text: str) -> int:
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"verdict mark {text!r} has no tokens in {lm.model_id}'s tokenizer")
    return int(ids[0])


def default_marks(tokenizer: Any) -> tuple[str, str]:
    """The verdict words a new critique prompt for this tokenizer's model learns to write.

    `Yes` / `No` for a model with a chat template (an instruct model answers capitalised),
    `yes` / `no` otherwise, each pair only if both words are one token each and differ; else
    the other pair, else `yes` / `no` compared by their first tokens.
    """
    pairs = [("yes", "no"), ("Yes", "No")]
    if getattr(tokenizer, "chat_template", None):
        pairs.reverse()
    for pass_mark, fail_mark in pairs:
        a = tokenizer(pass_mark, add_special_tokens=False)["input_ids"]
        b = tokenizer(fail_mark, add_special_tokens=False)["input_ids"]
        if len(a) == 1 and len(b) == 1 and a != b:
            return pass_mark, fail_mark
    return "yes", "no"


def record_marks(
    prompt: SoftPrompt, pass_mark: str, fail_mark: str, input_format: str | None = None
) -> None:
    """Store the verdict words a critique prompt was trained with in its manifest, and the
    way it was shown requests where that is not the default (`CriticFormat.input_format`)."""
    found: dict[str, str] = {"pass": pass_mark, "fail": fail_mark}
    if input_format is not None and input_format != CriticFormat.input_format:
        found["input_format"] = input_format
    prompt.manifest.extra[VERDICT_KEY] = found


def recorded_marks(prompt: SoftPrompt) -> tuple[str, str] | None:
    """The verdict words recorded with a critique prompt, if it records any."""
    found = prompt.manifest.extra.get(VERDICT_KEY)
    if not isinstance(found, dict):
        return None
    pass_mark, fail_mark = found.get("pass"), found.get("fail")
    if not (isinstance(pass_mark, str) and isinstance(fail_mark, str) and pass_mark and fail_mark):
        return None
    return pass_mark, fail_mark


def recorded_input_format(prompt: SoftPrompt) -> str | None:
    """The request layout recorded with a critique prompt, if it records one."""
    found = prompt.manifest.extra.get(VERDICT_KEY)
    layout = found.get("input_format") if isinstance(found, dict) else None
    if not isinstance(layout, str):
        return None
    try:
        layout.format(task="t", input="i", answer="a")
    except (KeyError, IndexError, ValueError):
        return None
    return layout


def format_for(prompt: SoftPrompt, fmt: CriticFormat | None = None) -> CriticFormat:
    """`fmt` (default `CriticFormat()`) with the verdict words and request layout the prompt
    records, if any."""
    fmt = fmt or CriticFormat()
    marks, layout = recorded_marks(prompt), recorded_input_format(prompt)
    if marks is not None and marks != (fmt.pass_mark, fmt.fail_mark):
        fmt = replace(fmt, pass_mark=marks[0], fail_mark=marks[1])
    if layout is not None and layout != fmt.input_format:
        fmt = replace(fmt, input_format=layout)
    return fmt


class SoftPromptCritic(BatchedCritic):
    """Judges answers with the frozen LM under a critique soft prompt.

    threshold: the pass probability at or above which an answer passes; fit it on labelled
    answers (`fit_threshold`) and store it with the version. Raising it trades right answers
    passed for wrong ones caught.
    fmt: how requests are shown; the verdict words the prompt records replace the format's.
    """

    def __init__(
        self,
        lm: PromptedLM,
        prompt: SoftPrompt,
        *,
        threshold: float = 0.5,
        fmt: CriticFormat | None = None,
        with_feedback: bool = True,
        max_feedback_tokens: int = 16,
        name: str | None = None,
    ):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.lm, self.prompt, self.threshold = lm, prompt, threshold
        self.fmt = format_for(prompt, fmt)
        self.with_feedback, self.max_feedback_tokens = with_feedback, max_feedback_tokens
        self.name = name or f"{prompt.manifest.name}@{prompt.manifest.version}"

    def pass_probability(self, requests: Sequence[CritiqueRequest]) -> list[float]:
        """P(pass) for each request: the product of its steps' pass probabilities."""
        return pass_probability(self.lm, self.prompt, requests, self.fmt)

    def feedback(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        """The model's own explanation of what is wrong (text after `no:`), one per request."""
        if not requests:
            return []
        texts = [self.fmt.render(r) for r in requests]
        out = self.lm.generate(texts, self.prompt, max_new_tokens=self.max_feedback_tokens)
        prefix = self.fmt.fail_mark + self.fmt.feedback_sep
        return [o[len(prefix) :].strip() if o.startswith(prefix) else "" for o in out]

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        if not requests:
            return []
        marks, claims = _marks(self.lm, self.prompt, requests, self.fmt)
        scores = [math.exp(sum(m)) for m in marks]
        verdicts = [verdict_of(s, self.threshold) for s in scores]
        notes: dict[int, str] = {}
        failing = [i for i, v in enumerate(verdicts) if v == "fail"]
        if self.fmt.claims is not None:
            # The step the critic doubts most is what the revise step is told.
            for i in failing:
                weakest = min(range(len(marks[i])), key=lambda k: marks[i][k], default=0)
                claim = claims[i][weakest] if weakest < len(claims[i]) else ""
                notes[i] = self.fmt.feedback_format.format(claim=claim).strip()
        elif self.with_feedback and failing:
            hints = self.feedback([requests[i] for i in failing])
            notes = dict(zip(failing, hints, strict=True))
        return [
            Critique(verdict=v, score=s, feedback=notes.get(i, ""), critic=self.name)
            for i, (v, s) in enumerate(zip(verdicts, scores, strict=True))
        ]


def fit_threshold(pass_probs: Sequence[float], correct: Sequence[bool]) -> float:
    """The threshold that best separates right from wrong answers (max balanced accuracy).

    Balanced accuracy, not F1: where most answers are wrong, a threshold that fails everything
    has a high F1 and judges nothing. Ties are broken towards the middle of the gap between the
    scores on either side, so a threshold fitted on few answers is not flush against one.
    """
    pairs = sorted(zip(pass_probs, correct, strict=True))
    n_right = sum(correct)
    n_wrong = len(pairs) - n_right
    if not n_right or not n_wrong:
        return 0.5
    best, best_score = 0.5, -1.0
    wrong_below = right_below = 0
    for i in range(len(pairs) + 1):
        if i == len(pairs) or i == 0 or pairs[i][0] != pairs[i - 1][0]:
            score = 0.5 * (wrong_below / n_wrong + (n_right - right_below) / n_right)
            if score > best_score:
                low = pairs[i - 1][0] if i else 0.0
                high = pairs[i][0] if i < len(pairs) else 1.0
                best, best_score = math.sqrt(max(low, 1e-12) * max(high, 1e-12)), score
        if i < len(pairs):
            wrong_below += not pairs[i][1]
            right_below += pairs[i][1]
    return min(max(best, 0.0), 1.0)
