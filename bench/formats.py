"""The text formats of the reference world — one place, used by every reader and writer.

The base model was pre-trained on exactly these strings (BOS first, EOS after the target):

| ability | text the model reads                        | target it writes          |
|---------|---------------------------------------------|---------------------------|
| solve   | `{instr}:{input}=`                          | `{answer}`                |
| judge   | `chk {instr}:{input}={answer}?`             | `{check trace}`           |
| revise  | `fix {instr}:{input}={answer}!{feedback}>`  | `{corrected answer}`      |

A check trace lists the answer's steps (`bench.steps.Step`), each claim followed by its mark:
`a+ ab+ bd- d+` says the walk starts right, `ab` is an edge, `bd` is not, and it ends right. A
judge writes a mark after reading the claim it marks, so every mark is one lookup. To score an
answer, a critic reads the *passing* trace of that answer (every mark `+`) and takes the
probability of each `+` where it stands: the answer passes when every step does.

`{instr}` is the task's short text instruction (`Task.instruction`, e.g. `pth`). A soft prompt
replaces the instruction *words*, so its template keeps only the punctuation that follows them:

- a task prompt is fed the raw input with template `{input}=`;
- the critique prompt is fed `{instr}:{input}={answer}` with template `{input}?` (it replaces
  `chk `); the task is still named, because one critique prompt serves every task;
- the revise prompt is fed `{instr}:{input}={answer}!{feedback}` with template `{input}>`
  (it replaces `fix `).

Marks and separators are single characters of the reference tokenizer (`bench.tokenizer`) and
claims are letters and digits, so a mark's position in a trace is unambiguous. A claim that two
nodes are joined (`bd`) is one token, the same token as that edge in the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from softloop.bench.steps import Step

PASS_MARK = "+"
FAIL_MARK = "-"
STEP_SEP = " "

TASK_TEMPLATE = "{input}="
CRITIQUE_TEMPLATE = "{input}?"
REVISE_TEMPLATE = "{input}>"
CRITIQUE_INSTRUCTION = "chk "
REVISE_INSTRUCTION = "fix "


def solve_text(instr: str, input: str) -> str:
    """`pth:a d;ab bd=` — the text-instructed solve query."""
    return f"{instr}:{input}="


def case_text(instr: str, input: str, answer: str) -> str:
    """`pth:a d;ab bd=abd` — a task, input and proposed answer: what the critique prompt reads."""
    return f"{instr}:{input}={answer}"


def judge_text(instr: str, input: str, answer: str) -> str:
    """`chk pth:a d;ab bd=abd?` — the text-instructed judge query."""
    return f"{CRITIQUE_INSTRUCTION}{case_text(instr, input, answer)}?"


def check_trace(steps: Iterable[Step]) -> str:
    """`a+ ab+ bd- d+` — the judge's target: each claim with its mark."""
    return STEP_SEP.join(s.claim + (PASS_MARK if s.ok else FAIL_MARK) for s in steps)


def passing_trace(claims: Sequence[str]) -> str:
    """The trace of an answer whose every step holds: what a critic scores."""
    return STEP_SEP.join(c + PASS_MARK for c in claims)


def revise_case_text(instr: str, input: str, answer: str, feedback: str) -> str:
    """`pth:a d;ab bd=acd!no ac` — what the revise prompt reads."""
    return f"{case_text(instr, input, answer)}!{feedback}"


def revise_text(instr: str, input: str, answer: str, feedback: str) -> str:
    """`fix pth:a d;ab bd=acd!no ac>` — the text-instructed revise query."""
    return f"{REVISE_INSTRUCTION}{revise_case_text(instr, input, answer, feedback)}>"
