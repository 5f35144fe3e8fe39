"""Training examples and the JSONL files they come in."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from softloop.prompts.errors import DataFileError
from softloop.prompts.names import InvalidTextError, check_text


@dataclass(frozen=True)
class Example:
    """One supervised pair; `weight` scales this example's loss (e.g. 3× for a rare class)."""

    input: str
    output: str
    weight: float = 1.0


def read_jsonl(path: str | Path) -> list[Example]:
    """One `{"input": ..., "output": ...[, "weight": ...]}` object per line; blank lines skipped.

    A bad line raises `DataFileError` naming the file and line number, because a data file with
    thousands of lines is otherwise hopeless to fix. A weight must be a finite number: JSON
    readers accept `NaN` and `Infinity`, and one such weight turns the whole loss into NaN.
    Lines end at newlines only (not at the other separators `str.splitlines` knows, which JSON
    allows inside strings).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(f"cannot read {path} ({err}); pass a UTF-8 JSONL file") from err
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFileError(
                f"{where} is not valid JSON ({err.msg}); write one JSON object per line"
            ) from err
        except RecursionError:
            raise DataFileError(
                f"{where} is nested too deeply to read; write one flat JSON object per line"
            ) from None
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("input"), str)
            or not isinstance(obj.get("output"), str)
        ):
            raise DataFileError(
                f'{where} must be an object with string fields "input" and "output"'
            )
        try:
            for field in ("input", "output"):
                check_text(obj[field], f'"{field}"')
        except InvalidTextError as err:
            raise DataFileError(f"{where}: {err}") from None
        examples.append(Example(obj["input"], obj["output"], _weight(obj, where)))
    if not examples:
        raise DataFileError(f"{path} holds no examples; add one JSON object per line")
    return examples


def _weight(obj: dict, where: str) -> float:
    weight = obj.get("weight", 1.0)
    bad = DataFileError(f'{where} has "weight" {_short(weight)}; use a finite non-negative number')
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise bad
    try:
        value = float(weight)
    except OverflowError:  # an integer too large for a float
        raise bad from None
    if not math.isfinite(value) or value < 0:
        raise bad
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
