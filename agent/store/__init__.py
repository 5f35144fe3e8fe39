"""The correction-history store: every run, attempt, critique and label, in SQL.

`Store` is the entry point; the ORM models are exported for code that queries directly (the
refiner), the records for code that writes (the loop).
"""

from softloop.agent.store.errors import (
    AmbiguousRunIdError,
    DatabaseUnavailableError,
    JobNotFoundError,
    PromptVersionNotFoundError,
    RunNotFoundError,
    SchemaOutdatedError,
    StoreError,
)
from softloop.agent.store.models import (
    Attempt,
    Base,
    CritiqueRow,
    JobStatus,
    Label,
    LabelSource,
    PromptStatus,
    PromptVersion,
    RefineJob,
    Run,
    RunPromptVersion,
)
from softloop.agent.store.records import (
    AttemptRecord,
    AttemptView,
    CritiqueRecord,
    CritiqueView,
    LabelView,
    RunDetail,
    RunRecord,
    RunSummary,
    StatsReport,
    StatsRow,
)
from softloop.agent.store.sink import RunSink
from softloop.agent.store.store import Store
from softloop.agent.vocabulary import PromptKind, RunStatus, Verdict

__all__ = [
    "AmbiguousRunIdError",
    "Attempt",
    "AttemptRecord",
    "AttemptView",
    "Base",
    "CritiqueRecord",
    "CritiqueRow",
    "CritiqueView",
    "DatabaseUnavailableError",
    "JobNotFoundError",
    "JobStatus",
    "Label",
    "LabelSource",
    "LabelView",
    "PromptKind",
    "PromptStatus",
    "PromptVersion",
    "PromptVersionNotFoundError",
    "RefineJob",
    "Run",
    "RunDetail",
    "RunNotFoundError",
    "RunPromptVersion",
    "RunRecord",
    "RunSink",
    "RunStatus",
    "RunSummary",
    "SchemaOutdatedError",
    "StatsReport",
    "StatsRow",
    "Store",
    "StoreError",
    "Verdict",
]
