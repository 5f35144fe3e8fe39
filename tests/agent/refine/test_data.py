"""From stored runs to training rows: what is trusted, what is held out, what is weighted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from softloop.agent.refine import RefineConfig, critique_dataset, task_dataset
from softloop.agent.store import AttemptRecord, CritiqueRecord, RunRecord, Store
from softloop.critics import CriticFormat

LONG_AGO = datetime.now(UTC) - timedelta(days=1)


def record(
    store: Store, n: int, outputs: list[str], passed: bool, verdicts: list[str], input: str = "abc"
):
    run = RunRecord(
        id=uuid.UUID(int=n),
        task="reverse",
        input=input,
        final_output=outputs[-1],
        status="passed" if passed else "gave_up",
        attempts=[
            AttemptRecord(
                round=i + 1,
                output=o,
                critiques=[CritiqueRecord(critic="c", verdict=v, score=0.5, feedback="f")],
            )
            for i, (o, v) in enumerate(zip(outputs, verdicts, strict=True))
        ],
    )
    return store.record_run(run)


def test_task_rows_trust_labels_fully_and_critic_passes_partly(store) -> None:
    config = RefineConfig(critic_trust=0.5, holdout_fraction=0.0)
    record(store, 1, ["cba"], True, ["pass"])  # critic-passed only
    labelled = record(store, 2, ["xyz", "abc"], True, ["fail", "pass"])
    store.add_label(labelled, False, answer="cba", source="human")  # the critic was wrong
    record(store, 3, ["q"], False, ["fail"])  # gave up, nothing known: not a row
    rows = task_dataset(store.iter_runs(task="reverse"), LONG_AGO, config)
    got = sorted((e.output, e.weight) for e in rows.train)
    assert got == [("cba", 0.5), ("cba", 1.0)]
    assert rows.new_rows == 2
    assert (
        task_dataset(store.iter_runs(), LONG_AGO, config.model_copy(update={"critic_trust": 0.0}))
        .train[0]
        .weight
        == 1.0
    )


def test_critique_rows_come_only_from_confirmed_verdicts(store) -> None:
    config = RefineConfig(holdout_fraction=0.0, wrong_weight=3.0, missed_weight=2.0)
    fmt = CriticFormat(task_labels={"reverse": "rev"})
    run = record(store, 1, ["xyz", "abc"], True, ["fail", "pass"])
    store.add_label(run, False, answer="cba", source="oracle")
    record(store, 2, ["cba"], True, ["pass"])  # no label: the critic's word alone, not a row
    rows = critique_dataset(
        store.iter_runs(), LONG_AGO, config, fmt, hint=lambda t, i, a: f"not {a}"
    )
    by_input = {e.input: e for e in rows.train}
    assert set(by_input) == {"rev:abc=xyz", "rev:abc=abc"}
    caught = by_input["rev:abc=xyz"]
    missed = by_input["rev:abc=abc"]  # the critic passed a wrong answer
    assert caught.output == "no:not xyz" and caught.weight == 3.0
    assert missed.output == "no:not abc" and missed.weight == 6.0


def test_critique_rows_mark_each_step_where_the_task_can_say_which_failed(store) -> None:
    config = RefineConfig(holdout_fraction=0.0, wrong_weight=3.0, missed_weight=2.0)
    fmt = CriticFormat(
        task_labels={"reverse": "rev"}, pass_mark="+", fail_mark="-", claims=lambda t, i, a: list(a)
    )

    def steps(task: str, input: str, answer: str) -> list[tuple[str, bool]]:
        return [(c, c == r) for c, r in zip(answer, input[::-1], strict=False)]

    run = record(store, 1, ["cbx", "cba"], True, ["fail", "pass"])
    store.add_label(run, True, source="oracle")
    rows = critique_dataset(store.iter_runs(), LONG_AGO, config, fmt, steps=steps)
    by_input = {e.input: e for e in rows.train}
    assert by_input["rev:abc=cbx"].output == "c+ b+ x-"
    assert by_input["rev:abc=cba"].output == "c+ b+ a+"
    assert fmt.passing_of(by_input["rev:abc=cbx"].output) == "c+ b+ x+"


def test_a_checker_judges_every_attempt_of_a_labelled_run_where_many_answers_are_right(
    store,
) -> None:
    # Two right answers: a label's answer cannot say the other attempt was right; a checker can.
    config = RefineConfig(holdout_fraction=0.0)
    run = record(store, 1, ["ab", "ba"], True, ["fail", "pass"])
    store.add_label(run, True, source="oracle")

    def check(task: str, input: str, answer: str) -> bool:
        return sorted(answer) == ["a", "b"]

    plain = critique_dataset(store.iter_runs(), LONG_AGO, config)
    checked = critique_dataset(store.iter_runs(), LONG_AGO, config, check=check)
    assert sorted(e.output for e in plain.train) == ["no:wrong", "yes"]
    assert sorted(e.output for e in checked.train) == ["yes", "yes"]


def test_labelled_runs_are_split_into_holdout_by_request(store) -> None:
    config = RefineConfig(holdout_fraction=0.5)
    inputs = [f"in{n}" for n in range(40)]
    for n, text in enumerate(inputs * 2):  # every input asked twice, by two runs
        run = record(store, n + 10, [text[::-1]], True, ["pass"], input=text)
        store.add_label(run, True, source="oracle")
    rows = task_dataset(store.iter_runs(), LONG_AGO, config)
    held, trained = {e.input for e in rows.holdout}, {e.input for e in rows.train}
    assert 4 <= len(held) <= 36 and held | trained == set(inputs)
    assert not held & trained  # an input is never both held out and trained on
    assert len(rows.holdout) == 2 * len(held)


def test_rows_do_not_depend_on_the_order_runs_were_stored(store, tmp_path) -> None:
    config = RefineConfig(holdout_fraction=0.3)
    inputs = [f"in{n}" for n in range(30)]
    other = Store(f"sqlite:///{tmp_path / 'reversed.db'}", auto_upgrade=True)
    for target, order in ((store, inputs), (other, inputs[::-1])):
        for n, text in enumerate(order):
            run = record(target, 1000 + n, [text[::-1]], True, ["pass"], input=text)
            target.add_label(run, True, answer=text[::-1], source="oracle")
    a = task_dataset(store.iter_runs(), LONG_AGO, config)
    b = task_dataset(other.iter_runs(), LONG_AGO, config)
    other.close()
    assert a.train == b.train and a.holdout == b.holdout
    assert [e.input for e in a.train] == sorted(e.input for e in a.train)


def _known_passes(store: Store, start: int, right: int, wrong: int) -> None:
    """Labelled runs the critic passed: `right` of them right, `wrong` of them wrong."""
    for n in range(right + wrong):
        ok = n < right
        run = record(store, start + n, ["cba" if ok else "bca"], True, ["pass"])
        store.add_label(run, ok, answer="cba", source="oracle")


def test_auto_trust_leaves_out_passes_of_an_imprecise_critic(store) -> None:
    config = RefineConfig(holdout_fraction=0.0, min_trust_evidence=10, min_critic_precision=0.9)
    _known_passes(store, 100, right=6, wrong=6)  # passes right half the time
    record(store, 1, ["zzz"], True, ["pass"])  # the critic's word alone
    rows = task_dataset(store.iter_runs(), LONG_AGO, config)
    assert rows.critic_precision == 0.5 and rows.critic_evidence == 12
    assert rows.critic_weight == 0.0
    assert "zzz" not in {e.output for e in rows.train}


def test_auto_trust_weighs_passes_of_a_precise_critic_by_its_precision(store) -> None:
    config = RefineConfig(holdout_fraction=0.0, min_trust_evidence=10, min_critic_precision=0.9)
    _known_passes(store, 100, right=19, wrong=1)
    record(store, 1, ["zzz"], True, ["pass"])
    rows = task_dataset(store.iter_runs(), LONG_AGO, config)
    assert rows.critic_weight == rows.critic_precision == 0.95
    assert ("zzz", 0.95) in {(e.output, e.weight) for e in rows.train}


def test_auto_trust_waits_for_enough_evidence(store) -> None:
    config = RefineConfig(holdout_fraction=0.0, min_trust_evidence=10)
    _known_passes(store, 100, right=5, wrong=0)  # precise, but only 5 known answers
    record(store, 1, ["zzz"], True, ["pass"])
    rows = task_dataset(store.iter_runs(), LONG_AGO, config)
    assert rows.critic_precision == 1.0 and rows.critic_weight == 0.0
