"""The reference world (task suite, tiny base model recipe, default prompts) and benchmarks.

Importing `bench` is cheap (no torch): the task suite, the text formats and the asset paths.
The recipe (`python -m bench.pretrain`), the default prompts (`python -m bench.train_prompts`)
and the benchmark (`python -m bench.reference`) are modules run on their own.
"""

from softloop.bench import formats
from softloop.bench.tasks import SPLITS, TASKS, Task, get_task
from softloop.bench.world import (
    CRITIQUE,
    DEFAULT_PROMPTS,
    REVISE,
    default_prompt_path,
    reference_model_path,
)

__all__ = [
    "CRITIQUE",
    "DEFAULT_PROMPTS",
    "REVISE",
    "SPLITS",
    "TASKS",
    "Task",
    "default_prompt_path",
    "formats",
    "get_task",
    "reference_model_path",
]
