"""Keeping stderr for softloop's own lines while a model loads.

transformers prints loading bars and warnings of its own; a command's stderr is for its
progress and softloop's warnings and errors, one line each (a GGUF conversion announces itself
in one line, `prompts.gguf`).
"""

from __future__ import annotations


def quiet_loading() -> None:
    """Turn off transformers' progress bars and its warnings below errors, for this process."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
