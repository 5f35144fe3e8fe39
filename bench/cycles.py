"""Improvement cycles on the reference world: traffic → store → refine → measure, repeated.

This is the whole mission in one loop, shared by `softloop demo` and
`python -m softloop.bench.improve`:

1. Start from deliberately weak task prompts (a few steps on a handful of examples) and an
   untrained critique prompt, with the shipped revise prompt, registered as the first active
   versions.
2. Each cycle sends traffic (train-split inputs) through the generate → critique → revise
   graph; every run is stored with the critic's verdicts. An oracle labels a small fraction of
   runs (`label_fraction`, standing in for occasional human review); nothing else of the truth
   reaches the store.
3. The refiner retrains each prompt on what was stored and promotes a candidate only if it beats
   the active version on the held-out set.
4. The untouched test split measures the loop: first-attempt accuracy (the task prompt alone),
   final accuracy (after critique and revision), mean rounds, the critic's F1. These runs are
   not stored, so the test split never feeds the refiner.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from softloop.agent.graph import LoopConfig, LoopState
from softloop.agent.refine import RefineConfig, RefineOutcome
from softloop.agent.refine.evaluate import critic_scores
from softloop.agent.setup import open_setup
from softloop.bench import formats
from softloop.bench.evaluation import prf
from softloop.bench.loop import summarise
from softloop.bench.tasks import TASKS
from softloop.bench.world import CRITIQUE, REVISE, default_prompt_path, reference_world
from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt

CHUNK = 24  # requests per graph.batch call
CONCURRENCY = 4  # threads per batch; more only adds contention on a 2-core machine


class CycleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cycles: int = Field(default=5, ge=1)
    requests_per_cycle: int = Field(default=360, ge=1, description="Traffic per cycle.")
    tasks: tuple[str, ...] = tuple(TASKS)
    eval_per_task: int = Field(default=50, ge=1, description="Test inputs per task, per cycle.")
    label_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    weak_examples: int = Field(default=8, ge=1, description="Examples the weak prompts saw.")
    # A few examples and steps from random init: weak enough to leave room, strong enough to
    # give near-misses the revise step can fix (from nothing the loop has nothing to build on).
    weak_steps: int = Field(default=120, ge=1)
    # Where the critique prompt starts. "weak" (as the task prompts start weak): vocabulary rows,
    # untrained, which do not yet point the model at its judge, so that the refiner has a critic
    # to build from the stored feedback; "text": the words `chk ` as embeddings, the base model's
    # own judge untuned; "shipped": the tuned default.
    critique_start: Literal["weak", "text", "shipped"] = "weak"
    max_rounds: int = Field(default=3, ge=1)
    refine: RefineConfig = RefineConfig(min_new_feedback=4, steps=120, lr=2e-2)
    seed: int = 0


class CycleRow(BaseModel):
    cycle: int
    first_attempt_acc: float
    final_acc: float
    mean_rounds: float
    critic_f1: float
    # The critic's F1 at catching wrong answers among this cycle's traffic (the oracle judges
    # them here, for the report; the store never sees that truth).
    traffic_critic_f1: float | None = None
    critic: str = ""  # which critic judged the traffic
    promoted: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    # Task → first-attempt accuracy on its test inputs.
    per_task: dict[str, float] = Field(default_factory=dict)
    # Task → the weight the refiner gave the critic's passes this cycle (0: not trusted).
    critic_trust: dict[str, float] = Field(default_factory=dict)
    runs_stored: int = 0
    seconds: float = 0.0


class Cycles:
    """The reference world wired for improvement cycles on one store and prompt root."""

    def __init__(self, db_url: str, home: Path, config: CycleConfig, progress: bool = True):
        self.config, self.progress = config, progress
        # The shipped revise prompt; the task prompts (and by default the critique prompt)
        # start weak (`prepare`).
        shipped = (CRITIQUE, REVISE) if config.critique_start == "shipped" else (REVISE,)
        self.setup = open_setup(
            db_url=db_url,
            home=home,
            world=reference_world(),
            defaults=shipped,
            auto_upgrade=True,
        )
        self.lm, self.store, self.registry = self.setup.lm, self.setup.store, self.setup.registry
        loop = LoopConfig(max_rounds=config.max_rounds, seed=config.seed)
        # Traffic is stored without the oracle's truth: the refiner may learn only from the
        # critic's verdicts and the few labels below.
        self.graph = self.setup.graph(config=loop, oracle=None)
        # Measuring runs are never stored: the test split must not reach the refiner.
        self.measure_graph = self.setup.graph(config=loop, store=None)
        self.refiner = self.setup.refiner(config=config.refine, names=[*config.tasks, CRITIQUE])
        self.rng = random.Random(config.seed)

    # --- setting the scene ---------------------------------------------------------------

    def prepare(self) -> None:
        """Weak task prompts (and critique prompt) as the first active versions, once per store."""
        for name in self.config.tasks:
            if self.store.list_prompt_versions(name):
                continue
            self.registry.register(self.weak_prompt(name), status="active")
        if not self.store.list_prompt_versions(CRITIQUE):
            critique = self.weak_critique()
            self.registry.register(critique, status="active", metrics=critique.manifest.metrics)

    def weak_critique(self) -> SoftPrompt:
        """An untrained critique prompt (`critique_start`), judging at 1/2.

        Its balanced accuracy on the world's critique eval set (own answers of the weak task
        prompts) is recorded, so the loop trusts it only if it clears the bar.
        """
        text = self.config.critique_start == "text"
        prompt = SoftPrompt.from_init(
            self.lm,
            len(formats.CRITIQUE_INSTRUCTION),
            init="text" if text else "vocab",
            text=formats.CRITIQUE_INSTRUCTION if text else None,
            name=CRITIQUE,
            kind="critique",
            template=formats.CRITIQUE_TEMPLATE,
            seed=self.config.seed,
        )
        scores = critic_scores(self.lm, prompt, self.setup.eval_sets.critique, self.setup.format())
        prompt.manifest.metrics.update(
            {"critic_balanced_accuracy": scores.balanced_accuracy, "critic_threshold": 0.5}
        )
        prompt.manifest.extra["note"] = (
            "weak start: the base model's judge, untuned" if text else "weak start: untrained"
        )
        return prompt

    def weak_prompt(self, name: str) -> SoftPrompt:
        shipped = SoftPrompt.load(default_prompt_path(name), lm=self.lm)
        prompt = SoftPrompt.from_init(
            self.lm,
            shipped.n_tokens,
            init="random",
            name=name,
            template=shipped.template,
            seed=self.config.seed,
        )
        examples = TASKS[name].split("train", self.config.weak_examples, seed=self.config.seed)
        train = [Example(input=x, output=y) for x, y in examples]
        cfg = TrainConfig(steps=self.config.weak_steps, lr=2e-2, batch_size=8, progress=False)
        train_prompt(self.lm, prompt, train, config=cfg)
        prompt.manifest.extra["note"] = f"weak start: {len(train)} examples"
        return prompt

    # --- one cycle -----------------------------------------------------------------------

    def traffic(self, cycle: int) -> list[LoopState]:
        """Train-split requests through the stored loop; an oracle labels a few of them."""
        cfg = self.config
        per_task = max(1, cfg.requests_per_cycle // len(cfg.tasks))
        requests = [
            {"task": name, "input": x, "metadata": {"cycle": cycle}}
            for name in cfg.tasks
            for x, _ in TASKS[name].split("train", per_task, seed=1000 + cycle)
        ]
        self.rng.shuffle(requests)
        states = self._through(self.graph, requests, f"cycle {cycle} traffic")
        for state in states:
            if state.run_id is None:
                continue
            if self.rng.random() < cfg.label_fraction:
                task = TASKS[state.task]
                final = state.final_output or ""
                correct = task.check(state.input, final)
                # Many answers may be right: a right one stands; a wrong one gets one that is.
                right = final if correct else task.solve(state.input)
                self.store.add_label(state.run_id, correct, answer=right, source="oracle")
        return states

    def _through(self, graph, requests: list[dict], desc: str) -> list[LoopState]:
        """Run requests concurrently in chunks (a progress bar step per chunk).

        Threads overlap the Python overhead of one run's small forward passes with another's
        compute, which is most of a tiny model's cost: about 3x the sequential throughput here.
        """
        states: list[LoopState] = []
        with tqdm(
            total=len(requests), desc=desc, disable=not self.progress, file=sys.stderr
        ) as bar:
            for i in range(0, len(requests), CHUNK):
                chunk = requests[i : i + CHUNK]
                for out in graph.batch(chunk, config={"max_concurrency": CONCURRENCY}):
                    states.append(LoopState.model_validate(out))
                bar.update(len(chunk))
        return states

    def measure(self, cycle: int) -> dict:
        cfg = self.config
        requests = [
            {"task": name, "input": x}
            for name in cfg.tasks
            for x, _ in TASKS[name].split("test", cfg.eval_per_task)
        ]
        t0 = time.perf_counter()
        states = self._through(self.measure_graph, requests, f"cycle {cycle} measure")
        report = summarise(states, time.perf_counter() - t0)
        report["per_task"] = {
            name: summarise([s for s in states if s.task == name], 0.0)["first_attempt_acc"]
            for name in cfg.tasks
        }
        return report

    def refine(self) -> list[RefineOutcome]:
        return self.refiner.refine_once()

    def run(self) -> Iterator[CycleRow]:
        """Cycle 0 measures the weak start; each later cycle is traffic, refine, measure."""
        self.prepare()
        t0 = time.perf_counter()
        first = self.measure(0)
        yield self._row(0, first, [], 0, time.perf_counter() - t0)
        for cycle in range(1, self.config.cycles + 1):
            t0 = time.perf_counter()
            states = self.traffic(cycle)
            outcomes = self.refine()
            report = self.measure(cycle)
            row = self._row(cycle, report, outcomes, sum(s.run_id is not None for s in states), 0)
            row.traffic_critic_f1, row.critic = _critic_on(states)
            row.seconds = time.perf_counter() - t0
            yield row

    @staticmethod
    def _row(
        cycle: int, report: dict, outcomes: list[RefineOutcome], stored: int, seconds: float
    ) -> CycleRow:
        return CycleRow(
            cycle=cycle,
            first_attempt_acc=report["first_attempt_acc"],
            final_acc=report["final_acc"],
            mean_rounds=report["mean_rounds"],
            critic_f1=report["critic_f1"],
            promoted=[
                f"{o.name}@{o.candidate_version}" for o in outcomes if o.action == "promoted"
            ],
            rejected=[
                f"{o.name}@{o.candidate_version}" for o in outcomes if o.action == "rejected"
            ],
            per_task=report["per_task"],
            critic_trust={o.name: o.critic_weight for o in outcomes if o.critic_weight is not None},
            runs_stored=stored,
            seconds=seconds,
        )


def _critic_on(states: list[LoopState]) -> tuple[float | None, str]:
    """(F1 of the critic's verdicts at catching wrong attempts, the critic's name)."""
    judged = [(s.task, s.input, a) for s in states for a in s.attempts]
    if not judged:
        return None, ""
    wrong = [not TASKS[t].check(x, a.output) for t, x, a in judged]
    flagged = [not a.critique.passed for _, _, a in judged]
    names = {a.critique.critic.replace(f"{t}@", "TASK@") for t, _, a in judged}
    return prf(flagged, wrong)["f1"], ", ".join(sorted(names))
