"""The loop's words, one definition each, shared by the graph, the store and the CLI.

A run's status is defined here; a verdict belongs to the critics and a prompt's kind to the
prompts, and both are re-exported so that the rest of `softloop.agent` imports them from one
place. The database's check constraints are built from the same enums.
"""

from __future__ import annotations

from enum import StrEnum

from softloop.critics.critique import Verdict
from softloop.prompts.manifest import PromptKind


class RunStatus(StrEnum):
    """Where a request through the loop stands."""

    RUNNING = "running"  # in the graph; never stored
    PASSED = "passed"  # an attempt passed the critic
    FAILED = "failed"  # ended without an answer worth returning (kept for stored history)
    GAVE_UP = "gave_up"  # out of rounds; the answer returned is the fallback's pick
    ERROR = "error"  # the graph stopped before finishing


# What a stored run may say: a run is written once it has finished.
STORED_RUN_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.PASSED,
    RunStatus.FAILED,
    RunStatus.GAVE_UP,
    RunStatus.ERROR,
)

__all__ = ["STORED_RUN_STATUSES", "PromptKind", "RunStatus", "Verdict"]
