"""The reference world's confidence critic words its doubt as the revise prompt was trained."""

from __future__ import annotations

from softloop.bench.world import claim_hint, reference_world
from softloop.critics import Doubt


def doubt(offset: int, answer: str, input: str, token: str = "x") -> Doubt:
    return Doubt(offset, token, "y", 0.1, input=input, answer=answer)


def test_the_hint_names_the_first_step_that_holds_the_doubted_character() -> None:
    # "gsti" from g to i: the model doubted "t"; the step through it is the edge "st".
    assert claim_hint("path", doubt(2, "gsti", "g i;gs gt is st")) == "no st"
    assert claim_hint("sum", doubt(1, "72", "10;976281")) == "no 2"


def test_a_doubted_end_names_the_last_step_and_unknown_cases_fall_back_to_the_position() -> None:
    assert claim_hint("path", doubt(3, "bcg", "b g;bc lg cl", token="")) == "no g"
    assert claim_hint("nope", doubt(1, "ab", "x")) == "at 2"
    assert claim_hint("path", doubt(1, "", "x")) == "at 2"


def test_the_world_hands_it_to_the_loop() -> None:
    assert reference_world().doubt_hint is claim_hint
