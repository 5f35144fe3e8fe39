"""`softloop demo --db URL` never shows the URL's password (issue 16, defect 11).

Not on the terminal, not in `report.json` (a file people share), not for a URL that does not
parse or has a port that is not a number (which once ended in a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from softloop.bench.demo_cli import demo

SECRET = "s3cr3t-pw"


class NoCycles:
    """Stands in for the demo's engine: no model, no traffic, an empty report."""

    def __init__(self, url: str, home: Path, config: object) -> None:
        self.store = self

    def run(self):
        return iter(())

    def close(self) -> None:
        pass


def test_the_report_and_the_terminal_show_the_url_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("softloop.bench.cycles.Cycles", NoCycles)
    url = f"postgresql+psycopg://demo:{SECRET}@db.example:5432/softloop"
    result = CliRunner().invoke(demo, ["--db", url, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "demo:***@db.example" in result.output
    report = (tmp_path / "out" / "report.json").read_text()
    assert SECRET not in report
    assert json.loads(report)["db"] == "postgresql+psycopg://demo:***@db.example:5432/softloop"


@pytest.mark.parametrize(
    "url",
    [f"postgresql://demo:{SECRET}@db.example:port/x", f"demo:{SECRET}@db.example/x"],
)
def test_an_unusable_url_is_one_masked_line(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from softloop.bench.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["demo", "--db", url, "--out", str(tmp_path / "out")])
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1
