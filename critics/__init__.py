"""Judging an answer: the critique soft prompt, programmatic checks, and their composition."""

__all__: list[str] = []
