"""Concurrent callers' model calls, coalesced into shared forward passes.

Loop runs in threads (LangGraph's `batch`, a server's workers) each make small calls: one answer
to generate, a few to score. Run one by one, every call pays whole forward passes for one or two
rows. `MicroBatchLM` wraps a `FrozenLM` behind the same `PromptedLM` methods; each call becomes
a request on a queue, and one worker thread serves them the way serving engines do:

    callers ─ rows() ─> queue ─> worker ─┬─ scoring calls that arrived: one forward pass
                                         └─ generations: join the running decode, leave when done

When idle, the worker waits for company a bounded time (`max_wait_s`, or until `idle_s` passes
with nothing new); while a decode runs, its steps are the batching window. All scoring calls
(score, token_logprobs, token_choices, choice_logprobs, next_token_logprobs) that arrived share
one forward pass. Generations share one running `DecodeBatch`: a new call is prefilled and joins
at the next step, and each call gets its texts as soon as its own rows are done (continuous
batching), its rows keeping their own sampling settings, limits and seeded generator. Rows do
not see each other (masked padding, positions from real tokens), so every caller gets what the
wrapped model gives it alone, to float rounding: identical greedy answers and identical seeded
samples. Unseeded samples draw from the global generator in batch order, which no caller could
rely on anyway.

Errors stay with their caller: inputs are tokenised and checked in the calling thread, and a
batch that fails is rerun one request at a time so that each caller gets its own result or error.

Known limitations: everything runs without gradients (train through `FrozenLM`); calls with an
explicit `prefix=`, right padding, or a model that cannot keep only the last logits go straight
to the wrapped model; one worker thread runs every forward pass, so the process's other threads
share the interpreter with it.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from softloop.prompts.batching import IGNORE, Row
from softloop.prompts.decode_batch import DecodeBatch, Sampling, Span
from softloop.prompts.errors import ConfigError
from softloop.prompts.frozen_lm import FrozenLM, TokenChoices, picked_logprobs
from softloop.prompts.generation import start as begin

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from softloop.prompts.batching import PaddingSide
    from softloop.prompts.frozen_lm import PromptsArg
    from softloop.prompts.prefix_cache import PrefixCache

ForwardKind = Literal["score", "token_logprobs", "token_choices", "choice_logprobs", "next_token"]


@dataclass(frozen=True)
class MicroBatchConfig:
    """How long the worker waits to fill a batch, and how big a batch may get.

    The wait is what a lone caller pays per call; concurrent callers' calls arrive a graph step
    or two apart, so the batch closes early once nothing new has come for `idle_s`.
    """

    max_wait_s: float = 0.005  # the longest a request waits for company
    idle_s: float = 0.001  # close the batch once no request has arrived for this long
    max_rows: int = 128  # rows per forward pass; more requests wait for the next batch

    def __post_init__(self) -> None:
        if not self.max_wait_s >= 0:
            raise ConfigError(f"max_wait_s={self.max_wait_s!r} is invalid: use 0 or more seconds")
        if not 0 <= self.idle_s <= max(self.max_wait_s, 0):
            raise ConfigError(
                f"idle_s={self.idle_s!r} is invalid: use 0 up to max_wait_s={self.max_wait_s}"
            )
        if self.max_rows < 1:
            raise ConfigError(f"max_rows={self.max_rows!r} is invalid: use at least 1 row")


@dataclass
class _Request:
    rows: list[Row]
    kind: ForwardKind | Literal["generate"]
    sampling: Sampling | None = None
    token_ids: tuple[int, ...] = ()  # choice_logprobs: the tokens asked about
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """What the worker has done: how well concurrent calls were coalesced."""

    requests: int = 0
    rows: int = 0  # summed over forward passes
    passes: int = 0  # forward passes: scoring, prefills of joining generations, decode steps
    batches: int = 0  # passes that took requests in (scoring passes and prefills)
    fallbacks: int = 0  # batches rerun one request at a time after an error
    busy_s: float = 0.0  # time the worker spent running batches (the rest it waited)
    cpu_s: float = 0.0  # the worker thread's CPU time in those batches

    @property
    def rows_per_pass(self) -> float:
        return self.rows / self.passes if self.passes else 0.0


_STOP = object()
# Finished rows leave the running decode once they are this share of it (`DecodeBatch.evict`).
_EVICT_SHARE = 0.25


class MicroBatchLM:
    """A `PromptedLM` over a `FrozenLM` that batches concurrent callers' calls together.

    Use it where several threads share one model; a single caller gains nothing and pays up to
    `idle_s` per call. `close()` (or `with`) stops the worker after the queued requests.
    """

    def __init__(self, lm: FrozenLM, config: MicroBatchConfig | None = None) -> None:
        self.lm = lm
        self.config = config or MicroBatchConfig()
        self.model_id = lm.model_id
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False

    # --- what the model is: as the wrapped one -------------------------------------------

    @property
    def fingerprint(self) -> str:
        return self.lm.fingerprint

    @property
    def hidden_size(self) -> int:
        return self.lm.hidden_size

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.lm.tokenizer

    @property
    def eos_id(self) -> int | None:
        return self.lm.eos_id

    def decode(self, ids: Sequence[int]) -> str:
        return self.lm.decode(ids)

    # --- PromptedLM calls, queued ---------------------------------------------------------

    def generate(
        self,
        inputs: Sequence[str] | str,
        prompts: PromptsArg = None,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop: Sequence[str] | str | None = None,
        prefix: PrefixCache | None = None,
        min_new_tokens: int = 0,
    ) -> list[str]:
        """`FrozenLM.generate`, decoded together with other callers' generations."""
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if prefix is not None:
            return self.lm.generate(
                inputs,
                prompts,
                max_new_tokens,
                do_sample,
                temperature,
                top_k,
                seed,
                stops,
                prefix,
                min_new_tokens,
            )
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        sampling = Sampling(
            max_new_tokens,
            do_sample,
            temperature,
            top_k,
            seed,
            tuple(s for s in stops if s),
            min_new_tokens,
        )
        if not texts:
            return []
        rows = self.lm.rows(texts, prompts)
        return self._submit(_Request(rows, "generate", sampling))

    def score(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        prefix: PrefixCache | None = None,
    ) -> torch.Tensor:
        """`FrozenLM.score`, in one forward pass with other callers' scoring."""
        if prefix is not None or not inputs or not self._mergeable():
            return self.lm.score(inputs, targets, prompts, prefix)
        return self._forward(inputs, targets, prompts, False, "score")

    def token_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        padding_side: PaddingSide = "left",
        prefix: PrefixCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`FrozenLM.token_logprobs` without gradients, batched with other callers' scoring."""
        if prefix is not None or padding_side != "left" or not inputs or not self._mergeable():
            with torch.no_grad():
                return self.lm.token_logprobs(
                    inputs, targets, prompts, add_eos, padding_side, prefix
                )
        return self._forward(inputs, targets, prompts, add_eos, "token_logprobs")

    def token_choices(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        add_eos: bool = True,
        prefix: PrefixCache | None = None,
    ) -> TokenChoices:
        """`FrozenLM.token_choices`, batched with other callers' scoring."""
        if prefix is not None or not inputs or not self._mergeable():
            return self.lm.token_choices(inputs, targets, prompts, add_eos, prefix)
        return self._forward(inputs, targets, prompts, add_eos, "token_choices")

    def choice_logprobs(
        self,
        inputs: Sequence[str],
        targets: Sequence[str],
        prompts: PromptsArg,
        token_ids: Sequence[int],
        prefix: PrefixCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`FrozenLM.choice_logprobs`, batched with other callers' scoring."""
        if prefix is not None or not inputs or not self._mergeable():
            return self.lm.choice_logprobs(inputs, targets, prompts, token_ids, prefix)
        return self._forward(inputs, targets, prompts, False, "choice_logprobs", token_ids)

    def next_token_logprobs(
        self, inputs: Sequence[str], prompts: PromptsArg, prefix: PrefixCache | None = None
    ) -> torch.Tensor:
        """`FrozenLM.next_token_logprobs`, batched with other callers' scoring."""
        if prefix is not None or not inputs or not self._mergeable():
            return self.lm.next_token_logprobs(inputs, prompts, prefix)
        return self._forward(inputs, None, prompts, False, "next_token")

    def close(self) -> None:
        """Finish the queued requests and stop the worker; later calls raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        if worker is not None:
            self._queue.put(_STOP)
            worker.join()

    def __enter__(self) -> MicroBatchLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MicroBatchLM({self.lm!r}, {self.config})"

    # --- the caller's side ----------------------------------------------------------------

    def _mergeable(self) -> bool:
        # Without `logits_to_keep` a call's output width depends on its batch-mates' lengths.
        return self.lm.takes_logits_to_keep

    def _forward(
        self,
        inputs: Sequence[str],
        targets: Sequence[str] | None,
        prompts: PromptsArg,
        add_eos: bool,
        kind: ForwardKind,
        token_ids: Sequence[int] = (),
    ) -> Any:
        texts = None if targets is None else list(targets)
        rows = self.lm.rows(list(inputs), prompts, texts, add_eos)
        return self._submit(_Request(rows, kind, token_ids=tuple(token_ids)))

    def _submit(self, request: _Request) -> Any:
        with self._lock:
            if self._closed:
                raise ConfigError("this MicroBatchLM is closed; make a new one")
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._serve, name="softloop-microbatch", daemon=True
                )
                self._worker.start()
        self._queue.put(request)
        return request.future.result()

    # --- the worker's side ----------------------------------------------------------------

    def _serve(self) -> None:
        """Scoring requests run as they come, one pass per batch; generations join one running
        decode at the next step and leave it as soon as they are done (continuous batching)."""
        running: DecodeBatch | None = None
        backlog: list[_Request] = []  # generations waiting for room in the running batch
        stopping = False
        while True:
            if running is None and not backlog:
                if stopping:
                    return
                first = self._queue.get()
                if first is _STOP:
                    return
                arrived, stop = self._gather(first)
            else:
                arrived, stop = self._drain()
            stopping = stopping or stop
            scoring = [r for r in arrived if r.kind != "generate"]
            backlog += [r for r in arrived if r.kind == "generate"]
            for chunk in _chunks(scoring, self.config.max_rows):
                self._settle(chunk, self._score_group)
            free = self.config.max_rows - (running.rows if running is not None else 0)
            joining, backlog = _take(backlog, free, at_least_one=running is None)
            if joining:
                new = self._start(joining)
                if new is not None:
                    running = new if running is None else running.merge(new)
            if running is not None:
                running = self._step(running)

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """`first` and what arrives with it: until max_wait_s, idle_s of quiet, or max_rows."""
        cfg = self.config
        batch, n_rows = [first], len(first.rows)
        deadline = time.monotonic() + cfg.max_wait_s
        while n_rows < cfg.max_rows:
            wait = min(cfg.idle_s, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
            n_rows += len(item.rows)
        return batch, False

    def _drain(self) -> tuple[list[_Request], bool]:
        """Whatever is queued now, without waiting: a running decode is the batching window."""
        batch: list[_Request] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is _STOP:
                return batch, True
            batch.append(item)

    def _settle(self, chunk: list[_Request], run: Callable[[list[_Request]], list[Any]]) -> None:
        """Run a chunk together; if that fails, each request alone, so errors stay their own."""
        started = _now()
        try:
            with torch.no_grad():
                results = run(chunk)
        except Exception as err:
            if len(chunk) == 1:
                chunk[0].future.set_exception(err)
                return
            self.stats.fallbacks += 1
            for request in chunk:
                self._settle([request], run)
            return
        self._count(chunk, started)
        for request, result in zip(chunk, results, strict=True):
            request.future.set_result(result)

    def _start(self, joining: list[_Request]) -> DecodeBatch | None:
        """Prefill new generations and pick their first tokens; None if all ended at once."""
        started = _now()
        try:
            with torch.no_grad():
                rows = [row for r in joining for row in r.rows]
                spans, start = [], 0
                for r in joining:
                    assert r.sampling is not None
                    spans.append(Span(start, start + len(r.rows), r.sampling))
                    start += len(r.rows)
                kwargs, _ = self.lm.rows_kwargs(rows)
                batch = begin(self.lm, kwargs, spans, joining)
                self._count(joining, started)
                self._finish(batch.pick())
        except Exception as err:
            if len(joining) == 1:
                joining[0].future.set_exception(err)
                return None
            self.stats.fallbacks += 1
            parts = [self._start([r]) for r in joining]
            alive = [p for p in parts if p is not None]
            return functools.reduce(DecodeBatch.merge, alive) if alive else None
        batch.evict()
        return None if batch.finished else batch

    def _step(self, running: DecodeBatch) -> DecodeBatch | None:
        """One decode step for every running row; finished calls get their texts."""
        started = _now()
        try:
            with torch.no_grad():
                running.advance()
                self._count([], started, rows=running.rows)
                self._finish(running.pick())
        except Exception as err:
            for span in running.spans:
                if not span.finished:
                    span.tag.future.set_exception(err)
            return None
        running.evict(_EVICT_SHARE)
        return None if running.finished else running

    @staticmethod
    def _finish(ended: list[tuple[Any, list[str]]]) -> None:
        for request, texts in ended:
            request.future.set_result(texts)

    def _count(
        self, chunk: list[_Request], started: tuple[float, float], rows: int | None = None
    ) -> None:
        self.stats.requests += len(chunk)
        self.stats.batches += bool(chunk)
        self.stats.rows += sum(len(r.rows) for r in chunk) if rows is None else rows
        self.stats.passes += 1
        wall, cpu = _now()
        self.stats.busy_s += wall - started[0]
        self.stats.cpu_s += cpu - started[1]

    def _score_group(self, chunk: list[_Request]) -> list[Any]:
        rows = [row for r in chunk for row in r.rows]
        kwargs, labels = self.lm.rows_kwargs(rows)
        labels = labels[:, 1:]  # (B, T-1): the token at t+1 is predicted at t
        n_target = (labels != IGNORE).sum(dim=1).tolist()  # per row
        keep = max(n_target) + 1
        logits = self.lm.forward_logits(kwargs, logits_to_keep=keep)  # (B, keep, V)
        width = keep - 1  # L: positions that predict a target, in the row with the most
        labels = labels[:, labels.shape[1] - width :]
        out, start = [], 0
        for r in chunk:
            end = start + len(r.rows)
            if r.kind == "next_token":
                out.append(torch.log_softmax(logits[start:end, -1].float(), dim=-1))
            else:
                # As wide as the call alone would be: its own longest target.
                own = max(n_target[start:end])
                lab = labels[start:end, width - own :]
                logp = torch.log_softmax(logits[start:end, keep - 1 - own : keep - 1].float(), -1)
                out.append(_target_result(r, logp, lab))
            start = end
        return out


def _now() -> tuple[float, float]:
    """Wall clock and this thread's CPU clock."""
    return time.perf_counter(), time.thread_time()


def _target_result(request: _Request, logp: torch.Tensor, labels: torch.Tensor) -> Any:
    """What the request's method returns, from its rows' `(B, L, V)` log-softmax and labels."""
    mask = labels != IGNORE
    if request.kind == "token_choices":
        return TokenChoices.of(logp, labels, mask)
    if request.kind == "choice_logprobs":
        ids = torch.tensor(request.token_ids, device=logp.device)
        return logp[..., ids], labels.clamp(min=0) * mask, mask
    picked = picked_logprobs(logp, labels, mask)
    if request.kind == "score":
        return picked.sum(dim=1)
    return picked, mask


def _take(
    backlog: list[_Request], free: int, at_least_one: bool
) -> tuple[list[_Request], list[_Request]]:
    """Requests from the front of `backlog` whose rows fit in `free`, and the rest."""
    taken: list[_Request] = []
    rows = 0
    for r in backlog:
        if rows + len(r.rows) > free and not (at_least_one and not taken):
            break
        taken.append(r)
        rows += len(r.rows)
    return taken, backlog[len(taken) :]


def _chunks(requests: list[_Request], max_rows: int) -> list[list[_Request]]:
    """Consecutive requests in groups of at most `max_rows` rows (a bigger request alone)."""
    chunks = []
    while requests:
        chunk, requests = _take(requests, max_rows, at_least_one=True)
        chunks.append(chunk)
    return chunks


__all__ = ["BatchStats", "MicroBatchConfig", "MicroBatchLM"]
