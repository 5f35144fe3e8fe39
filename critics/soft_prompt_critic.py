"""The learned critic: the frozen LM, steered by a critique soft prompt, judges an answer.

The verdict comes from probabilities, not from parsing generated text: the model is asked to
continue `{task}:{input}={answer}` under the critique prompt, and the score is
P(pass_text) / (P(pass_text) + P(fail_text)). That makes the score a calibrated-ish number that
can rank several candidate revisions, which string matching cannot. Only for rows judged to fail
is the short feedback generated (`no:<hint>` → `<hint>`), because feedback is what the revise
step needs and generating it costs a decode loop.

Known limitation: the score compares two fixed continuations; a model that answers in other
words (e.g. "correct") must be given matching `pass_text` / `fail_text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from softloop.critics.critique import BatchedCritic, Critique, CritiqueRequest, verdict_of
from softloop.prompts import PromptedLM, SoftPrompt


@dataclass(frozen=True)
class CriticFormat:
    """How a request is shown to the model and what its verdicts look like."""

    # Matches the reference world's judge format `chk {task}:{input}={answer}?` with the soft
    # prompt standing in for `chk ` and the prompt's template supplying the `?`.
    input_format: str = "{task}:{input}={answer}"
    pass_text: str = "yes"
    fail_text: str = "no"
    # The model's fail verdict reads `no:<hint>`; the hint follows this separator.
    feedback_sep: str = ":"
    # Task name → the word the model knows the task by (the reference model says `rev` for
    # `reverse`); names not listed are shown as they are.
    task_labels: Mapping[str, str] = field(default_factory=dict)

    def render(self, r: CritiqueRequest) -> str:
        return self.render_parts(r.task, r.input, r.answer)

    def render_parts(self, task: str, input: str, answer: str) -> str:
        label = self.task_labels.get(task, task)
        return self.input_format.format(task=label, input=input, answer=answer)


@torch.no_grad()
def pass_probability(
    lm: PromptedLM, prompt: SoftPrompt, texts: Sequence[str], fmt: CriticFormat
) -> list[float]:
    """P(pass_text) / (P(pass_text) + P(fail_text)) for already rendered texts; one pass."""
    n = len(texts)
    if n == 0:
        return []
    texts = list(texts)
    logp = lm.score(texts + texts, [fmt.pass_text] * n + [fmt.fail_text] * n, prompt)
    pair = torch.stack([logp[:n], logp[n:]], dim=1).float()  # (n, 2)
    return torch.softmax(pair, dim=1)[:, 0].tolist()


class SoftPromptCritic(BatchedCritic):
    """Judges answers with the frozen LM under a critique soft prompt.

    threshold: the pass probability at or above which an answer passes. Raising it trades
    recall of right answers for precision at catching wrong ones.
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
        self.fmt = fmt or CriticFormat()
        self.with_feedback, self.max_feedback_tokens = with_feedback, max_feedback_tokens
        self.name = name or f"{prompt.manifest.name}@{prompt.manifest.version}"

    def pass_probability(self, requests: Sequence[CritiqueRequest]) -> list[float]:
        """P(pass) for each request, normalised over the two verdicts."""
        texts = [self.fmt.render(r) for r in requests]
        return pass_probability(self.lm, self.prompt, texts, self.fmt)

    def feedback(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        """The model's own explanation of what is wrong (text after `no:`), one per request."""
        if not requests:
            return []
        texts = [self.fmt.render(r) for r in requests]
        out = self.lm.generate(texts, self.prompt, max_new_tokens=self.max_feedback_tokens)
        prefix = self.fmt.fail_text + self.fmt.feedback_sep
        return [o[len(prefix) :].strip() if o.startswith(prefix) else "" for o in out]

    def critique_batch(self, requests: Sequence[CritiqueRequest]) -> list[Critique]:
        if not requests:
            return []
        scores = self.pass_probability(requests)
        verdicts = [verdict_of(s, self.threshold) for s in scores]
        failing = [i for i, v in enumerate(verdicts) if v == "fail"]
        notes: dict[int, str] = {}
        if self.with_feedback and failing:
            hints = self.feedback([requests[i] for i in failing])
            notes = dict(zip(failing, hints, strict=True))
        return [
            Critique(verdict=v, score=s, feedback=notes.get(i, ""), critic=self.name)
            for i, (v, s) in enumerate(zip(verdicts, scores, strict=True))
        ]
