"""The self-correction loop as a LangGraph state machine.

    START → generate → critique ─┬─ pass, or out of rounds ─────────→ finish → END
                          ^      └─ fail, rounds left → revise ─┬──→ critique
                          └─────────────────────────────────────┘└─ nothing new → finish

generate also starts the run (picks the prompt versions); finish also writes the run to the
store: each LangGraph step costs a few tenths of a millisecond, so the graph has no step its
flow does not need.

`build_graph` returns a compiled graph: `invoke`, `ainvoke`, `stream`, `batch` work as on any
LangGraph graph, and it can be a node of a larger graph that shares the `task` / `input` keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from softloop.agent.graph import nodes
from softloop.agent.graph.config import LoopConfig
from softloop.agent.graph.nodes import LoopDeps, Oracle
from softloop.agent.graph.prompt_source import FixedPrompts, PromptSource
from softloop.agent.graph.state import LoopState
from softloop.agent.store.sink import RunSink
from softloop.critics import Critic, CriticFormat, DoubtHint, position_hint
from softloop.prompts import PromptedLM, SoftPrompt

# What a transient model-call failure looks like; anything else is a bug and fails the run.
TRANSIENT_MODEL_ERRORS: tuple[type[Exception], ...] = (ConnectionError, TimeoutError, MemoryError)


def build_graph(
    lm: PromptedLM,
    prompts: PromptSource | SoftPrompt | Mapping[str, SoftPrompt],
    critic: Critic | None = None,
    store: RunSink | None = None,
    max_rounds: int | None = None,
    *,
    checks: Sequence[Critic] = (),
    oracle: Oracle | None = None,
    config: LoopConfig | None = None,
    checkpointer: Any = None,
    doubt_hint: DoubtHint | None = None,
    critic_format: CriticFormat | None = None,
    name: str = "softloop",
    input_schema: type[Any] | None = None,
    output_schema: type[Any] | None = None,
    context_schema: type[Any] | None = None,
):
    """Compile the generate → critique → revise loop.

    prompts: the prompt registry (anything with `select(task)` and `load(ref)`), or fixed
        prompts: one task `SoftPrompt`, a mapping task → prompt, or a `FixedPrompts` that also
        holds the critique and revise prompts.
    critic: judges each attempt; default the learned critic under the run's critique prompt.
    checks: exact critics run before the critic; the first failure's feedback is handed on.
    store: an `agent.Store`; every run is written there with its attempts and critiques.
    oracle: `(task, input, answer) -> bool | None`, the exact truth stored beside the critic's
        verdict (never shown to the loop) so the refiner can learn from the critic's mistakes.
    doubt_hint: `(task, Doubt) -> feedback`, the words the confidence critic uses to say where
        an answer goes wrong (default `at K` / `too short` / `too long`).
    critic_format: how the critique prompt reads a request and which steps it checks (default:
        one verdict, task names shown through `config.task_labels`).
    checkpointer: a LangGraph checkpointer; with one, an interrupted run resumes from its last
        step (invoke again with `None` and the same `thread_id`).
    input_schema, output_schema, context_schema: what the compiled graph says it takes, returns
        and reads at run time (LangGraph's `StateGraph` arguments); default: the whole
        `LoopState` in and out, no context. A server names them so that its clients see the
        request and the result, not the loop's working state (`softloop.agent.server`).
    """
    config = config or LoopConfig()
    if max_rounds is not None:
        config = config.model_copy(
            update={"max_rounds": LoopConfig(max_rounds=max_rounds).max_rounds}
        )
    source = prompts if isinstance(prompts, PromptSource) else FixedPrompts(task=prompts)
    deps = LoopDeps(
        lm=lm,
        source=source,
        config=config,
        critic=critic,
        checks=checks,
        store=store,
        oracle=oracle,
        doubt_hint=doubt_hint or position_hint,
        critic_format=critic_format or CriticFormat(task_labels=config.task_labels),
    )

    def bind(fn):
        return functools.wraps(fn)(functools.partial(fn, deps=deps))

    model_retry = RetryPolicy(max_attempts=config.model_retries, retry_on=TRANSIENT_MODEL_ERRORS)
    builder = StateGraph(
        LoopState,
        input_schema=input_schema,
        output_schema=output_schema,
        context_schema=context_schema,
    )
    wire_loop(
        builder,
        bind(nodes.generate),
        bind(nodes.critique),
        bind(nodes.revise),
        bind(nodes.finish),
        model_retry,
    )
    graph = builder.compile(checkpointer=checkpointer, name=name)
    return graph.with_config(recursion_limit=config.recursion_limit)


def wire_loop(
    builder: StateGraph,
    generate: Callable[..., dict],
    critique: Callable[..., dict],
    revise: Callable[..., dict],
    finish: Callable[..., dict],
    retry: RetryPolicy,
) -> None:
    """The loop's four nodes and its edges on `builder`, the model-calling nodes under `retry`:
    the one place the loop's shape is written, for `build_graph` and for whatever steps other
    nodes through the same loop (a replay that times the graph alone)."""
    builder.add_node("generate", generate, retry_policy=retry)
    builder.add_node("critique", critique, retry_policy=retry)
    builder.add_node("revise", revise, retry_policy=retry)
    builder.add_node("finish", finish)
    # Prompts are selected once per run, in generate, before the first model call.
    builder.add_edge(START, "generate")
    # Every answer is judged before anything else happens to it.
    builder.add_edge("generate", "critique")
    # Pass, or no rounds left → finish; otherwise revise with the critique's feedback.
    builder.add_conditional_edges("critique", nodes.route_after_critique)
    # A fresh candidate is judged again; no fresh candidate means giving up.
    builder.add_conditional_edges("revise", nodes.route_after_revise)
    # Every finished run is written down (in finish), then the graph ends.
    builder.add_edge("finish", END)
