"""`python -m softloop.bench.reliability`, scaled down (issue 16): every scenario holds.

The full run (8 agents x 250 runs, 20 refiner kills, 4 refiners x 10 cycles, the whole corpus)
is the README's table; here each scenario runs small enough for CI and must still lose nothing,
double nothing, and refuse every bad input in one line.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from softloop.bench.reliability import SCENARIOS, ReliabilityConfig, main, run, table

pytestmark = pytest.mark.slow  # processes, a model each, and one PostgreSQL database per scenario


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "refiners"])
def test_the_scenario_holds(scenario: str, pg_server) -> None:
    [result] = run(ReliabilityConfig.quick(scenarios=(scenario,)))
    assert result.ok, result.model_dump_json(indent=2)
    assert result.lost == 0 and result.duplicated == 0
    assert result.stored == result.expected
    if scenario == "kills":
        assert result.details["connections_killed"] > 0
    if scenario == "refiner-kills":
        assert result.details["orphan_directories"] == 0
        assert result.details["jobs_left_running"] == 0


def test_the_command_prints_json_and_the_table(pg_server) -> None:
    result = CliRunner().invoke(main, ["--quick", "--scenarios", "refiners", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    [refiners] = payload["results"]
    assert refiners["name"] == "refiners" and refiners["ok"]
    assert refiners["details"]["trained_twice_in_a_cycle"] == 0
    assert "admin_url" not in payload["config"]


def test_the_table_has_one_row_per_scenario() -> None:
    from softloop.bench.reliability import ScenarioResult

    fields = dict(load="l", faults="f", unit="runs", expected=1, stored=1, duplicated=0, lost=0)
    rows = [ScenarioResult(name=n, ok=True, **fields) for n in SCENARIOS]
    lines = table(rows).splitlines()
    assert len(lines) == 2 + len(SCENARIOS) and lines[2].startswith("| load |")
