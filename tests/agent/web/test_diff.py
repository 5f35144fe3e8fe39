"""The attempt diff: segments that rebuild both texts, by character, by line when long."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from softloop.agent.web.diff import CHAR_DIFF_LIMIT, Segment, diff_texts


@given(st.text(max_size=60), st.text(max_size=60))
def test_segments_rebuild_both_texts(old: str, new: str) -> None:
    diff = diff_texts(old, new)
    assert diff.old() == old and diff.new() == new
    assert diff.changed == (old != new)
    # Neighbouring segments never share an operation (they would have been merged).
    ops = [s.op for s in diff.segments]
    assert all(a != b for a, b in itertools.pairwise(ops))


def test_a_one_letter_fix_is_one_letter() -> None:
    diff = diff_texts("dessertz", "desserts")
    assert diff.by == "character"
    assert diff.segments == (
        Segment("equal", "dessert"),
        Segment("delete", "z"),
        Segment("insert", "s"),
    )


def test_identical_attempts_have_no_change() -> None:
    assert not diff_texts("same", "same").changed
    assert diff_texts("", "").segments == ()


def test_very_long_answers_are_diffed_by_line() -> None:
    old = "".join(f"line {i}\n" for i in range(CHAR_DIFF_LIMIT // 8))
    new = old.replace("line 7\n", "line seven\n")
    diff = diff_texts(old, new)
    assert diff.by == "line" and diff.old() == old and diff.new() == new
    assert [s for s in diff.segments if s.op != "equal"] == [
        Segment("delete", "line 7\n"),
        Segment("insert", "line seven\n"),
    ]
