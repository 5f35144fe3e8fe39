"""Soft prompts and the frozen causal LM they steer."""

from prompts.errors import SoftloopError

__all__ = ["SoftloopError"]
