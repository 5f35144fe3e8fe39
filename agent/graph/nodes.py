"""The loop's nodes: plain functions of (state, deps) returning only the keys they change.

`deps` carries what the graph was built with (model, prompt source, critic, store, oracle,
config); `graph.py` binds it, so LangGraph sees one-argument nodes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from softloop.agent.graph.config import LoopConfig
from softloop.agent.graph.prompt_source import PromptRef, PromptSource
from softloop.agent.graph.recording import record_run
from softloop.agent.graph.state import Attempt, Candidate, LoopState
from softloop.agent.store.sink import RunSink
from softloop.agent.vocabulary import RunStatus
from softloop.critics import (
    AllOf,
    ConfidenceCritic,
    Critic,
    CriticFormat,
    Critique,
    CritiqueRequest,
    DoubtHint,
    SoftPromptCritic,
    Verdict,
    WeightedScore,
    confidence_auc,
    confidence_choice,
    joint_choice,
    joint_critic,
    position_hint,
)
from softloop.prompts import PromptedLM, SoftloopError, SoftPrompt

log = logging.getLogger("softloop.loop")

# task, input, answer -> True/False, or None where the task has no exact checker.
Oracle = Callable[[str, str, str], bool | None]


@dataclass
class LoopDeps:
    lm: PromptedLM
    source: PromptSource
    config: LoopConfig
    critic: Critic | None = None
    checks: Sequence[Critic] = ()
    store: RunSink | None = None  # where finished runs go; None stores nothing
    oracle: Oracle | None = None
    doubt_hint: DoubtHint = position_hint
    critic_format: CriticFormat = field(default_factory=CriticFormat)
    _critics: dict[tuple[PromptRef | None, PromptRef], Critic] = field(default_factory=dict)
    _verifiers: dict[tuple[PromptRef | None, PromptRef], Critic] = field(default_factory=dict)

    def critic_for(self, state: LoopState) -> Critic:
        """The run's critic: the checks, then the given critic, else the learned one."""
        return self._build(state)[0]

    def verifier_for(self, state: LoopState) -> Critic:
        """The critic that judges revisions: the run's critic, except where confidence and the
        critique prompt judge together and the critique prompt's recorded AUC on the task
        reaches `LoopConfig.min_verifier_auc`: there the critique prompt judges revisions alone
        (at its threshold for the task). Confidence detects a mistake but cannot confirm a fix:
        where a first attempt went wrong, the corrected token was the task prompt's second
        choice; a critique prompt that checks the task's steps well can."""
        return self._build(state)[1]

    def _build(self, state: LoopState) -> tuple[Critic, Critic]:
        assert state.selection is not None
        sel = state.selection
        key = (sel.critique, sel.task)
        if key in self._critics:
            return self._critics[key], self._verifiers[key]
        parts = list(self.checks)
        verifier: Critic | None = None
        if self.critic is not None:
            parts.append(self.critic)
        else:
            critique = self.source.load(sel.critique) if sel.critique is not None else None
            learned = learned_critic(
                self.lm,
                self.source.load(sel.task),
                critique,
                self.config,
                self.doubt_hint,
                self.critic_format,
            )
            if learned is not None:
                parts.append(learned)
            if isinstance(learned, WeightedScore) and _verifies(
                critique, sel.task.name, self.config
            ):
                assert critique is not None
                threshold = critique_threshold(critique, sel.task.name)
                judge = SoftPromptCritic(
                    self.lm, critique, fmt=self.critic_format, threshold=threshold
                )
                verifier = _all_of([*self.checks, judge]) if self.checks else judge
        if not parts:
            raise SoftloopError(
                "the loop has no critic: pass critic= to build_graph, give the prompt source a "
                "critique prompt, or set LoopConfig.confidence_threshold"
            )
        self._critics[key] = parts[0] if len(parts) == 1 else _all_of(parts)
        self._verifiers[key] = verifier or self._critics[key]
        return self._critics[key], self._verifiers[key]


def _verifies(critique: SoftPrompt | None, task: str, config: LoopConfig) -> bool:
    """Whether the critique prompt's recorded AUC on `task` clears the bar to judge revisions."""
    bar = config.min_verifier_auc
    found = critique_auc(critique, task) if critique is not None else None
    return bar is not None and found is not None and found >= bar


def _all_of(parts: Sequence[Critic]) -> Critic:
    return AllOf(parts, name=" + ".join(p.name for p in parts))


def critique_balanced_acc(prompt: SoftPrompt) -> float | None:
    """The critique prompt's recorded balanced accuracy at catching wrong answers, if any."""
    metrics = prompt.manifest.metrics
    for key in ("critic_balanced_accuracy", "dev_balanced_acc"):  # refiner, bench.train_prompts
        if key in metrics:
            return float(metrics[key])
    return None


def critique_threshold(prompt: SoftPrompt, task: str | None = None) -> float:
    """The pass probability the critique prompt's version was fitted to judge at (else 1/2): on
    `task`'s answers where it was fitted apart (one prompt's scores differ in scale by task)."""
    metrics = prompt.manifest.metrics
    for key in ([f"critic_threshold:{task}"] if task else []) + ["critic_threshold"]:
        if key in metrics:
            return float(metrics[key])
    return 0.5


def learned_critic(
    lm: PromptedLM,
    task_prompt: SoftPrompt,
    critique: SoftPrompt | None,
    config: LoopConfig,
    hint: DoubtHint = position_hint,
    fmt: CriticFormat | None = None,
) -> Critic | None:
    """The critic the loop builds when given none; None if config and prompts leave nothing.

    The critique prompt, at the threshold recorded with its version, if it has a recorded
    balanced accuracy of at least `min_critique_balanced_acc` (or none recorded). The task
    prompt's own confidence judges instead where the critique prompt is left out, or before it
    with `config.confidence == "always"`. Where the two were fitted together for the task and
    that pair ranked its dev mistakes best, they judge together (`critics.joint_critic`).
    """
    trusted = critique is not None and critique_trusted(critique, config, task_prompt)
    joint = _joint(lm, task_prompt, critique, config, hint, fmt, trusted)
    if joint is not None:
        return joint
    if critique is not None and not trusted:
        log.info(
            "critique prompt %s left out of the loop's critic: recorded balanced accuracy "
            "%s (bar %s), AUC %s against the task prompt's confidence %s",
            f"{critique.manifest.name}@{critique.manifest.version}",
            critique_balanced_acc(critique),
            config.min_critique_balanced_acc,
            critique_auc(critique, task_prompt.manifest.name),
            confidence_auc(task_prompt),
        )
    parts: list[Critic] = []
    wants_confidence = config.confidence == "always" or (
        config.confidence == "fallback" and not trusted
    )
    if config.confidence_threshold is not None and wants_confidence:
        # A task prompt may record which confidence ranks its mistakes (fitted on its dev set):
        # used, with its threshold, unless a threshold was asked for ("always").
        reduce, threshold = confidence_choice(task_prompt) or ("min", config.confidence_threshold)
        if config.confidence == "always":
            threshold = config.confidence_threshold
        critic = ConfidenceCritic(lm, task_prompt, threshold=threshold, hint=hint, reduce=reduce)
        parts.append(critic)
    if critique is not None and (trusted or not parts):
        fmt = fmt or CriticFormat(task_labels=config.task_labels)
        threshold = critique_threshold(critique, task_prompt.manifest.name)
        parts.append(SoftPromptCritic(lm, critique, fmt=fmt, threshold=threshold))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _all_of(parts)


def _joint(
    lm: PromptedLM,
    task_prompt: SoftPrompt,
    critique: SoftPrompt | None,
    config: LoopConfig,
    hint: DoubtHint,
    fmt: CriticFormat | None,
    trusted: bool,
) -> Critic | None:
    """Confidence and the critique prompt weighed together, where that pair was fitted for the
    task with the critique prompt's version and ranked the task's dev mistakes better than
    either would judge alone (confidence, or the critique prompt where it is trusted)."""
    if critique is None or config.confidence != "fallback" or config.confidence_threshold is None:
        return None
    task = task_prompt.manifest.name
    choice = joint_choice(critique, task)
    if choice is None or choice.weight <= 0:
        return None
    alone = critique_auc(critique, task) if trusted else None
    if alone is not None and alone > choice.auc:
        return None
    reduce, threshold = confidence_choice(task_prompt) or ("min", config.confidence_threshold)
    confidence = ConfidenceCritic(lm, task_prompt, threshold=threshold, hint=hint, reduce=reduce)
    # At threshold 1 the critique prompt always names its weakest step: the feedback wherever
    # confidence alone would have passed the answer.
    fmt = fmt or CriticFormat(task_labels=config.task_labels)
    return joint_critic(confidence, SoftPromptCritic(lm, critique, fmt=fmt, threshold=1.0), choice)


def critique_trusted(
    critique: SoftPrompt, config: LoopConfig, task_prompt: SoftPrompt | None = None
) -> bool:
    """Whether the critique prompt's recorded balanced accuracy clears the loop's bar and, where
    both were measured, it ranks mistakes at least as well as the task prompt's confidence.

    A critique prompt learnt from few mistakes can clear a balanced-accuracy bar by luck of the
    threshold while ranking answers worse than the confidence the loop would use instead.
    """
    bar, measured = config.min_critique_balanced_acc, critique_balanced_acc(critique)
    if bar is not None and measured is not None and measured < bar:
        return False
    if bar is None or task_prompt is None:
        return True
    mine = critique_auc(critique, task_prompt.manifest.name)
    theirs = confidence_auc(task_prompt)
    return mine is None or theirs is None or mine >= theirs


def critique_auc(prompt: SoftPrompt, task: str | None = None) -> float | None:
    """The critique prompt's recorded AUC at ranking wrong answers below right ones, if any:
    on `task`'s answers where that was measured apart (a prompt shared by several tasks)."""
    metrics = prompt.manifest.metrics
    keys = [f"critic_auc:{task}", f"dev_auc:{task}"] if task else []
    for key in [*keys, "critic_auc", "dev_auc"]:  # task add and the refiner, train_prompts
        if key in metrics and metrics[key] == metrics[key]:  # NaN: nothing was measured
            return float(metrics[key])
    return None


def generate(state: LoopState, deps: LoopDeps) -> dict:
    """Start the run, then make the first attempt: greedy, under the task prompt.

    The prompt versions are picked here, at the start of every run, so a promotion takes effect
    at the next run without a restart.
    """
    started_at = state.started_at or time.time()
    selection = deps.source.select(state.task)
    t0 = time.perf_counter()
    [output] = deps.lm.generate(
        [state.input], deps.source.load(selection.task), max_new_tokens=deps.config.max_new_tokens
    )
    candidate = Candidate(
        output=output, prompt=selection.task, model_seconds=time.perf_counter() - t0
    )
    return {
        "selection": selection,
        "max_rounds": state.max_rounds or deps.config.max_rounds,
        "idempotency_key": state.idempotency_key or uuid.uuid4().hex,
        "started_at": started_at,
        "status": RunStatus.RUNNING,
        "candidate": candidate,
    }


def critique(state: LoopState, deps: LoopDeps) -> dict:
    """Judge the candidate (unless revise already did) and record it as an attempt."""
    cand = state.candidate
    assert cand is not None
    t0 = time.perf_counter()
    verdict = cand.critique
    if verdict is None:
        request = CritiqueRequest(task=state.task, input=state.input, answer=cand.output)
        [verdict] = deps.critic_for(state).critique_batch([request])
    model_seconds = cand.model_seconds + time.perf_counter() - t0
    truth = deps.oracle(state.task, state.input, cand.output) if deps.oracle else None
    attempt = Attempt(
        round=state.round + 1,
        output=cand.output,
        prompt=cand.prompt,
        critique=verdict,
        oracle_correct=truth,
        model_seconds=model_seconds,
        n_candidates=cand.n_candidates,
    )
    return {"attempts": [attempt], "candidate": None, "round": state.round + 1}


def route_after_critique(state: LoopState) -> Literal["finish", "revise"]:
    last = state.attempts[-1]
    if last.critique.passed or state.round >= (state.max_rounds or 1):
        return "finish"
    return "revise"


def revise(state: LoopState, deps: LoopDeps) -> dict:
    """Propose several rewrites conditioned on the feedback; the critic picks the best new one.

    Candidates identical to an earlier attempt are dropped (they were already judged wrong);
    if nothing new is left, the run gives up instead of looping on the same answer.
    """
    assert state.selection is not None
    cfg, sel, last = deps.config, state.selection, state.attempts[-1]
    t0 = time.perf_counter()
    seed = cfg.seed * 1_000_003 + state.round
    outputs: list[tuple[str, PromptRef]] = []
    if sel.revise is not None:
        prompt = deps.source.load(sel.revise)
        text = _revise_text(state, cfg, last)
        outputs += [(o, sel.revise) for o in _explore(deps, text, prompt, cfg.revise_samples, seed)]
    if cfg.resolve_samples or sel.revise is None:
        n = max(cfg.resolve_samples, 1 if sel.revise is None else 0)
        task_prompt = deps.source.load(sel.task)
        outputs += [
            (o, sel.task)
            for o in _sample(deps, state.input, task_prompt, n, seed + 7919, greedy=False)
        ]
    tried = {a.output for a in state.attempts}
    fresh: dict[str, PromptRef] = {}
    for out, ref in outputs:
        if out not in tried and out not in fresh:
            fresh[out] = ref
    if not fresh:
        log.info("revise: no candidate differs from earlier attempts; giving up")
        return {"candidate": None}
    requests = [CritiqueRequest(task=state.task, input=state.input, answer=o) for o in fresh]
    verifier = deps.verifier_for(state)
    earlier: list[Attempt] = []
    if verifier is not deps.critic_for(state):
        # The attempts so far, judged on the verifier's scale too: a revision must beat them.
        earlier = list(state.attempts)
        requests += [
            CritiqueRequest(task=state.task, input=state.input, answer=a.output) for a in earlier
        ]
    scored: list[Critique] = verifier.critique_batch(requests)
    if earlier:
        requests, judged = requests[: len(fresh)], scored[len(fresh) :]
        top = max(range(len(earlier)), key=lambda i: judged[i].score)
        scored = [_no_better(c, judged[top], earlier[top].round) for c in scored[: len(fresh)]]
    best = max(range(len(scored)), key=lambda i: scored[i].score)  # ties → earliest (greedy)
    output = requests[best].answer
    return {
        "candidate": Candidate(
            output=output,
            prompt=fresh[output],
            model_seconds=time.perf_counter() - t0,
            n_candidates=len(outputs),
            critique=scored[best],
        )
    }


def _no_better(candidate: Critique, incumbent: Critique, round: int) -> Critique:
    """A passing candidate that the verifier scores no higher than an earlier attempt fails: the
    first critic doubted that attempt, the verifier less so, and a revision the verifier likes
    less is not a fix."""
    if not candidate.passed or candidate.score > incumbent.score:
        return candidate
    why = f"no better than attempt {round} ({candidate.score:.2f} vs {incumbent.score:.2f})"
    return candidate.model_copy(update={"verdict": Verdict.FAIL, "feedback": why})


def _revise_text(state: LoopState, cfg: LoopConfig, attempt: Attempt) -> str:
    """What the revise prompt reads about `attempt`: the request, the answer, the feedback."""
    return cfg.revise_format.format(
        task=cfg.task_labels.get(state.task, state.task),
        input=state.input,
        answer=attempt.output,
        feedback=attempt.critique.feedback,
    )


def _explore(deps: LoopDeps, text: str, prompt: SoftPrompt, n_samples: int, seed: int) -> list[str]:
    """The greedy rewrite plus `n_samples` sampled ones."""
    outs = _sample(deps, text, prompt, 1, seed, greedy=True)
    return outs + (_sample(deps, text, prompt, n_samples, seed, greedy=False) if n_samples else [])


def _sample(
    deps: LoopDeps, text: str, prompt: SoftPrompt, n: int, seed: int, greedy: bool
) -> list[str]:
    cfg = deps.config
    return deps.lm.generate(
        [text] * n,
        prompt,
        max_new_tokens=cfg.max_new_tokens,
        do_sample=not greedy,
        temperature=cfg.temperature,
        seed=None if greedy else seed,
    )


def route_after_revise(state: LoopState) -> Literal["critique", "finish"]:
    return "critique" if state.candidate is not None else "finish"


def finish(state: LoopState, deps: LoopDeps) -> dict:
    """End the run and write it down.

    Passed if the last attempt passed, else gave up with the attempt `_fallback` picks. A store
    outage never loses the answer, and is never silent.
    """
    last = state.attempts[-1]
    if last.critique.passed:
        update: dict = {"status": RunStatus.PASSED, "final_output": last.output}
    else:
        t0 = time.perf_counter()
        best, reason = _fallback(state, deps)
        update = {
            "status": RunStatus.GAVE_UP,
            "final_output": best.output,
            "final_reason": reason,
            "choice_seconds": time.perf_counter() - t0,
        }
    update["latency_s"] = time.time() - state.started_at if state.started_at else None
    if deps.store is None:
        return update
    run_id, error = record_run(deps.store, state.model_copy(update=update))
    update["run_id"] = run_id
    update["store_error"] = error
    return update


def _fallback(state: LoopState, deps: LoopDeps) -> tuple[Attempt, str]:
    """The attempt to return when none passed, and why, in a few words.

    The best-scored one, when the scores can tell a fix from a mistake: a critic or checks
    passed in, or a trusted critique prompt. The task prompt's confidence alone cannot (where
    the first attempt went wrong, the right token was the model's second choice, so a corrected
    answer is no more confident than the wrong one). With it, the first attempt, unless another
    is more likely by `config.switch_margin` nats under two views of the model together, the
    task prompt reading the input and the revise prompt reading the first attempt and its
    feedback.
    """
    attempts, cfg, sel = state.attempts, deps.config, state.selection
    assert sel is not None
    critique = deps.source.load(sel.critique) if sel.critique is not None else None
    judged_by_critique = critique is not None and critique_trusted(
        critique, cfg, deps.source.load(sel.task)
    )
    if (
        deps.critic is not None
        or deps.checks
        or judged_by_critique
        or cfg.switch_margin is None
        or sel.revise is None
        or len(attempts) == 1
    ):
        best = max(attempts, key=lambda a: a.critique.score)
        return best, f"attempt {best.round}: the critic's best score"
    first, outputs = attempts[0], [a.output for a in attempts]
    joint = [0.0] * len(outputs)
    for text, ref in ((state.input, sel.task), (_revise_text(state, cfg, first), sel.revise)):
        logp, mask = deps.lm.token_logprobs([text] * len(outputs), outputs, deps.source.load(ref))
        joint = [j + row[m].sum().item() for j, row, m in zip(joint, logp, mask, strict=True)]
    top = max(range(len(outputs)), key=lambda i: joint[i])
    gain = joint[top] - joint[0]
    if gain > cfg.switch_margin:
        why = f"{gain:.1f} nats likelier than attempt 1 under the task and revise prompts"
        return attempts[top], f"attempt {attempts[top].round}: {why}"
    return first, f"attempt 1: no other {cfg.switch_margin:g} nats likelier"
