"""Where the shipped reference world lives: the base model and the default soft prompts.

Paths are resolved from this file, so they work from a source checkout, an editable install
and a wheel alike (the assets are package data: `*.json`, `*.safetensors`, `*.md`).

    from softloop.bench.world import reference_model_path, default_prompt_path
    lm = FrozenLM.from_pretrained(reference_model_path())
    prompt = SoftPrompt.load(default_prompt_path("reverse"), lm=lm)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from softloop.agent.world import World, WorldTask
from softloop.bench import formats
from softloop.bench.tasks import TASKS, Task
from softloop.critics import Doubt, position_hint
from softloop.prompts.errors import SoftloopError

if TYPE_CHECKING:
    from softloop.critics.soft_prompt_critic import CriticFormat

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CRITIQUE = "critique"  # name of the default critique prompt
REVISE = "revise"  # name of the default revise prompt
DEFAULT_PROMPTS: tuple[str, ...] = (*TASKS, CRITIQUE, REVISE)
# The id recorded in manifests of prompts made for the reference model, whatever the install path.
REFERENCE_MODEL_ID = "softloop/reference"
# Dev examples per task in the refiner's fixed task eval sets: enough that one example moves
# accuracy by one point, while scoring active and candidate stays a few seconds per task.
EVAL_PER_TASK = 100
# Dev inputs per task whose own greedy and sampled answers form the critique eval set.
CRITIQUE_EVAL_PER_TASK = 8


def reference_model_path() -> Path:
    """Folder of the tiny base model: `AutoModelForCausalLM.from_pretrained(path)` loads it."""
    path = REFERENCE_DIR / "model"
    if not (path / "config.json").is_file():
        raise SoftloopError(
            f"the reference model is missing from {path}; reinstall softloop or run "
            "`python -m softloop.bench.pretrain`"
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
            "`python -m softloop.bench.train_prompts`"
        )
    return path


def _claims(task: Task) -> Callable[[str, str], list[str]]:
    return lambda x, a: [s.claim for s in task.steps(x, a)]


def _steps(task: Task) -> Callable[[str, str], list[tuple[str, bool]]]:
    return lambda x, a: [(s.claim, s.ok) for s in task.steps(x, a)]


def claim_hint(task: str, doubt: Doubt) -> str:
    """`no {claim}`, the words the revise prompt was trained on, for the confidence critic.

    The claim is the answer's first step that holds the character the model doubted (its last
    step where it doubted the end): what the answer says there, read from the answer alone, not
    whether it holds. Falls back to the position where no step holds it.
    """
    found = TASKS.get(task)
    if found is None or not doubt.answer:
        return position_hint(task, doubt)
    claims = [s.claim for s in found.steps(doubt.input, doubt.answer) if s.claim]
    if not claims:
        return position_hint(task, doubt)
    if doubt.offset >= len(doubt.answer):
        return f"no {claims[-1]}"
    char = doubt.answer[doubt.offset]
    return next((f"no {c}" for c in claims if char in c), position_hint(task, doubt))


def reference_world() -> World:
    """The embedded default: the reference model, its tasks and its shipped prompts."""
    tasks = {
        name: WorldTask(
            label=task.instruction,
            check=task.check,
            hint=task.hint,
            eval_examples=task.split("dev", EVAL_PER_TASK),
            critique_inputs=[x for x, _ in task.split("dev", CRITIQUE_EVAL_PER_TASK, seed=1)],
            claims=_claims(task),
            steps=_steps(task),
        )
        for name, task in TASKS.items()
    }
    return World(
        model_path=reference_model_path(),
        model_id=REFERENCE_MODEL_ID,
        tasks=tasks,
        # Where they live, not whether they are there: a command that only needs the model
        # works before `softloop.bench.train_prompts` has run.
        default_prompts={name: REFERENCE_DIR / "prompts" / name for name in DEFAULT_PROMPTS},
        pass_mark=formats.PASS_MARK,
        fail_mark=formats.FAIL_MARK,
        doubt_hint=claim_hint,
    )


def critic_format() -> CriticFormat:
    """How the reference model's critique prompt reads a case and writes its check trace."""
    from softloop.critics.soft_prompt_critic import CriticFormat  # not needed to read tasks

    def claims(task: str, x: str, a: str) -> list[str]:
        return [s.claim for s in TASKS[task].steps(x, a)] if task in TASKS else [""]

    return CriticFormat(
        pass_mark=formats.PASS_MARK,
        fail_mark=formats.FAIL_MARK,
        step_sep=formats.STEP_SEP,
        task_labels={name: t.instruction for name, t in TASKS.items()},
        claims=claims,
    )
