"""A `Step`: one local claim about an answer, and whether it holds.

Every reference task judges an answer as a list of steps; the answer is right exactly when every
step holds. The judge the base model learns writes the same list (`bench.formats.check_trace`),
one mark per step, so each of its marks is a lookup rather than the whole verdict at once.
"""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
    claim: str  # what is checked, in the answer's own letters: `bc` (an edge), `a` (a node)
    ok: bool
