"""Reading the runs list's query string into the store's filters, or one line saying what is wrong.

The filters mean what `softloop history` and `softloop stats` make of the same words: dates and
ages go through the CLI's own `parse_when`, statuses are the stored ones, prompt versions are
read by the store's `parse_prompt_ref`. A value that cannot be read is a 400 with a sentence,
never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException

from softloop.agent.cli.review import RUN_STATUSES, parse_when
from softloop.agent.store.queries import parse_prompt_ref
from softloop.prompts.errors import SoftloopError

PER_PAGE = 25
MAX_PER_PAGE = 200


def bad_request(message: str) -> HTTPException:
    return HTTPException(400, message)


def _whole_number(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return value


def _when(params: Mapping[str, str], name: str) -> datetime | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return parse_when(text, f"the {name!r} filter")
    except SoftloopError as err:
        raise bad_request(str(err)) from None


@dataclass(frozen=True)
class RunQuery:
    """The runs list's filters and page, as typed (for the form) and as read (for the store)."""

    task: str | None = None
    status: str | None = None
    since_text: str | None = None
    until_text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    prompt: str | None = None
    search: str | None = None
    page: int = 1
    per_page: int = PER_PAGE

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `Store.list_runs`, `Store.iter_runs` and `export_jsonl`."""
        return dict(
            task=self.task,
            status=self.status,
            since=self.since,
            until=self.until,
            prompt_version=self.prompt,
            search=self.search,
        )

    def stats_filters(self) -> dict[str, Any]:
        """The filters `Store.stats` understands (as `softloop stats`: task and dates)."""
        return dict(task=self.task, since=self.since, until=self.until)

    @property
    def narrower_than_stats(self) -> bool:
        """True when the list is filtered by something the figures cannot be."""
        return any((self.status, self.prompt, self.search))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def typed(self) -> dict[str, str]:
        """The filters as the user typed them, without the empty ones."""
        values = {
            "task": self.task,
            "status": self.status,
            "since": self.since_text,
            "until": self.until_text,
            "prompt": self.prompt,
            "search": self.search,
        }
        return {k: v for k, v in values.items() if v}

    def query_string(self, **changes: Any) -> str:
        """This query with `changes` applied, URL-encoded (page 1 and the default size left out)."""
        query = replace(self, **changes)
        params = query.typed()
        if query.page != 1:
            params["page"] = str(query.page)
        if query.per_page != PER_PAGE:
            params["per_page"] = str(query.per_page)
        return urlencode(params)

    def filter_string(self) -> str:
        """Only the filters, URL-encoded (for the export link)."""
        return urlencode(self.typed())


def run_query(params: Mapping[str, str]) -> RunQuery:
    """Read and check the runs list's query parameters; raises a 400 `HTTPException`."""

    def text(name: str) -> str | None:
        return (params.get(name) or "").strip() or None

    status = text("status")
    if status is not None and status not in RUN_STATUSES:
        raise bad_request(f"status {status!r} is not one of {', '.join(RUN_STATUSES)}")
    prompt = text("prompt")
    if prompt is not None:
        try:
            parse_prompt_ref(prompt)
        except SoftloopError as err:
            raise bad_request(str(err)) from None
    since, until = _when(params, "since"), _when(params, "until")
    if since is not None and until is not None and since >= until:
        raise bad_request("the 'since' filter must be earlier than the 'until' filter")
    return RunQuery(
        task=text("task"),
        status=status,
        since_text=text("since"),
        until_text=text("until"),
        since=since,
        until=until,
        prompt=prompt,
        search=text("search"),
        page=_whole_number(params, "page", 1, 1, 1_000_000),
        per_page=_whole_number(params, "per_page", PER_PAGE, 1, MAX_PER_PAGE),
    )


__all__ = ["MAX_PER_PAGE", "PER_PAGE", "RunQuery", "bad_request", "run_query"]
