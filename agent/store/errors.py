"""The store's errors: each message is one sentence saying what is wrong and what to do."""

from __future__ import annotations

from softloop.prompts.errors import SoftloopError


class StoreError(SoftloopError):
    """Any problem with the correction-history database that a user can act on."""


class DatabaseUnavailableError(StoreError):
    """The database could not be reached, even after retrying."""


class SchemaOutdatedError(StoreError):
    """The database's schema is not the one this softloop needs (older, empty or newer)."""


class RunNotFoundError(StoreError):
    """No run matches the given id or id prefix."""


class AmbiguousRunIdError(StoreError):
    """An id prefix matches more than one run."""


class PromptVersionNotFoundError(StoreError):
    """No registered prompt version has that name and version."""


class JobNotFoundError(StoreError):
    """No refine job has that id."""
