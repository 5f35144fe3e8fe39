"""Refinement on both databases: promote, reject, skip, poisoned feedback, leases, rollback."""

from __future__ import annotations

import random
import threading

from softloop.agent.graph import PromptRef, build_graph
from softloop.agent.refine import EvalSets, RefineConfig, Refiner, task_accuracy
from softloop.critics import PredicateCritic
from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt
from tests.agent.refine.feedback import ANSWER, EVAL, inputs, store_feedback

FAST = RefineConfig(min_new_feedback=10, steps=60, lr=0.1, batch_size=16, holdout_fraction=0.2)


def refiner(store, lm, registry, names=None, **overrides) -> Refiner:
    config = FAST.model_copy(update=overrides)
    sets = EvalSets(tasks={"t": EVAL})
    return Refiner(store, lm, registry, config=config, eval_sets=sets, names=names)


def test_better_candidate_is_promoted_and_used_by_the_next_run(store, lm, registry) -> None:
    store_feedback(store, 40)
    graph = build_graph(lm, registry, critic=PredicateCritic(lambda t, i, a: True))
    before = graph.invoke({"task": "t", "input": "cde"})

    [outcome] = refiner(store, lm, registry).refine_once()
    assert outcome.action == "promoted", outcome.summary()
    assert outcome.candidate_metric > outcome.active_metric
    assert outcome.n_train + outcome.n_eval - len(EVAL) == 40
    active = store.active_version("t")
    assert (active.version, active.parent, active.status) == (2, 1, "active")
    assert active.metrics["accuracy"] == outcome.candidate_metric
    assert store.get_prompt_version("t", 1).status == "retired"

    after = graph.invoke({"task": "t", "input": "cde"})  # same graph object, no restart
    assert before["selection"].task.version == 1 and after["selection"].task.version == 2
    assert after["final_output"] == ANSWER
    [job] = store.list_jobs("t")
    assert job.status == "succeeded"


def test_candidate_not_better_by_margin_is_rejected_and_kept(store, lm, registry) -> None:
    store_feedback(store, 40)
    [outcome] = refiner(store, lm, registry, margin=2.0).refine_once()
    assert outcome.action == "rejected"
    assert store.active_version("t").version == 1
    rejected = store.get_prompt_version("t", 2)
    assert rejected.status == "rejected" and rejected.parent == 1 and rejected.n_examples > 0


def test_too_little_new_feedback_skips_without_training(store, lm, registry) -> None:
    store_feedback(store, 5)
    [outcome] = refiner(store, lm, registry).refine_once()
    assert outcome.action == "skipped" and "not enough feedback" in outcome.reason
    assert [v.version for v in store.list_prompt_versions("t")] == [1]
    assert store.list_jobs("t") == []


def test_poisoned_feedback_is_not_promoted(store, lm, registry) -> None:
    # A good active version, then feedback whose labels were flipped to random answers.
    good = SoftPrompt.from_init(lm, 6, init="vocab", name="t", seed=4)
    train = [Example(input=i, output=ANSWER) for i in inputs(40, seed=7)]
    train_prompt(lm, good, train, config=TrainConfig(steps=300, lr=0.1, progress=False))
    assert task_accuracy(lm, good, EVAL) >= 0.9
    registry.register(good, status="active", parent=1)
    rng = random.Random(0)
    store_feedback(
        store, 80, seed=2, answer=lambda _: "".join(rng.choices("cdefgh", k=3)), label_every=1
    )
    [outcome] = refiner(store, lm, registry, critic_trust=0.0).refine_once()
    assert outcome.action == "rejected", outcome.summary()
    assert outcome.candidate_metric < outcome.active_metric
    assert store.active_version("t").version == 2


def test_rollback_restores_the_previous_version(store, lm, registry) -> None:
    store_feedback(store, 40)
    assert refiner(store, lm, registry).refine_once()[0].action == "promoted"
    store.rollback("t")
    assert store.active_version("t").version == 1
    assert registry.select("t").task.version == 1


def test_a_held_lease_makes_other_refiners_skip(store, lm, registry) -> None:
    store_feedback(store, 40)
    job = store.try_acquire_lease("t", "someone-else", ttl_s=60)
    [outcome] = refiner(store, lm, registry).refine_once()
    assert outcome.action == "skipped" and "lease" in outcome.reason
    store.finish_job(job.id, "abandoned")


def test_two_refiners_at_once_one_trains_one_skips(store, lm, registry) -> None:
    store_feedback(store, 40)
    outcomes = []
    start = threading.Barrier(2)

    def work() -> None:
        r = refiner(store, lm, registry)
        start.wait()
        outcomes.extend(r.refine_once())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    actions = sorted(o.action for o in outcomes)
    assert actions == ["promoted", "skipped"], [o.summary() for o in outcomes]
    assert len(store.list_prompt_versions("t")) == 2


def test_background_refiner_thread_refines_and_stops(store, lm, registry) -> None:
    store_feedback(store, 40)
    r = refiner(store, lm, registry).start(every_s=3600)
    deadline = threading.Event()
    for _ in range(600):
        if store.active_version("t").version == 2:
            break
        deadline.wait(0.1)
    r.stop(timeout=60)
    assert store.active_version("t").version == 2


def test_critique_prompt_is_refined_on_confirmed_verdicts(store, lm, registry) -> None:
    critique = SoftPrompt.from_init(
        lm, 4, init="vocab", name="critique", kind="critique", template="{input}?", seed=5
    )
    registry.register(critique, status="active", metrics={"critic_threshold": 0.123})
    # Half the labelled runs were right ("ab"), half wrong: the critic learns to tell them apart.
    store_feedback(store, 40, answer=lambda text: ANSWER if len(text) % 2 else "cd")
    r = refiner(store, lm, registry, names=["critique"], steps=40)
    [outcome] = r.refine_once()
    assert outcome.action in ("promoted", "rejected"), outcome.summary()
    assert outcome.metric == "critic_balanced_accuracy"
    assert outcome.n_train > 0 and outcome.n_eval > 0
    assert store.get_prompt_version("critique", 2).parent == 1
    # The candidate fitted a threshold of its own; the active version keeps the one recorded
    # with it (and was scored at it).
    active = registry.load(PromptRef(name="critique", version=1))
    assert active.manifest.metrics["critic_threshold"] == 0.123
    candidate = registry.load(PromptRef(name="critique", version=2))
    assert candidate.manifest.metrics["critic_threshold"] != 0.123


def test_gate_rejects_a_better_critic_that_fails_too_many_right_answers() -> None:
    from softloop.agent.refine.refiner import gate

    config = RefineConfig(margin=0.01, max_false_alarm=0.15)
    assert gate(config, 0.50, 0.70, 0.05, 0.10) == (True, "")
    promote, why = gate(config, 0.50, 0.70, 0.05, 0.40)  # better balanced accuracy, more alarms
    assert not promote and "fails 40% of right answers" in why
    assert gate(config, 0.50, 0.70, 0.50, 0.40)[0]  # fewer alarms than the active critic
    assert gate(config, 0.50, 0.505, 0.0, 0.0) == (False, "not better by the margin 0.01")
