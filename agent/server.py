"""The loop as a graph LangGraph's server can serve (`langgraph dev`, LangGraph Platform).

LangGraph's server imports a module and takes a graph from it by name, but softloop's graph
needs a model, a store and prompts before it exists. `make_graph` returns what the server
accepts instead, a graph factory over a `LoopService`: the service opens the setup from settings
(`SOFTLOOP_MODEL`, `SOFTLOOP_DATABASE_URL`, `SOFTLOOP_HOME`) once per server process, when the
module is imported; the factory, which the server calls for every run, hands back the loop
compiled for the run's context (`LoopContext`: max rounds, the critic's confidence threshold),
so a run's knobs travel with the run and nothing is configured through globals.

A served run is the same run as any other: the prompt versions are picked at its start from
the store, so a version the refiner promotes is used by the next run of every server process
on that database, without a restart; it is written to the store when it finishes; and
`stream_mode="updates"` shows each node's update (every attempt with its critique) as it
happens. Clients see `LoopInput` going in and `LoopOutput` coming out, not the loop's working
state.

The library names no model: `softloop.bench.server:graph` is this factory with the reference
world as the default, and is what the repository's `langgraph.json` serves.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

# Imported at run time, not for type checking only: the server reads the factory's annotations
# to learn that it takes the run's `ServerRuntime`, and an annotation it cannot resolve makes it
# pass the config instead.
from langgraph.pregel import Pregel
from langgraph_sdk.runtime import ServerRuntime
from pydantic import BaseModel, ConfigDict, Field, field_validator

from softloop.agent.graph import Attempt, LoopConfig, PromptSelection
from softloop.agent.vocabulary import RunStatus
from softloop.agent.world import WorldFactory
from softloop.prompts import SoftloopError
from softloop.prompts.names import check_name, check_text

if TYPE_CHECKING:
    from softloop.agent.setup import Setup

MODEL_ENV = "SOFTLOOP_MODEL"
# Distinct contexts whose compiled graph a server process keeps: each holds its own critics,
# and clients use a handful of settings, not a new one per request.
GRAPHS_KEPT = 16


class LoopInput(BaseModel):
    """A request to the served loop."""

    task: str = Field(description="Task name; selects the task prompt (and the oracle).")
    input: str = Field(description="The request.")

    # The same rules as the loop's own state: refused here, before the run starts.
    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return check_name(value, "task name")

    @field_validator("input")
    @classmethod
    def _input(cls, value: str) -> str:
        return check_text(value, "input")


class LoopOutput(BaseModel):
    """What a served run returns: the final answer, its stored run id and the trajectory."""

    final_output: str | None = Field(default=None, description="The answer the loop returns.")
    status: RunStatus = Field(default=RunStatus.RUNNING, description="passed, or gave_up.")
    final_reason: str | None = Field(
        default=None, description="Why a run that gave up returns the attempt it does."
    )
    run_id: str | None = Field(default=None, description="The stored run's id.")
    store_error: str | None = Field(
        default=None, description="Why the run could not be stored (the answer still stands)."
    )
    attempts: list[Attempt] = Field(
        default_factory=list, description="The trajectory: every attempt with its critique."
    )
    selection: PromptSelection | None = Field(
        default=None, description="The prompt versions the run used."
    )


class LoopContext(BaseModel):
    """A run's knobs, sent as the run's `context` (or `config["configurable"]`).

    Unset fields keep `LoopConfig`'s defaults. Keys this model does not know are ignored, not
    refused: the server mirrors a run's whole configurable into its context.
    """

    model_config = ConfigDict(frozen=True)

    max_rounds: int | None = Field(
        default=None, ge=1, le=50, description="Attempts per request, the first one included."
    )
    # As `softloop run --confidence P`: the task prompt's confidence judges before the critique
    # prompt at P; 0 leaves it out.
    confidence_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Judge with the task prompt's confidence too, at this least-token "
        "probability; 0 leaves it out.",
    )

    def loop_config(self) -> LoopConfig:
        overrides: dict[str, Any] = {}
        if self.max_rounds is not None:
            overrides["max_rounds"] = self.max_rounds
        config = LoopConfig(**overrides)
        if self.confidence_threshold is not None:
            config = config.with_confidence(self.confidence_threshold)
        return config


def open_from_settings(world_factory: WorldFactory | None = None) -> Setup:
    """`open_setup` as the environment says: `$SOFTLOOP_MODEL` (default: the world's model),
    the store at `$SOFTLOOP_DATABASE_URL` and the data directory `$SOFTLOOP_HOME`."""
    from softloop.agent.setup import open_setup

    model = os.environ.get(MODEL_ENV) or None
    world = world_factory() if world_factory is not None else None
    if model is None and world is None:
        raise SoftloopError(f"no model to serve: set {MODEL_ENV} to a local path or hub id")
    return open_setup(model, world=world)


class LoopService:
    """One server process's loop: the setup opened once, a compiled graph per context.

    Thread-safe: the server builds graphs on worker threads, several runs at a time.
    """

    def __init__(self, open_setup: Callable[[], Setup]):
        self._open_setup = open_setup
        self._setup: Setup | None = None
        self._lock = threading.Lock()
        self._graphs = functools.lru_cache(maxsize=GRAPHS_KEPT)(self._build)

    @classmethod
    def from_settings(cls, world_factory: WorldFactory | None = None) -> LoopService:
        """The loop `open_from_settings` opens, on first use."""
        return cls(functools.partial(open_from_settings, world_factory))

    def setup(self) -> Setup:
        """The setup, opened on first use."""
        with self._lock:
            if self._setup is None:
                self._setup = self._open_setup()
            return self._setup

    def graph(self, context: LoopContext | None = None) -> Pregel:
        """The loop compiled for `context`, built once per distinct context."""
        return self._graphs(context or LoopContext())

    def _build(self, context: LoopContext) -> Pregel:
        return self.setup().graph(
            config=context.loop_config(),
            input_schema=LoopInput,
            output_schema=LoopOutput,
            context_schema=LoopContext,
        )

    def close(self) -> None:
        """Close the store, if it was opened; the next graph opens the setup again."""
        with self._lock:
            setup, self._setup = self._setup, None
            self._graphs.cache_clear()
        if setup is not None:
            setup.close()


def run_context(runtime: ServerRuntime[LoopContext]) -> LoopContext:
    """The context of the run the server builds a graph for; defaults when it reads a schema
    or a thread's state, which execute nothing (the loop has the same shape in every context)."""
    execution = runtime.execution_runtime
    if execution is None or execution.context is None:
        return LoopContext()
    return LoopContext.model_validate(execution.context)


GraphFactory = Callable[[ServerRuntime[LoopContext]], Awaitable[Pregel]]


def make_graph(service: LoopService | None = None, *, preload: bool = True) -> GraphFactory:
    """A graph factory for LangGraph's server: assign it to a module variable and name that
    variable in `langgraph.json` (`"graphs": {"softloop": "my_module:graph"}`).

    service: the loop to serve; default `LoopService.from_settings()`, the model
        `$SOFTLOOP_MODEL` names.
    preload: open the setup now, while the server imports the module: the model loads before
        the server reports ready rather than in the first run, and a wrong setting (no model,
        an unreachable database) stops the server at start. False defers it to the first run.
    """
    loop = service or LoopService.from_settings()
    if preload:
        loop.setup()

    async def graph(runtime: ServerRuntime[LoopContext]) -> Pregel:
        # Opening the setup and compiling block; the server's event loop must not.
        return await asyncio.to_thread(loop.graph, run_context(runtime))

    return graph


__all__ = [
    "GRAPHS_KEPT",
    "MODEL_ENV",
    "GraphFactory",
    "LoopContext",
    "LoopInput",
    "LoopOutput",
    "LoopService",
    "make_graph",
    "open_from_settings",
    "run_context",
]
