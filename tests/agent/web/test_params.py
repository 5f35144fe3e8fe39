"""The runs list's query string: the CLI's meanings, links that keep the filters."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
from starlette.exceptions import HTTPException

from softloop.agent.web.params import MAX_PER_PAGE, PER_PAGE, RunQuery, run_query


def test_empty_fields_mean_no_filter() -> None:
    query = run_query({"task": "", "status": " ", "search": "", "page": "", "per_page": ""})
    assert query == RunQuery()
    assert query.filters() == dict(
        task=None, status=None, since=None, until=None, prompt_version=None, search=None
    )
    assert query.query_string() == "" and query.offset == 0


def test_filters_are_read_as_the_cli_reads_them() -> None:
    query = run_query(
        {
            "task": "reverse",
            "status": "gave_up",
            "since": "2026-11-28",
            "until": "2026-11-30T12:00",
            "prompt": "reverse@3",
            "search": "olleh",
            "page": "3",
            "per_page": "10",
        }
    )
    assert query.since == datetime(2026, 11, 28, tzinfo=UTC)
    assert query.until == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert query.offset == 20 and query.narrower_than_stats
    assert query.stats_filters() == dict(task="reverse", since=query.since, until=query.until)
    assert query.filters()["prompt_version"] == "reverse@3"
    # Links keep every filter as typed, and change only what they say.
    params = parse_qs(query.query_string(page=4))
    assert params["page"] == ["4"] and params["since"] == ["2026-11-28"]
    assert params["per_page"] == ["10"] and params["prompt"] == ["reverse@3"]
    assert "page" not in parse_qs(query.filter_string())


def test_ages_are_relative_to_now() -> None:
    query = run_query({"since": "7d"})
    assert query.since is not None and query.since < datetime.now(UTC)
    assert query.since_text == "7d"


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-3"},
        {"page": "1.5"},
        {"per_page": "0"},
        {"per_page": str(MAX_PER_PAGE + 1)},
        {"status": "running"},  # never stored
        {"since": "soon"},
        {"prompt": "reverse@x"},
        {"since": "2026-11-30", "until": "2026-11-29"},
    ],
)
def test_bad_values_are_a_400(params: dict[str, str]) -> None:
    with pytest.raises(HTTPException) as caught:
        run_query(params)
    assert caught.value.status_code == 400 and "\n" not in caught.value.detail


def test_defaults() -> None:
    assert run_query({}).per_page == PER_PAGE and run_query({}).page == 1
