"""Soft prompts and the frozen causal LM they steer.

The errors and plain data types import at once; the torch-backed names load on first use, so
that code needing only `prompts.errors` (the CLI's help, a store-only process) does not pay
for importing torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softloop.prompts.data import Example, read_jsonl
from softloop.prompts.errors import (
    ConfigError,
    DataFileError,
    PromptFileError,
    PromptMismatchError,
    SoftloopError,
)
from softloop.prompts.lazy import lazy_exports
from softloop.prompts.protocols import PromptedLM

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM
    from softloop.prompts.manifest import PromptManifest
    from softloop.prompts.peft_interop import export_peft, import_peft
    from softloop.prompts.prefix_cache import PrefixCache
    from softloop.prompts.soft_prompt import SoftPrompt
    from softloop.prompts.training import TrainConfig, TrainReport, train_prompt

_LAZY = {
    "FrozenLM": "softloop.prompts.frozen_lm",
    "PromptManifest": "softloop.prompts.manifest",
    "export_peft": "softloop.prompts.peft_interop",
    "import_peft": "softloop.prompts.peft_interop",
    "PrefixCache": "softloop.prompts.prefix_cache",
    "SoftPrompt": "softloop.prompts.soft_prompt",
    "TrainConfig": "softloop.prompts.training",
    "TrainReport": "softloop.prompts.training",
    "train_prompt": "softloop.prompts.training",
}


__getattr__ = lazy_exports("softloop.prompts", _LAZY, globals())


__all__ = [
    "ConfigError",
    "DataFileError",
    "Example",
    "FrozenLM",
    "PrefixCache",
    "PromptFileError",
    "PromptManifest",
    "PromptMismatchError",
    "PromptedLM",
    "SoftPrompt",
    "SoftloopError",
    "TrainConfig",
    "TrainReport",
    "export_peft",
    "import_peft",
    "read_jsonl",
    "train_prompt",
]
