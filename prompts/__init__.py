"""Soft prompts and the frozen causal LM they steer.

The errors and plain data types import at once; the torch-backed names load on first use, so
that code needing only `prompts.errors` (the CLI's help, a store-only process) does not pay
for importing torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompts.data import Example, read_jsonl
from prompts.errors import (
    ConfigError,
    DataFileError,
    PromptFileError,
    PromptMismatchError,
    SoftloopError,
)
from prompts.lazy import lazy_exports

if TYPE_CHECKING:
    from prompts.frozen_lm import FrozenLM
    from prompts.manifest import PromptManifest
    from prompts.peft_interop import export_peft, import_peft
    from prompts.prefix_cache import PrefixCache
    from prompts.soft_prompt import SoftPrompt
    from prompts.training import TrainConfig, TrainReport, train_prompt

_LAZY = {
    "FrozenLM": "prompts.frozen_lm",
    "PromptManifest": "prompts.manifest",
    "export_peft": "prompts.peft_interop",
    "import_peft": "prompts.peft_interop",
    "PrefixCache": "prompts.prefix_cache",
    "SoftPrompt": "prompts.soft_prompt",
    "TrainConfig": "prompts.training",
    "TrainReport": "prompts.training",
    "train_prompt": "prompts.training",
}


__getattr__ = lazy_exports("prompts", _LAZY, globals())


__all__ = [
    "ConfigError",
    "DataFileError",
    "Example",
    "FrozenLM",
    "PrefixCache",
    "PromptFileError",
    "PromptManifest",
    "PromptMismatchError",
    "SoftPrompt",
    "SoftloopError",
    "TrainConfig",
    "TrainReport",
    "export_peft",
    "import_peft",
    "read_jsonl",
    "train_prompt",
]
