"""Property-based: the JSONL reader and the manifest parser on any input (issue 16).

Whatever bytes a data file or a manifest holds, the reader either returns valid data or raises
its one clear error (`DataFileError`, `PromptFileError`, `PromptMismatchError` for a manifest
that names another model): one line. Never
another exception, never a NaN weight, never a name that could leave the registry.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softloop.prompts import (
    DataFileError,
    FrozenLM,
    PromptFileError,
    PromptMismatchError,
    SoftPrompt,
    read_jsonl,
)
from softloop.prompts.names import is_valid_name
from tests.prompts.models import make_lm

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _read(data: bytes) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        path.write_bytes(data)
        return read_jsonl(path), str(path)


def _check_jsonl(data: bytes) -> None:
    try:
        examples, _ = _read(data)
    except DataFileError as err:
        message = str(err)
        assert "\n" not in message and "data.jsonl" in message
        return
    for example in examples:
        assert isinstance(example.input, str) and isinstance(example.output, str)
        assert math.isfinite(example.weight) and example.weight >= 0


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_in_one_line(data: bytes) -> None:
    _check_jsonl(data)


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(["input", "output", "weight", "x"]), json_values)))
def test_any_json_lines_are_read_or_refused_in_one_line(rows: list[dict]) -> None:
    lines = [json.dumps(row, allow_nan=True) for row in rows]
    _check_jsonl("\n".join(lines).encode())


@SETTINGS
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**400)))
def test_a_weight_is_finite_and_non_negative_or_refused(weight: float | int) -> None:
    line = json.dumps({"input": "a", "output": "b", "weight": weight}, allow_nan=True)
    _check_jsonl(line.encode())


@pytest.fixture(scope="module")
def lm() -> FrozenLM:
    return make_lm("llama")


@pytest.fixture(scope="module")
def good_manifest(lm: FrozenLM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = SoftPrompt.from_init(lm, 2, "vocab", name="ok").save(tmp_path_factory.mktemp("m") / "p")
    return json.loads((path / "manifest.json").read_text())


def _load(lm: FrozenLM, template: Path, manifest_bytes: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p"
        path.mkdir()
        (path / "prompt.safetensors").write_bytes((template / "prompt.safetensors").read_bytes())
        (path / "manifest.json").write_bytes(manifest_bytes)
        try:
            prompt = SoftPrompt.load(path, lm)
        except (PromptFileError, PromptMismatchError) as err:
            assert "\n" not in str(err)
            return
        assert is_valid_name(prompt.manifest.name)


@pytest.fixture(scope="module")
def template(lm: FrozenLM, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SoftPrompt.from_init(lm, 2, "vocab", name="ok").save(tmp_path_factory.mktemp("t") / "p")


def test_any_manifest_bytes_load_or_are_refused_in_one_line(lm, template) -> None:
    @SETTINGS
    @given(st.binary(max_size=400))
    def check(data: bytes) -> None:
        _load(lm, template, data)

    check()


def test_a_manifest_with_any_field_changed_loads_or_is_refused_in_one_line(
    lm, template, good_manifest
) -> None:
    @SETTINGS
    @given(st.sampled_from(sorted(good_manifest)), json_values)
    @hypothesis.example("metrics", {"\n": None})  # a line break in a key an error names
    def check(field: str, value: Any) -> None:
        manifest = {**good_manifest, field: value}
        _load(lm, template, json.dumps(manifest, allow_nan=True).encode())

    check()
