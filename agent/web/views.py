"""What each page shows, gathered from the store's public API and shaped for the templates.

Every figure comes from a `Store` method the CLI uses too (`list_runs`, `get_run`, `stats`,
`list_prompt_versions`, `list_jobs`), so the page and `softloop history | show | stats | prompts`
cannot disagree. Nothing here builds SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from softloop.agent.store import (
    AttemptView,
    PromptVersion,
    RefineJob,
    RunDetail,
    RunSummary,
    StatsRow,
    Store,
)
from softloop.agent.web.charts import Chart, Series, rate_bars, rate_lines
from softloop.agent.web.diff import AttemptDiff, diff_texts
from softloop.agent.web.params import RunQuery

CHART_DAYS = 30  # the day chart's span: enough for a month's trend, still readable as bars
TABLE_DAYS = 14  # the per-day table's rows, newest first
PREFERRED_METRICS = ("accuracy", "critic_balanced_accuracy")  # what the refiner's gate measures

# What each final status means, in the words of `agent.vocabulary.RunStatus`.
STATUS_REASONS = {
    "passed": "an attempt passed the critic",
    "failed": "ended without an answer worth returning",
    "gave_up": "out of rounds; the answer returned is the fallback's pick",
    "error": "the graph stopped before finishing",
}


@dataclass(frozen=True)
class Overview:
    """The figures of `softloop stats` over the list's task and dates, and the day chart."""

    total: StatsRow
    by_prompt: list[StatsRow]
    by_day: list[StatsRow]  # newest first, at most TABLE_DAYS
    days: int  # how many days have runs in all
    chart: Chart


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunSummary]
    has_next: bool
    overview: Overview
    prompt_refs: list[str]  # for the prompt filter's suggestions
    tasks: list[str]  # for the task filter's suggestions


def overview(store: Store, query: RunQuery) -> Overview:
    by_prompt = store.stats(by="prompt_version", **query.stats_filters())
    by_day = store.stats(by="day", **query.stats_filters())
    days = sorted(by_day.rows, key=lambda r: r.key or "")
    shown = days[-CHART_DAYS:]
    chart = rate_bars(
        [(r.key or "")[5:] for r in shown],  # MM-DD: the year would crowd the axis
        [
            Series("pass", "pass rate", tuple(r.pass_rate for r in shown)),
            Series(
                "first",
                "first-attempt pass rate",
                tuple(r.first_attempt_pass_rate for r in shown),
            ),
        ],
        title="pass rate per day (UTC)",
    )
    return Overview(
        total=by_prompt.total,
        by_prompt=by_prompt.rows,
        by_day=list(reversed(days))[:TABLE_DAYS],
        days=len(days),
        chart=chart,
    )


def runs_page(store: Store, query: RunQuery) -> RunsPage:
    # One more than a page tells whether there is a next page without counting every match.
    found = store.list_runs(limit=query.per_page + 1, offset=query.offset, **query.filters())
    versions = store.list_prompt_versions()
    names = sorted({v.name for v in versions})
    return RunsPage(
        runs=found[: query.per_page],
        has_next=len(found) > query.per_page,
        overview=overview(store, query),
        prompt_refs=[*names, *(v.ref for v in versions)],
        tasks=sorted({v.name for v in versions if v.kind == "task"}),
    )


@dataclass(frozen=True)
class AttemptPanel:
    attempt: AttemptView
    diff: AttemptDiff | None  # from the previous attempt's output; None for the first


@dataclass(frozen=True)
class RunPage:
    run: RunDetail
    attempts: list[AttemptPanel]
    reason: str


def run_page(store: Store, run_id: str) -> RunPage:
    run = store.get_run(run_id)
    panels: list[AttemptPanel] = []
    previous: AttemptView | None = None
    for attempt in run.attempts:
        diff = diff_texts(previous.output, attempt.output) if previous is not None else None
        panels.append(AttemptPanel(attempt, diff))
        previous = attempt
    return RunPage(run=run, attempts=panels, reason=STATUS_REASONS.get(run.status, ""))


@dataclass(frozen=True)
class VersionLine:
    row: PromptVersion
    live: StatsRow | None  # the runs that used this version, as `softloop stats` counts them


@dataclass(frozen=True)
class PromptPanel:
    name: str
    kind: str
    versions: list[VersionLine]  # oldest first
    active: int | None
    metric: str | None
    chart: Chart
    promotions: list[PromptVersion]  # the versions ever promoted, latest promotion first
    jobs: list[RefineJob]


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def chart_metric(versions: Sequence[PromptVersion]) -> str | None:
    """The metric the accuracy curve follows: the refiner's gate metric where there is one."""
    keys = {k for v in versions for k, x in (v.metrics or {}).items() if _numeric(x)}
    for key in PREFERRED_METRICS:
        if key in keys:
            return key
    others = sorted(k for k in keys if not k.startswith("parent_"))
    return others[0] if others else None


def _promoted_at(row: PromptVersion) -> datetime:
    return row.promoted_at or datetime.min.replace(tzinfo=UTC)


def prompt_panels(store: Store, jobs_per_prompt: int = 10) -> list[PromptPanel]:
    rows = store.list_prompt_versions()
    live = {r.key: r for r in store.stats(by="prompt_version").rows}
    panels: list[PromptPanel] = []
    for name in sorted({r.name for r in rows}):
        versions = [r for r in rows if r.name == name]
        metric = chart_metric(versions)
        series = []
        if metric is not None:
            values = tuple(
                float(v.metrics[metric]) if _numeric(v.metrics.get(metric)) else None
                for v in versions
            )
            series.append(Series("metric", metric, values, tuple(v.status for v in versions)))
        series.append(
            Series(
                "live",
                "pass rate in runs",
                tuple(live[v.ref].pass_rate if v.ref in live else None for v in versions),
            )
        )
        panels.append(
            PromptPanel(
                name=name,
                kind=versions[-1].kind,
                versions=[VersionLine(v, live.get(v.ref)) for v in versions],
                active=next((v.version for v in versions if v.status == "active"), None),
                metric=metric,
                chart=rate_lines(
                    [f"v{v.version}" for v in versions], series, title=f"{name} across versions"
                ),
                promotions=sorted(
                    (v for v in versions if v.promoted_at is not None),
                    key=_promoted_at,
                    reverse=True,
                ),
                jobs=store.list_jobs(name, limit=jobs_per_prompt),
            )
        )
    return panels


__all__ = [
    "STATUS_REASONS",
    "AttemptPanel",
    "Overview",
    "PromptPanel",
    "RunPage",
    "RunsPage",
    "VersionLine",
    "chart_metric",
    "overview",
    "prompt_panels",
    "run_page",
    "runs_page",
]
