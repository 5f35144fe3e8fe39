"""The reference world (task suite, tiny base model recipe, default prompts) and benchmarks.

Importing `softloop.bench` is cheap (no torch): the task suite, the text formats and the asset
paths. The recipe (`python -m softloop.bench.pretrain`), the default prompts
(`python -m softloop.bench.train_prompts`) and the benchmarks (`softloop.bench.reference`,
`.critic`, `.loop`, `.improve`, `.store`, `.perf`, `.reliability`) are modules run on their own.
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
