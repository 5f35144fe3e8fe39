"""The JSON half of a saved prompt: what it is, what it was made for, and how it scored.

The manifest travels with the tensor so a prompt file is self-describing: the registry, the
refiner and `SoftPrompt.load` all decide from it whether a prompt fits a model without opening
the model's weights.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from softloop.prompts.names import check_name


class PromptKind(StrEnum):
    """What a prompt does in the loop; the store and the CLI use the same words."""

    TASK = "task"  # answers requests of one task
    CRITIQUE = "critique"  # judges an answer: pass or fail, and why
    REVISE = "revise"  # rewrites a failed answer given the critique


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PromptManifest(BaseModel):
    """Metadata of one prompt version; `(n_tokens, hidden_size)` is the tensor's shape."""

    name: str
    version: int = 1
    kind: PromptKind = PromptKind.TASK
    n_tokens: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    base_model_id: str
    # sha256 of the base model's input embedding matrix (see FrozenLM.fingerprint): the id can
    # name different weights over time, the fingerprint cannot.
    base_fingerprint: str
    init: str
    template: str = "{input}"
    parent: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_utc_now)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # A manifest may come from elsewhere, and its name becomes a registry directory.
        return check_name(name, "prompt name")

    @field_validator("template")
    @classmethod
    def _one_input_field(cls, template: str) -> str:
        check_template(template)
        return template

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Naive datetimes are taken to be UTC so that manifests compare and sort consistently.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_template(template: str) -> None:
    """Raise ValueError unless `template` formats with exactly one field, `{input}`."""
    import string

    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise ValueError(
            f"template {template!r} is not a valid format string ({err}); "
            "escape literal braces as {{ and }}"
        ) from err
    if fields != {"input"}:
        raise ValueError(
            f"template {template!r} must contain the single field {{input}} and no other "
            f"(found {sorted(fields) or 'none'})"
        )
