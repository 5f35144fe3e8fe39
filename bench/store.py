"""Benchmark of the correction-history store: bulk write speed, then the review queries.

    python -m softloop.bench.store [--attempts 1000000] [--db URL ...] [--reps 30] [--json]

Without `--db` it runs on a fresh SQLite file and a throw-away PostgreSQL database
(`softloop_bench_<random>` on $SOFTLOOP_BENCH_PG_URL, default the local server), side by side,
and drops both afterwards. A `--db` URL is upgraded to the newest schema and filled: give it a
scratch database.

The bulk loader writes runs with their attempts, critiques and prompt-version rows through
batched Core inserts, one transaction per batch: the shape `record_run` writes, at load speed.
Then each review query runs `--reps` times with varied parameters through the public `Store`
API (session, SQL and conversion to records: what `softloop history` and `stats` pay) and
p50/p95 are reported. Targets (issue 4): p50 <= 50 ms for filtered history and for stats on both
databases; >= 2,000 runs/s bulk write on PostgreSQL.

Synthetic traffic: 4 tasks, 90 days, rounds 1/2/3 with probability 0.60/0.25/0.15 (so about
1.55 attempts per run), one critique per attempt, task/critique/revise prompt versions rising
over time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from softloop.agent.store import Attempt, CritiqueRow, Run, RunPromptVersion, Store, rollups

TASKS = ["reverse", "sort", "upper", "dedup"]
DAYS = 90
PG_ADMIN_URL = os.environ.get(
    "SOFTLOOP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _text(rng: random.Random, lo: int = 5, hi: int = 12) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(lo, hi)))


def generate_batch(
    rng: random.Random, n_runs: int, now: datetime, first: int, total: int
) -> tuple[list, list, list]:
    """Rows for runs first..first+n_runs of about `total`: (runs, prompt rows, attempts).

    Runs arrive in time order over the 90 days (as traffic does), a minute's jitter apart.
    """
    runs: list[dict[str, Any]] = []
    prompts: list[dict[str, Any]] = []
    attempts: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for i in range(first, first + n_runs):
        run_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        age = max(0.0, DAYS * (1 - i / total) + rng.uniform(-1, 1) / 1440)
        created = now - timedelta(days=age)
        task = rng.choice(TASKS)
        rounds = rng.choices((1, 2, 3), weights=(60, 25, 15))[0]
        status = (
            "passed"
            if rounds == 1
            else rng.choices(("passed", "gave_up", "failed", "error"), weights=(70, 25, 4, 1))[0]
        )
        versions = {
            task: 1 + int((DAYS - age) // 20),
            "critique": 1 + int((DAYS - age) // 40),
            "revise": 1 + int((DAYS - age) // 45),
        }
        inp = _text(rng)
        outputs = [_text(rng) for _ in range(rounds)]
        runs.append(
            dict(
                id=run_id,
                created_at=created,
                task=task,
                input=inp,
                final_output=outputs[-1],
                status=status,
                rounds=rounds,
                latency_s=0.05 * rounds,
                prompt_versions=versions,
                idempotency_key=run_id.hex,
                metadata={},
            )
        )
        prompts.extend(
            dict(run_id=run_id, name=k, version=v, created_at=created) for k, v in versions.items()
        )
        for r, out in enumerate(outputs, start=1):
            verdict = "pass" if r == rounds and status == "passed" else "fail"
            attempts.append(
                (
                    dict(
                        run_id=run_id,
                        round=r,
                        output=out,
                        prompt_name=task if r == 1 else "revise",
                        prompt_version=versions[task] if r == 1 else versions["revise"],
                        latency_s=0.05,
                        oracle_correct=verdict == "pass",
                    ),
                    dict(
                        critic="soft_prompt",
                        verdict=verdict,
                        score=rng.random(),
                        feedback=""
                        if verdict == "pass"
                        else "the answer is not " + _text(rng, 3, 6),
                    ),
                )
            )
    return runs, prompts, attempts


def bulk_load(store: Store, n_attempts: int, batch_runs: int, seed: int = 0) -> dict[str, Any]:
    """Insert runs until n_attempts attempts are written; returns counts and rates."""
    rng, now = random.Random(seed), datetime.now(UTC)
    engine = store.engine.execution_options(sqlite_begin="IMMEDIATE")
    n_runs = n_done = n_critiques = 0
    total_runs = int(n_attempts / 1.55) + 1  # 1.55 attempts per run on average
    attempt_insert = insert(Attempt).returning(Attempt.id, sort_by_parameter_order=True)
    started = time.perf_counter()
    while n_done < n_attempts:
        runs, prompts, attempts = generate_batch(rng, batch_runs, now, n_runs, total_runs)
        attempts = attempts[: n_attempts - n_done]
        runs = runs[: len({a["run_id"] for a, _ in attempts})]
        with engine.begin() as conn:
            conn.execute(insert(Run), runs)
            conn.execute(insert(RunPromptVersion), prompts[: 3 * len(runs)])
            rollups.upsert(
                conn,
                rollups.count_runs(
                    (r["created_at"], r["task"], r["status"], r["rounds"], r["prompt_versions"])
                    for r in runs
                ),
            )
            ids = conn.execute(attempt_insert, [a for a, _ in attempts]).scalars().all()
            conn.execute(
                insert(CritiqueRow),
                [{**c, "attempt_id": i} for i, (_, c) in zip(ids, attempts, strict=True)],
            )
        n_runs, n_done, n_critiques = (
            n_runs + len(runs),
            n_done + len(attempts),
            n_critiques + len(attempts),
        )
        if n_runs % (25 * batch_runs) == 0 or n_done >= n_attempts:
            elapsed = time.perf_counter() - started
            print(
                f"  {n_done:>9,} attempts  {n_runs:>8,} runs  {elapsed:7.1f} s",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.perf_counter() - started
    # Fresh planner statistics, as autovacuum or a DBA would leave them after a bulk load.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return {
        "runs": n_runs,
        "attempts": n_done,
        "critiques": n_critiques,
        "load_s": round(elapsed, 1),
        "runs_per_s": round(n_runs / elapsed),
        "attempts_per_s": round(n_done / elapsed),
        "analyze_s": round(time.perf_counter() - started - elapsed, 1),
    }


def _time(fn: Callable[[], Any], reps: int) -> dict[str, float]:
    fn()  # warm: connection pool, statement cache, OS page cache
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
    }


def time_queries(store: Store, reps: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng, now = random.Random(seed), datetime.now(UTC)
    sample = [r.id for r in store.list_runs(limit=500, since=now - timedelta(days=DAYS))]
    sample += [r.id for r in store.list_runs(limit=500, until=now - timedelta(days=45))]
    statuses = ["passed", "gave_up", "failed"]
    queries: dict[str, Callable[[], Any]] = {
        # `softloop history --task T --status S --since 30d`
        "history_filtered": lambda: store.list_runs(
            task=rng.choice(TASKS), status=rng.choice(statuses), since=now - timedelta(days=30)
        ),
        "history_latest": lambda: store.list_runs(),  # `softloop history`
        "history_prompt": lambda: store.list_runs(
            prompt_version=f"{rng.choice(TASKS)}@{rng.randint(1, 4)}"
        ),
        # `softloop stats --by day --since 7d` and `--task T --since 7d` (a review window)
        "stats_7d_by_day": lambda: store.stats(since=now - timedelta(days=7), by="day"),
        "stats_task_7d_by_prompt": lambda: store.stats(
            task=rng.choice(TASKS), since=now - timedelta(days=7), by="prompt_version"
        ),
        # all-time aggregates over every run: `softloop stats --by none` / `softloop stats`
        "stats_all_total": lambda: store.stats(by=None),
        "stats_all_by_prompt": lambda: store.stats(by="prompt_version"),
        "get_run": lambda: store.get_run(rng.choice(sample)),
        "get_run_prefix": lambda: store.get_run(rng.choice(sample).hex[:10]),
        "history_search": lambda: store.list_runs(search=_text(rng, 4, 4)),
    }
    slow = {"stats_all_total", "stats_all_by_prompt", "history_search"}  # full scans
    results = {}
    for name, fn in queries.items():
        results[name] = _time(fn, max(5, reps // 3) if name in slow else reps)
        print(
            f"  {name:<24} p50 {results[name]['p50_ms']:9.2f} ms  "
            f"p95 {results[name]['p95_ms']:9.2f} ms",
            file=sys.stderr,
            flush=True,
        )
    return results


class Target:
    """A database to benchmark; throw-away ones are made here and dropped in `close()`."""

    def __init__(self, url: str | None, backend: str, workdir: Path) -> None:
        self.dropper: Callable[[], None] | None = None
        if url is None and backend == "sqlite":
            url = f"sqlite:///{workdir / 'softloop.bench.db'}"
        elif url is None:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            name = f"softloop_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))

            def drop() -> None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()

            self.dropper = drop
            url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        self.url = url
        self.store = Store(url, auto_upgrade=False)
        self.store.upgrade()

    @property
    def backend(self) -> str:
        return self.store.engine.dialect.name

    def close(self) -> None:
        self.store.close()
        if self.dropper is not None:
            self.dropper()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m softloop.bench.store", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--attempts", type=int, default=1_000_000, help="attempts to insert")
    parser.add_argument(
        "--db",
        action="append",
        default=None,
        metavar="URL",
        help="database(s) to use (repeat); default: fresh SQLite and PostgreSQL",
    )
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per query")
    parser.add_argument("--batch", type=int, default=2000, help="runs per insert transaction")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"attempts": args.attempts, "results": {}}
    with tempfile.TemporaryDirectory(prefix="softloop-bench-") as tmp:
        specs = [(u, "") for u in args.db] if args.db else [(None, "sqlite"), (None, "postgresql")]
        for url, backend in specs:
            target = Target(url, backend, Path(tmp))
            try:
                print(f"{target.backend}: loading {args.attempts:,} attempts", file=sys.stderr)
                load = bulk_load(target.store, args.attempts, args.batch)
                print(
                    f"{target.backend}: {load['runs_per_s']:,} runs/s; timing queries",
                    file=sys.stderr,
                )
                report["results"][target.backend] = {
                    "load": load,
                    "queries": time_queries(target.store, args.reps),
                }
            finally:
                target.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    backends = list(report["results"])
    lines = [f"store benchmark: {report['attempts']:,} attempts", ""]
    head = f"{'':<26}" + "".join(f"{b:>24}" for b in backends)
    lines += [head, "bulk write"]
    for key in ("runs", "attempts", "load_s", "runs_per_s", "attempts_per_s"):
        lines.append(
            f"  {key:<24}" + "".join(f"{report['results'][b]['load'][key]:>24,}" for b in backends)
        )
    lines.append("queries (p50 / p95 ms)")
    for name in report["results"][backends[0]]["queries"]:
        cells = []
        for b in backends:
            q = report["results"][b]["queries"][name]
            cells.append(f"{q['p50_ms']:>11.2f} / {q['p95_ms']:<10.2f}")
        lines.append(f"  {name:<24}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
