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


PROMPT_SLOT = "prompt"  # the optional field that places the virtual tokens inside a template


def check_template(template: str) -> None:
    """Raise ValueError unless `template` has the field `{input}` and at most `{prompt}` besides.

    `{prompt}` (once, before the input) says where the virtual tokens go, e.g. inside a chat
    template's user turn; without it they go first, right after BOS. The text before the slot
    must not depend on the input, because it is part of the prompt's cached prefix.
    """
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise ValueError(
            f"template {template!r} is not a valid format string ({err}); "
            "escape literal braces as {{ and }}"
        ) from err
    if "input" not in fields or set(fields) - {"input", PROMPT_SLOT}:
        raise ValueError(
            f"template {template!r} must contain the single field {{input}} and no other "
            f"but an optional {{prompt}} (found {sorted(set(fields)) or 'none'})"
        )
    if fields.count(PROMPT_SLOT) > 1:
        raise ValueError(f"template {template!r} places the virtual tokens ({{prompt}}) twice")
    if PROMPT_SLOT in fields and fields.index(PROMPT_SLOT) > fields.index("input"):
        raise ValueError(
            f"template {template!r} puts {{prompt}} after {{input}}; the virtual tokens must "
            "come before the input"
        )


def split_template(template: str) -> tuple[str, str]:
    """The literal text before `{prompt}` (braces unescaped) and the format string after it.

    A template without the slot has nothing before the virtual tokens: `("", template)`.
    """
    import string

    parts = list(string.Formatter().parse(template))
    for i, (_, field, _, _) in enumerate(parts):
        if field == PROMPT_SLOT:
            head = "".join(literal for literal, _, _, _ in parts[: i + 1])
            return head, "".join(_unparse(part) for part in parts[i + 1 :])
        if field is not None:
            break
    return "", template


def _unparse(part: tuple[str, str | None, str | None, str | None]) -> str:
    literal, field, spec, conv = part
    text = literal.replace("{", "{{").replace("}", "}}")
    if field is None:
        return text
    return text + "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
