"""Stored text reaches the terminal inert (issue 16, defect 13), and names are checked at the
door (defect 2).

A request may carry escape sequences (recolour, move the cursor, retitle the window), bidi
overrides (text that reads differently from what it is), NUL or newlines (forged or hidden
lines). `history`, `show` and `run` print them as visible escapes.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from softloop.agent.store import Store
from tests.agent.cli.driver import invoke

HOSTILE = "ab\x1b[2J\x1b]0;pwned\x07\u202eevil\u2066x\nstatus: passed\x00"
UNSAFE = ("\x1b", "\x07", "\u202e", "\u2066", "\x00")


def test_history_and_show_print_stored_text_inert(store: Store, make_run) -> None:
    record = make_run(input=HOSTILE.replace("\x00", ""), answers=("\x1b[31mred", "ok\u202e"))
    store.record_run(record)
    if store.engine.dialect.name == "sqlite":  # a row stored before inputs were checked
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET input = :v"), {"v": HOSTILE})
    store.add_label(record.id, False, answer="\x1b[5mblink", author="eve\u202e")
    for args in (["history"], ["show", record.id.hex[:8]]):
        result = invoke(store, *args)
        assert result.exit_code == 0, result.output
        assert not any(char in result.output for char in UNSAFE), repr(result.output)
        assert "\\x1b" in result.output and "\\u202e" in result.output
        assert "\nstatus: passed\\x00" not in result.output  # no forged line
    # JSON stays exact (and escaped by the encoder).
    shown = json.loads(invoke(store, "show", record.id.hex[:8], "--json").output)
    assert shown["attempts"][0]["output"] == "\x1b[31mred"


def test_prompts_add_refuses_a_traversal_name_before_anything(
    store: Store, model_dir: Path, prompt_dirs, home: Path
) -> None:
    result = invoke(
        store, "prompts", "add", str(prompt_dirs["t"]), "--name", "../../x", "--model",
        str(model_dir),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'../../x' is not allowed" in str(result.exception)
    assert store.list_prompt_versions() == []
    assert not home.exists() or not any(home.rglob("*.safetensors"))
