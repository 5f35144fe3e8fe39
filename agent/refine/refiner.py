"""The refiner: retrain prompts on what the store accumulated, promote only measured gains.

One refinement of one prompt name:

    lease the name in the database ─taken─> skipped (another refiner is on it)
        │                         (renewed on a heartbeat from here on)
    enough new feedback? ─no─> skipped (the lease released)
        │ yes
    warm-start a candidate from the active version, train it on the stored feedback
        │
    score candidate and active on the same held-out set (fixed split + held-out feedback)
        │
    still holding the lease? ─no─> abandoned, nothing promoted
        │
    register the candidate: active if it beats the active version by `margin`, else rejected

Every candidate is kept as a version with its parent, data size and metrics. A refiner killed
at any point leaves the active version untouched: the candidate's files and row are committed
in one transaction (see agent/registry.py), and a promotion is a single transaction too.

The lease is taken before the (possibly large) dataset is read, so refiners that lose the race
read nothing. While a job runs, a heartbeat thread renews the lease every third of
`lease_ttl_s`; if a renewal is refused (another refiner took the name over after a stall) or
none succeeds for a whole `lease_ttl_s`, training stops and nothing is registered. Every job row
is closed, whatever happens: succeeded, failed, abandoned, or (nothing to do) released.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from softloop.agent.refine.config import RefineConfig
from softloop.agent.refine.data import (
    CheckFn,
    Dataset,
    HintFn,
    StepsFn,
    critique_dataset,
    task_dataset,
)
from softloop.agent.refine.evaluate import (
    critic_scores,
    example_pass_probabilities,
    task_accuracy,
)
from softloop.agent.registry import PromptRegistry
from softloop.agent.store import PromptVersion, RefineJob, Store
from softloop.critics import CriticFormat, fit_threshold, format_for, mark_loss
from softloop.prompts import Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.training import text_loss

log = logging.getLogger("softloop.refine")

Action = Literal["promoted", "rejected", "skipped", "abandoned", "failed"]


@dataclass
class EvalSets:
    """Fixed evaluation examples that are never trained on.

    tasks: task name → (input, right answer) examples; a critique prompt's name → its own
    set, in place of `critique`. critique: rendered critic inputs with `yes` / `no:…` outputs,
    ideally the model's own answers labelled by an oracle.
    """

    tasks: Mapping[str, Sequence[Example]] = field(default_factory=dict)
    critique: Sequence[Example] = ()


class RefineOutcome(BaseModel):
    name: str
    action: Action
    reason: str = ""
    active_version: int | None = None
    candidate_version: int | None = None
    active_metric: float | None = None
    candidate_metric: float | None = None
    metric: str | None = None
    n_train: int = 0
    n_eval: int = 0
    seconds: float = 0.0
    # Task prompts: what a critic-passed answer weighed, and the measured precision behind it.
    critic_weight: float | None = None
    critic_precision: float | None = None
    critic_evidence: int = 0

    def summary(self) -> str:
        """One line for logs and `softloop refine --once`."""
        head = f"{self.name}: {self.action}"
        if self.metric and self.candidate_metric is not None:
            head += (
                f" v{self.candidate_version} {self.metric} {self.candidate_metric:.3f}"
                f" vs active v{self.active_version} {self.active_metric:.3f}"
                f" ({self.n_train} train, {self.n_eval} eval, {self.seconds:.1f}s)"
            )
        return head + (f": {self.reason}" if self.reason else "") + self._trust_note()

    def _trust_note(self) -> str:
        if self.critic_weight is None:
            return ""
        measured = (
            f"precision {self.critic_precision:.2f} on {self.critic_evidence} known"
            if self.critic_precision is not None
            else "no known answers yet"
        )
        if self.critic_weight == 0:
            return f" [critic passes unused: {measured}]"
        return f" [critic passes weight {self.critic_weight:.2f}: {measured}]"


def gate(
    config: RefineConfig, before: float, after: float, active_alarm: float, alarm: float
) -> tuple[bool, str]:
    """(promote?, why not): better by the margin, and failing no more right answers than allowed.

    `active_alarm` / `alarm`: the share of right answers the active / candidate critic fails
    (0 for task prompts).
    """
    if after < before + config.margin:
        return False, f"not better by the margin {config.margin}"
    if alarm > max(active_alarm, config.max_false_alarm):
        return False, (
            f"fails {alarm:.0%} of right answers (active {active_alarm:.0%}, "
            f"allowed {config.max_false_alarm:.0%})"
        )
    return True, ""


class LeaseHeartbeat:
    """Renews a job's lease every third of its ttl on a thread, while the `with` block runs.

    `lost` is set when a renewal is refused (the lease expired and may have been taken over) or
    when no renewal has succeeded for a whole ttl (the database unreachable): whoever holds the
    lease now, it may no longer be this job, so the job must stop and register nothing.
    """

    def __init__(self, store: Store, job: RefineJob, owner: str, ttl_s: float) -> None:
        self.store, self.job_id, self.owner, self.ttl_s = store, job.id, owner, ttl_s
        self.lost = threading.Event()
        self.renewals = 0
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"softloop-lease-{job.id}", daemon=True
        )

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        last_ok = time.monotonic()
        while not self._done.wait(self.ttl_s / 3):
            try:
                renewed = self.store.renew_lease(self.job_id, self.owner, self.ttl_s)
            except Exception as err:  # the store's retries gave up; the lease may still hold
                log.warning("could not renew the lease of refine job %s (%s)", self.job_id, err)
                if time.monotonic() - last_ok >= self.ttl_s:
                    self.lost.set()
                    return
                continue
            if not renewed:
                log.warning("refine job %s lost its lease; stopping it", self.job_id)
                self.lost.set()
                return
            self.renewals += 1
            last_ok = time.monotonic()


class Refiner:
    """Refines every registered prompt of the configured kinds; safe to run many at once."""

    def __init__(
        self,
        store: Store,
        lm: FrozenLM,
        registry: PromptRegistry | None = None,
        *,
        config: RefineConfig | None = None,
        eval_sets: EvalSets | None = None,
        hint: HintFn | None = None,
        steps: StepsFn | None = None,
        oracle: CheckFn | None = None,
        critic_format: CriticFormat | None = None,
        names: Sequence[str] | None = None,
        owner: str | None = None,
    ):
        self.store, self.lm = store, lm
        self.registry = registry or PromptRegistry(store, lm)
        self.config = config or RefineConfig()
        self.eval_sets = eval_sets or EvalSets()
        self.hint, self.fmt = hint, critic_format or CriticFormat()
        # The task's step by step truth (the critique prompt's targets) and its checker (which
        # attempts of a labelled run were right, and task accuracy where many answers are).
        self.steps, self.oracle = steps, oracle
        self.names = list(names) if names is not None else None
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._lease_lost = threading.Event()  # set by the running job's heartbeat
        self._thread: threading.Thread | None = None

    # --- one pass ------------------------------------------------------------------------

    def refine_once(self) -> list[RefineOutcome]:
        """One refinement of each prompt name, in name order."""
        outcomes = []
        for name in self._names():
            if self._stop.is_set():
                break
            outcome = self.refine(name)
            log.info(outcome.summary())
            outcomes.append(outcome)
        return outcomes

    def _names(self) -> list[str]:
        if self.names is not None:
            return self.names
        rows = self.store.list_prompt_versions()
        return sorted(
            {r.name for r in rows if r.status == "active" and r.kind in self.config.kinds}
        )

    def refine(self, name: str) -> RefineOutcome:
        t0 = time.perf_counter()
        job = self.store.try_acquire_lease(name, self.owner, self.config.lease_ttl_s)
        if job is None:
            return RefineOutcome(
                name=name, action="skipped", reason="another refiner holds the lease"
            )
        closed = False

        def close(status: str, **fields: Any) -> None:
            nonlocal closed
            if status == "released":
                self.store.release_lease(job.id, self.owner)
            else:
                self.store.finish_job(job.id, status, **fields)
            closed = True

        heartbeat = LeaseHeartbeat(self.store, job, self.owner, self.config.lease_ttl_s)
        self._lease_lost = heartbeat.lost
        try:
            with heartbeat:
                return self._refine_leased(job, name, t0, close)
        except BaseException as err:
            if not closed:
                try:
                    status = "failed" if isinstance(err, Exception) else "abandoned"
                    close(status, error=f"{type(err).__name__}: {err}")
                except Exception:  # the database is gone too: the lease runs out by itself
                    log.exception("could not close refine job %s", job.id)
            if isinstance(err, Exception):
                log.exception("refining %s failed", name)
                return RefineOutcome(name=name, action="failed", reason=str(err))
            raise
        finally:
            self._lease_lost = threading.Event()

    def _refine_leased(self, job: RefineJob, name: str, t0: float, close: Any) -> RefineOutcome:
        """The refinement itself, holding the lease; `close(status, ...)` ends the job row.

        The active version is read here, under the lease: a refiner that got the lease after
        another one finished sees what that one promoted, never the version before it.
        """
        active = self.registry.active_prompt(name)
        if active is None:
            close("released")
            return RefineOutcome(name=name, action="skipped", reason="no active version")
        row, prompt = active
        if row.kind not in self.config.kinds:
            close("released")
            return RefineOutcome(name=name, action="skipped", reason=f"kind {row.kind} not refined")
        data = self._dataset(row, prompt)
        trust: dict[str, Any] = (
            {
                "critic_weight": data.critic_weight,
                "critic_precision": data.critic_precision,
                "critic_evidence": data.critic_evidence,
            }
            if row.kind == "task"
            else {}
        )
        if data.new_rows < self.config.min_new_feedback:
            close("released")
            return RefineOutcome(
                name=name,
                action="skipped",
                active_version=row.version,
                reason=(
                    f"not enough feedback: {data.new_rows} new rows since v{row.version}, "
                    f"need {self.config.min_new_feedback}"
                ),
                **trust,
            )
        outcome, candidate = self._train_and_gate(row, prompt, data)
        outcome.seconds = time.perf_counter() - t0
        outcome = outcome.model_copy(update=trust)
        if outcome.action == "abandoned":
            close("abandoned", error=outcome.reason)
            return outcome
        if self._lease_lost.is_set() or not self.store.renew_lease(
            job.id, self.owner, self.config.lease_ttl_s
        ):
            outcome.action, outcome.reason = "abandoned", "lost the lease while training"
            close("abandoned", error=outcome.reason)
            return outcome
        self._register(outcome, row, candidate)
        close("succeeded", metrics=outcome.model_dump(mode="json"))
        return outcome

    def _since(self, row: PromptVersion) -> datetime:
        """Feedback newer than this is new: since the version was promoted, or since the last
        refinement of it that ran to its gate (a rejected candidate was trained on everything
        before, and the same rows would train the same candidate again)."""
        since = row.promoted_at or row.created_at
        last = self.store.last_job(row.name, "succeeded")
        return max(since, last.started_at) if last is not None else since

    def _format(self, prompt: SoftPrompt) -> CriticFormat:
        """The critique format with the verdict words and layout the prompt was trained with."""
        return format_for(prompt, self.fmt)

    def _dataset(self, row: PromptVersion, prompt: SoftPrompt) -> Dataset:
        since = self._since(row)
        if row.kind == "critique":
            # A task's own critique prompt learns from that task's runs only.
            task = prompt.manifest.extra.get("task")
            runs = self.store.iter_runs(task=task) if isinstance(task, str) else None
            return critique_dataset(
                runs if runs is not None else self.store.iter_runs(),
                since,
                self.config,
                self._format(prompt),
                self.hint,
                self.steps,
                self.oracle,
            )
        return task_dataset(self.store.iter_runs(task=row.name), since, self.config, self.oracle)

    def _train_and_gate(
        self, row: PromptVersion, active: SoftPrompt, data: Dataset
    ) -> tuple[RefineOutcome, SoftPrompt]:
        cfg = self.config
        # A deep copy: fitting the candidate's threshold must not move the active version's.
        candidate = SoftPrompt(
            active.weight.detach().clone(), active.manifest.model_copy(deep=True)
        )
        fmt = self._format(active)
        if row.kind == "critique":
            fixed = self.eval_sets.tasks.get(row.name, self.eval_sets.critique)
            evalset = [*fixed, *data.holdout]
        else:
            evalset = [*self.eval_sets.tasks.get(row.name, ()), *data.holdout]
        if not evalset:
            reason = "no evaluation data: give fixed eval sets or label some runs"
            return RefineOutcome(name=row.name, action="abandoned", reason=reason), candidate
        report = train_prompt(
            self.lm,
            candidate,
            data.train,
            config=TrainConfig(
                steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, progress=False
            ),
            should_stop=self._should_stop,
            # A critic learns the marks it is scored by; a task prompt its answers' text.
            loss=mark_loss(fmt) if row.kind == "critique" else text_loss,
        )
        if report.cancelled or self._should_stop():
            why = "lost the lease while training" if self._lease_lost.is_set() else None
            stopping = RefineOutcome(
                name=row.name, action="abandoned", reason=why or "refiner stopping"
            )
            return stopping, candidate
        metric = "critic_balanced_accuracy" if row.kind == "critique" else "accuracy"
        if row.kind == "critique":
            # The candidate judges at the threshold that best separates its training rows;
            # the active version at the one recorded with it.
            probs = example_pass_probabilities(self.lm, candidate, data.train, fmt)
            correct = [fmt.is_pass(e.output) for e in data.train]
            candidate.manifest.metrics["critic_threshold"] = fit_threshold(probs, correct)
        (before, active_alarm), (after, alarm) = (
            self._score(p, row.kind, evalset, row.name) for p in (active, candidate)
        )
        better, reason = gate(cfg, before, after, active_alarm, alarm)
        outcome = RefineOutcome(
            name=row.name,
            action="promoted" if better else "rejected",
            reason=reason,
            active_version=row.version,
            active_metric=before,
            candidate_metric=after,
            metric=metric,
            n_train=len(data.train),
            n_eval=len(evalset),
        )
        return outcome, candidate

    def _should_stop(self) -> bool:
        return self._stop.is_set() or self._lease_lost.is_set()

    def _score(
        self, prompt: SoftPrompt, kind: str, evalset: Sequence[Example], name: str
    ) -> tuple[float, float]:
        """(the gate's metric, the share of right answers a critic fails; 0 for task prompts)."""
        if kind == "critique":
            threshold = float(prompt.manifest.metrics.get("critic_threshold", 0.5))
            scores = critic_scores(self.lm, prompt, evalset, self._format(prompt), threshold)
            return scores.balanced_accuracy, scores.false_alarm_rate
        oracle = self.oracle

        def check(input: str, answer: str) -> bool | None:
            assert oracle is not None
            return oracle(name, input, answer)  # None: a task it does not know, exact match

        return task_accuracy(
            self.lm,
            prompt,
            evalset,
            self.config.max_new_tokens,
            check=check if oracle is not None else None,
        ), 0.0

    def _register(self, outcome: RefineOutcome, row: PromptVersion, candidate: SoftPrompt) -> None:
        metrics = {outcome.metric or "metric": outcome.candidate_metric or 0.0}
        if "critic_threshold" in candidate.manifest.metrics:
            metrics["critic_threshold"] = candidate.manifest.metrics["critic_threshold"]
        version = self.registry.register(
            candidate,
            status="active" if outcome.action == "promoted" else "rejected",
            parent=row.version,
            n_examples=outcome.n_train,
            metrics={**metrics, f"parent_{outcome.metric}": outcome.active_metric or 0.0},
        )
        outcome.candidate_version = version.version

    # --- scheduling ----------------------------------------------------------------------

    def run_forever(self, every_s: float) -> None:
        """Refine, wait `every_s`, repeat, until `stop()`; the current job finishes first."""
        while not self._stop.is_set():
            try:
                self.refine_once()
            except Exception:  # a scheduled worker logs and carries on to the next round
                log.exception("refinement round failed")
            self._stop.wait(every_s)

    def start(self, every_s: float = 600.0) -> Refiner:
        """Run `run_forever` in a daemon thread inside the application."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this refiner is already running; call stop() first")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, args=(every_s,), name="softloop-refiner", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to stop after the current job (a job still training is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
