"""The served loop in-process, on a tiny model: the run's context, the graphs the service keeps,
the schemas clients see, and the settings it opens from. The real server is driven in
tests/bench/test_server.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from softloop.agent.graph import LoopConfig
from softloop.agent.registry import PromptRegistry
from softloop.agent.server import (
    MODEL_ENV,
    LoopContext,
    LoopOutput,
    LoopService,
    make_graph,
    open_from_settings,
)
from softloop.agent.setup import Setup
from softloop.agent.store import Store
from softloop.prompts import FrozenLM, SoftloopError, SoftPrompt
from tests.prompts.models import char_tokenizer, make_lm, tiny_model

TASK = "t"


@pytest.fixture(scope="module")
def lm() -> FrozenLM:
    return make_lm("llama", seed=3)


@pytest.fixture
def setup(store: Store, lm: FrozenLM, tmp_path: Path) -> Setup:
    """Untrained task, critique and revise prompts, registered as the active versions."""
    registry = PromptRegistry(store, lm, tmp_path / "prompts")
    specs = {TASK: ("task", "{input}="), "critique": ("critique", "{input}?")}
    specs["revise"] = ("revise", "{input}>")
    for seed, (name, (kind, template)) in enumerate(specs.items()):
        prompt = SoftPrompt.from_init(
            lm, 4, init="vocab", name=name, kind=kind, template=template, seed=seed
        )
        registry.register(prompt, status="active")
    return Setup(lm=lm, store=store, registry=registry)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A tiny Llama saved in Hugging Face format, as a user's model directory is."""
    tok = char_tokenizer()
    path = tmp_path / "tiny-llama"
    tiny_model("llama", len(tok)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


class Opener:
    """Hands out one setup and counts how often it was asked."""

    def __init__(self, setup: Setup) -> None:
        self.setup, self.calls = setup, 0

    def __call__(self) -> Setup:
        self.calls += 1
        return self.setup


def test_context_sets_the_loop_config() -> None:
    assert LoopContext().loop_config() == LoopConfig()
    config = LoopContext(max_rounds=1, confidence_threshold=0.8).loop_config()
    assert (config.max_rounds, config.confidence_threshold) == (1, 0.8)
    # 0 leaves the confidence check out, as `softloop run --confidence 0` does.
    assert LoopContext(confidence_threshold=0).loop_config().confidence == "never"


def test_context_refuses_bad_values_and_ignores_other_keys() -> None:
    for bad in ({"max_rounds": 0}, {"max_rounds": 51}, {"confidence_threshold": 1.5}):
        with pytest.raises(ValidationError):
            LoopContext.model_validate(bad)
    # The server mirrors a run's whole configurable into its context.
    context = LoopContext.model_validate({"max_rounds": 2, "thread_id": "x", "graph_id": "g"})
    assert context == LoopContext(max_rounds=2)


def test_a_served_run_returns_the_output_schema_and_is_stored(setup: Setup) -> None:
    graph = LoopService(Opener(setup)).graph(LoopContext(max_rounds=2))
    out = graph.invoke({"task": TASK, "input": "ab"})
    assert set(out) <= set(LoopOutput.model_fields)
    final = LoopOutput.model_validate(out)
    assert final.run_id is not None and final.store_error is None
    assert 1 <= len(final.attempts) <= 2
    stored = setup.store.get_run(final.run_id)
    assert stored.final_output == final.final_output
    assert [a.output for a in stored.attempts] == [a.output for a in final.attempts]
    assert final.selection is not None
    assert stored.prompt_versions == final.selection.versions()


def test_the_graph_says_what_it_takes_returns_and_reads(setup: Setup) -> None:
    graph = LoopService(Opener(setup)).graph()
    assert set(graph.get_input_jsonschema()["properties"]) == {"task", "input"}
    returned = set(graph.get_output_jsonschema()["properties"])
    assert {"final_output", "run_id", "attempts"} <= returned
    context = graph.get_context_jsonschema()
    assert context is not None
    assert set(context["properties"]) == {"max_rounds", "confidence_threshold"}


def test_the_setup_opens_once_and_a_graph_is_built_once_per_context(setup: Setup) -> None:
    opener = Opener(setup)
    service = LoopService(opener)
    assert opener.calls == 0  # nothing opens until asked
    one = service.graph(LoopContext(max_rounds=1))
    assert service.graph(LoopContext(max_rounds=1)) is one
    assert service.graph(LoopContext(max_rounds=2)) is not one
    assert service.graph() is service.graph(LoopContext())
    assert opener.calls == 1


def test_the_factory_builds_the_graph_for_the_run_context(setup: Setup) -> None:
    service = LoopService(Opener(setup))
    factory = make_graph(service, preload=False)
    run = SimpleNamespace(execution_runtime=SimpleNamespace(context={"max_rounds": 1}))
    read = SimpleNamespace(execution_runtime=None)  # a schema or state read: no context
    assert asyncio.run(factory(run)) is service.graph(LoopContext(max_rounds=1))
    assert asyncio.run(factory(read)) is service.graph()
    out = asyncio.run(factory(run)).invoke({"task": TASK, "input": "ab"})
    assert len(out["attempts"]) == 1


def test_preload_opens_the_setup_when_the_factory_is_made(setup: Setup) -> None:
    lazy, eager = Opener(setup), Opener(setup)
    make_graph(LoopService(lazy), preload=False)
    make_graph(LoopService(eager))
    assert (lazy.calls, eager.calls) == (0, 1)


def test_settings_name_the_model_the_store_and_home(
    model_dir: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, str(model_dir))
    monkeypatch.setenv("SOFTLOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path / "home"))
    opened = open_from_settings()
    try:
        assert opened.store.url == db_url
        assert opened.registry.root == tmp_path / "home" / "prompts"
        assert not opened.from_world
    finally:
        opened.close()


def test_without_a_model_or_a_world_there_is_nothing_to_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(SoftloopError, match=MODEL_ENV):
        open_from_settings()
