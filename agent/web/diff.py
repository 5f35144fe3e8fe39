"""What changed between two attempts, as segments a template can mark up.

Revisions are usually small edits of the previous answer (a letter swapped, a digit dropped), so
the diff is by character: that is what a reviewer needs to see. Segments carry plain text and the
template escapes it, so model output can never become markup.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Op = Literal["equal", "insert", "delete"]

# Character diffs cost about the product of the lengths; past this many characters in all, the
# diff goes by line so that one long answer cannot stall the page.
CHAR_DIFF_LIMIT = 20_000


@dataclass(frozen=True)
class Segment:
    """A run of text that both attempts share, or that only the new one (insert) or only the
    old one (delete) has."""

    op: Op
    text: str


@dataclass(frozen=True)
class AttemptDiff:
    """The diff from one attempt's output to the next one's."""

    segments: tuple[Segment, ...]
    by: Literal["character", "line"]

    @property
    def changed(self) -> bool:
        return any(s.op != "equal" for s in self.segments)

    def old(self) -> str:
        """The earlier text, rebuilt from the segments."""
        return "".join(s.text for s in self.segments if s.op != "insert")

    def new(self) -> str:
        """The later text, rebuilt from the segments."""
        return "".join(s.text for s in self.segments if s.op != "delete")


def diff_texts(old: str, new: str) -> AttemptDiff:
    """Character diff of `old` -> `new` (by line when both together are very long)."""
    by: Literal["character", "line"] = "character"
    a: list[str] = list(old)
    b: list[str] = list(new)
    if len(old) + len(new) > CHAR_DIFF_LIMIT:
        by, a, b = "line", old.splitlines(keepends=True), new.splitlines(keepends=True)
    segments: list[Segment] = []

    def add(op: Op, parts: list[str]) -> None:
        text = "".join(parts)
        if not text:
            return
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", a[i1:i2])
        else:  # replace is a deletion followed by an insertion
            add("delete", a[i1:i2])
            add("insert", b[j1:j2])
    return AttemptDiff(tuple(segments), by)


__all__ = ["CHAR_DIFF_LIMIT", "AttemptDiff", "Segment", "diff_texts"]
