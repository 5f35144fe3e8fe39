"""Programmatic critics and their composition: exact, no model needed."""

import pytest
from pydantic import BaseModel

from softloop.critics import (
    AllOf,
    Critic,
    Critique,
    CritiqueRequest,
    OracleCritic,
    PredicateCritic,
    RegexCritic,
    SchemaCritic,
    WeightedScore,
)


def req(answer: str, task: str = "t", input: str = "x") -> CritiqueRequest:
    return CritiqueRequest(task=task, input=input, answer=answer)


def test_predicate_critic_passes_and_fails_with_feedback() -> None:
    critic = PredicateCritic(lambda t, i, a: (a == i[::-1], "not reversed"), name="rev")
    ok, bad = critic.critique_batch([req("cba", input="abc"), req("abc", input="abc")])
    assert ok.passed and ok.score == 1.0 and ok.critic == "rev"
    assert not bad.passed and bad.score == 0.0 and bad.feedback == "not reversed"
    assert isinstance(critic, Critic)


def test_regex_critic_matches_whole_answer() -> None:
    critic = RegexCritic(r"\d+")
    assert critic.critique("t", "x", "123").passed
    assert not critic.critique("t", "x", "123a").passed
    with pytest.raises(ValueError, match="invalid regex"):
        RegexCritic("(")


class Person(BaseModel):
    name: str
    age: int


def test_schema_critic_explains_what_is_wrong() -> None:
    critic = SchemaCritic(Person)
    assert critic.critique("t", "x", '{"name": "a", "age": 3}').passed
    not_json = critic.critique("t", "x", "{name")
    assert not not_json.passed and "not valid JSON" in not_json.feedback
    wrong_type = critic.critique("t", "x", '{"name": "a", "age": "old"}')
    assert not wrong_type.passed and wrong_type.feedback.startswith("age:")


def test_oracle_critic_uses_task_checker_and_hint() -> None:
    critic = OracleCritic({"rev": lambda i, a: a == i[::-1]}, hints={"rev": lambda i, a: "hint"})
    assert critic.critique("rev", "ab", "ba").passed
    assert critic.critique("rev", "ab", "ab").feedback == "hint"
    with pytest.raises(ValueError, match="no checker for task 'sort'"):
        critic.critique("sort", "ab", "ab")


class Counting(PredicateCritic):
    """Counts the rows it is shown, to prove AllOf short-circuits."""

    def __init__(self, check, name):
        super().__init__(check, name=name)
        self.seen = 0

    def critique_batch(self, requests):
        self.seen += len(requests)
        return super().critique_batch(requests)


def test_all_of_stops_at_first_failure_and_keeps_its_feedback() -> None:
    first = Counting(lambda t, i, a: (a.isdigit(), "digits only"), name="digits")
    second = Counting(lambda t, i, a: (len(a) < 3, "too long"), name="short")
    results = AllOf([first, second]).critique_batch([req("12"), req("ab"), req("1234")])
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].feedback == "digits only" and results[2].feedback == "too long"
    assert second.seen == 2  # "ab" never reached the second critic


class Fixed:
    name = "fixed"

    def __init__(self, score: float, feedback: str = ""):
        self.score, self.feedback = score, feedback

    def critique(self, task, input, answer):
        return self.critique_batch([req(answer)])[0]

    def critique_batch(self, requests):
        verdict = "pass" if self.score >= 0.5 else "fail"
        return [
            Critique(verdict=verdict, score=self.score, feedback=self.feedback, critic=self.name)
            for _ in requests
        ]


def test_weighted_score_mixes_scores_and_takes_heaviest_failing_feedback() -> None:
    combo = WeightedScore([Fixed(1.0), Fixed(0.2, "a"), Fixed(0.0, "b")], weights=[1, 1, 2])
    [result] = combo.critique_batch([req("x")])
    assert result.score == pytest.approx((1.0 + 0.2 + 0.0) / 4)
    assert not result.passed and result.feedback == "b"
    with pytest.raises(ValueError, match="one weight per critic"):
        WeightedScore([Fixed(1.0)], weights=[1, 2])


def test_a_geometric_weighted_score_multiplies_the_scores() -> None:
    combo = WeightedScore(
        [Fixed(0.9, "sure"), Fixed(0.4, "doubt")], weights=[1, 0.5], threshold=0.7, mean="geometric"
    )
    [result] = combo.critique_batch([req("x")])
    assert result.score == pytest.approx((0.9 * 0.4**0.5) ** (1 / 1.5))
    assert not result.passed and result.feedback == "doubt"  # the only critic that failed
    [passed] = WeightedScore([Fixed(0.9), Fixed(0.4, "doubt")], weights=[1, 0.1]).critique_batch(
        [req("x")]
    )
    assert passed.passed and passed.feedback == ""  # a passing answer carries no complaint
    [sunk] = WeightedScore([Fixed(1.0), Fixed(0.0)], mean="geometric").critique_batch([req("x")])
    assert sunk.score == pytest.approx(0.0)  # one near-zero score sinks the answer
    with pytest.raises(ValueError, match="geometric"):
        WeightedScore([Fixed(1.0)], mean="harmonic")  # type: ignore[arg-type]


def test_critique_score_is_bounded() -> None:
    with pytest.raises(ValueError):
        Critique(verdict="pass", score=1.5, critic="x")
