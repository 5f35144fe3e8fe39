"""Training examples and the JSONL files they come in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from softloop.prompts.errors import DataFileError


@dataclass(frozen=True)
class Example:
    """One supervised pair; `weight` scales this example's loss (e.g. 3× for a rare class)."""

    input: str
    output: str
    weight: float = 1.0


def read_jsonl(path: str | Path) -> list[Example]:
    """One `{"input": ..., "output": ...[, "weight": ...]}` object per line; blank lines skipped.

    A bad line raises `DataFileError` naming the file and line number, because a data file with
    thousands of lines is otherwise hopeless to fix.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
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
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("input"), str)
            or not isinstance(obj.get("output"), str)
        ):
            raise DataFileError(
                f'{where} must be an object with string fields "input" and "output"'
            )
        weight = obj.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise DataFileError(f'{where} has "weight" {weight!r}; use a non-negative number')
        examples.append(Example(obj["input"], obj["output"], float(weight)))
    if not examples:
        raise DataFileError(f"{path} holds no examples; add one JSON object per line")
    return examples
