"""Soft prompts and the frozen causal LM they steer."""

from prompts.data import Example, read_jsonl
from prompts.errors import (
    ConfigError,
    DataFileError,
    PromptFileError,
    PromptMismatchError,
    SoftloopError,
)
from prompts.frozen_lm import FrozenLM
from prompts.manifest import PromptManifest
from prompts.peft_interop import export_peft, import_peft
from prompts.prefix_cache import PrefixCache
from prompts.soft_prompt import SoftPrompt
from prompts.training import TrainConfig, TrainReport, train_prompt

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
