"""The text formats of the reference world — one place, used by every reader and writer.

The base model was pre-trained on exactly these strings (BOS first, EOS after the target):

| ability | text the model reads                      | target it writes            |
|---------|-------------------------------------------|-----------------------------|
| solve   | `{instr}:{input}=`                        | `{answer}`                  |
| judge   | `chk {instr}:{input}={answer}?`           | `yes` or `no:{hint}`        |
| revise  | `fix {instr}:{input}={answer}!{feedback}>` | `{corrected answer}`       |

`{instr}` is the task's short text instruction (`Task.instruction`, e.g. `rev`). A soft prompt
replaces the instruction *words*, so its template keeps only the punctuation that follows them:

- a task prompt is fed the raw input with template `{input}=`;
- the critique prompt is fed `{instr}:{input}={answer}` with template `{input}?` (it replaces
  `chk `); the task is still named, because one critique prompt serves every task;
- the revise prompt is fed `{instr}:{input}={answer}!{feedback}` with template `{input}>`
  (it replaces `fix `).

A verdict's first character is `y` or `n`, each one token of the character-level tokenizer, so a
critic can score P(`y`) against P(`n`) from one forward pass.
"""

from __future__ import annotations

YES = "yes"
NO = "no"
YES_TOKEN = "y"  # first token of a "yes" verdict
NO_TOKEN = "n"  # first token of a "no:..." verdict

TASK_TEMPLATE = "{input}="
CRITIQUE_TEMPLATE = "{input}?"
REVISE_TEMPLATE = "{input}>"
CRITIQUE_INSTRUCTION = "chk "
REVISE_INSTRUCTION = "fix "


def solve_text(instr: str, input: str) -> str:
    """`rev:abc=` — the text-instructed solve query."""
    return f"{instr}:{input}="


def case_text(instr: str, input: str, answer: str) -> str:
    """`rev:abc=cba` — a task, input and proposed answer: what the critique prompt reads."""
    return f"{instr}:{input}={answer}"


def judge_text(instr: str, input: str, answer: str) -> str:
    """`chk rev:abc=cba?` — the text-instructed judge query."""
    return f"{CRITIQUE_INSTRUCTION}{case_text(instr, input, answer)}?"


def verdict(ok: bool, hint: str = "") -> str:
    """`yes`, or `no:{hint}` — the judge's target."""
    return YES if ok else f"{NO}:{hint}"


def parse_verdict(text: str) -> tuple[bool, str]:
    """(passed, feedback) from a generated verdict; anything not starting with `y` fails."""
    text = text.strip()
    if text.startswith(YES_TOKEN):
        return True, ""
    _, _, feedback = text.partition(":")
    return False, feedback.strip()


def revise_case_text(instr: str, input: str, answer: str, feedback: str) -> str:
    """`rev:abc=cab!at 1` — what the revise prompt reads."""
    return f"{case_text(instr, input, answer)}!{feedback}"


def revise_text(instr: str, input: str, answer: str, feedback: str) -> str:
    """`fix rev:abc=cab!at 1>` — the text-instructed revise query."""
    return f"{REVISE_INSTRUCTION}{revise_case_text(instr, input, answer, feedback)}>"
