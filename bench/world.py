"""Where the shipped reference world lives: the base model and the default soft prompts.

Paths are resolved from this file, so they work from a source checkout, an editable install
and a wheel alike (the assets are package data: `*.json`, `*.safetensors`, `*.md`).

    from bench.world import reference_model_path, default_prompt_path
    lm = FrozenLM.from_pretrained(reference_model_path())
    prompt = SoftPrompt.load(default_prompt_path("reverse"), lm=lm)
"""

from __future__ import annotations

from pathlib import Path

from bench.tasks import TASKS
from prompts.errors import SoftloopError

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CRITIQUE = "critique"  # name of the default critique prompt
REVISE = "revise"  # name of the default revise prompt
DEFAULT_PROMPTS: tuple[str, ...] = (*TASKS, CRITIQUE, REVISE)


def reference_model_path() -> Path:
    """Folder of the tiny base model: `AutoModelForCausalLM.from_pretrained(path)` loads it."""
    path = REFERENCE_DIR / "model"
    if not (path / "config.json").is_file():
        raise SoftloopError(
            f"the reference model is missing from {path}; reinstall softloop or run "
            "`python -m bench.pretrain`"
        )
    return path


def default_prompt_path(name: str) -> Path:
    """Folder of a shipped default soft prompt: a task name, `critique` or `revise`."""
    if name not in DEFAULT_PROMPTS:
        raise SoftloopError(
            f"no default prompt called {name!r}; the shipped ones are: {', '.join(DEFAULT_PROMPTS)}"
        )
    path = REFERENCE_DIR / "prompts" / name
    if not path.is_dir():
        raise SoftloopError(
            f"the default prompt {name!r} is missing from {path}; reinstall softloop or run "
            "`python -m bench.train_prompts`"
        )
    return path
