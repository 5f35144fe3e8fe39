"""A user's own model on disk, prompts for it, and $SOFTLOOP_HOME, for the CLI's tests.

The model is a tiny random Llama saved in Hugging Face format, so `--model PATH` loads it the way
it loads any user's model; the prompts are saved with `SoftPrompt.save`, as `softloop train`
leaves them. Nothing here touches the embedded reference world. The CLI itself is driven by
`tests/agent/cli/driver.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from softloop.agent.registry import PromptRegistry
from softloop.agent.store import Store
from softloop.prompts import FrozenLM, SoftPrompt
from tests.agent.cli.driver import TASK
from tests.prompts.models import char_tokenizer, tiny_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = char_tokenizer()
    path = tmp_path_factory.mktemp("model") / "tiny-llama"
    tiny_model("llama", len(tok), seed=3).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def model_lm(model_dir: Path) -> FrozenLM:
    return FrozenLM.from_pretrained(str(model_dir))


@pytest.fixture(scope="session")
def prompt_dirs(model_lm: FrozenLM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Untrained task, critique and revise prompts for the tiny model, saved as directories."""
    root = tmp_path_factory.mktemp("trained")
    specs = {
        TASK: ("task", "{input}="),
        "critique": ("critique", "{input}?"),
        "revise": ("revise", "{input}>"),
    }
    dirs = {}
    for seed, (name, (kind, template)) in enumerate(specs.items()):
        prompt = SoftPrompt.from_init(
            model_lm, 4, init="vocab", name=name, kind=kind, template=template, seed=seed
        )
        dirs[name] = prompt.save(root / name)
    return dirs


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$SOFTLOOP_HOME for this test: prompt files and the spool land here, never in ~."""
    path = tmp_path / "home"
    monkeypatch.setenv("SOFTLOOP_HOME", str(path))
    return path


@pytest.fixture
def registered(store: Store, model_lm: FrozenLM, prompt_dirs, home: Path) -> PromptRegistry:
    """The task, critique and revise prompts registered as active versions on `store`."""
    registry = PromptRegistry(store, model_lm, home / "prompts")
    for directory in prompt_dirs.values():
        registry.register(SoftPrompt.load(directory, lm=model_lm), status="active")
    return registry
