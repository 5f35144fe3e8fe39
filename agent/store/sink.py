"""`RunSink`: what the loop needs of a store — somewhere to write a finished run.

`Store` writes it in one transaction; `WriteBehind` queues it for a background thread. Anything
else with the same method (a message queue, a remote collector) can stand in.
"""

from __future__ import annotations

import uuid
from typing import Protocol, runtime_checkable

from softloop.agent.store.records import RunRecord


@runtime_checkable
class RunSink(Protocol):
    def record_run(self, run: RunRecord) -> uuid.UUID:
        """Write (or queue) one run with its attempts and critiques; its id.

        Idempotent on `run.idempotency_key`: writing the same record twice stores it once.
        """
        ...
