"""The correction-history store: every run, attempt, critique and label, in SQL.

`Store` is the entry point; the ORM models are exported for code that queries directly (the
refiner), the records for code that writes (the loop).
"""

from agent.store.errors import (
    AmbiguousRunIdError,
    DatabaseUnavailableError,
    JobNotFoundError,
    PromptVersionNotFoundError,
    RunNotFoundError,
    SchemaOutdatedError,
    StoreError,
)
from agent.store.models import (
    Attempt,
    Base,
    CritiqueRow,
    JobStatus,
    Label,
    LabelSource,
    PromptKind,
    PromptStatus,
    PromptVersion,
    RefineJob,
    Run,
    RunPromptVersion,
    RunStatus,
    Verdict,
)
from agent.store.records import (
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
from agent.store.store import Store

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
    "RunStatus",
    "RunSummary",
    "SchemaOutdatedError",
    "StatsReport",
    "StatsRow",
    "Store",
    "StoreError",
    "Verdict",
]
