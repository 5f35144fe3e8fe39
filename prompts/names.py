"""One rule for names and one for text, checked wherever either enters softloop.

A prompt or task name becomes a directory under the registry (`<root>/<name>/v3-…`), a key in
64-character database columns, a CLI argument and a field of manifests that may come from
elsewhere. One pattern, the same at every door, keeps `../x`, `a/b`, control characters, names
that differ only in case (one directory on macOS and Windows) and over-long names out of all of
them at once.

Text (a request, a stored answer) may be anything a person types, except what one of the two
databases cannot hold: PostgreSQL refuses NUL in text and neither stores a lone UTF-16
surrogate. Refusing both here, for SQLite too, means a run is either storable everywhere or
refused up front, never stored on one database and spooled forever on the other.
"""

from __future__ import annotations

import re

from softloop.prompts.errors import SoftloopError

NAME_MAX = 64  # the store's name columns are String(64)
NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class InvalidNameError(SoftloopError, ValueError):
    """A prompt or task name breaks the naming rule (a ValueError too, for pydantic)."""


class InvalidTextError(SoftloopError, ValueError):
    """Text holds a character a database cannot store (a ValueError too, for pydantic)."""


def check_name(name: object, what: str = "name") -> str:
    """`name` if it follows the rule; else one sentence saying what is wrong."""
    if not isinstance(name, str):
        raise InvalidNameError(f"a {what} must be text, got {type(name).__name__}")
    if len(name) > NAME_MAX:
        raise InvalidNameError(
            f"the {what} {name[:20]!r}… is {len(name)} characters long; use at most {NAME_MAX}"
        )
    if not _NAME.fullmatch(name):
        raise InvalidNameError(f"the {what} {name!r} is not allowed; use {NAME_RULE}")
    return name


def is_valid_name(name: object) -> bool:
    try:
        check_name(name)
    except InvalidNameError:
        return False
    return True


def check_text(text: str, what: str = "text") -> str:
    """`text` if both databases can store it; else one sentence naming the first bad character."""
    position = text.find("\x00")
    if position >= 0:
        raise InvalidTextError(
            f"the {what} contains a NUL character (at position {position}), which the database "
            "cannot store; remove it"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidTextError(
            f"the {what} contains an unpaired surrogate (at position {err.start}), which is not "
            "valid Unicode text; remove it"
        ) from None
    return text
