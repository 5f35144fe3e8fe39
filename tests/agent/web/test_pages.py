"""Every page over HTTP, on SQLite and PostgreSQL, against a real store (no mocks)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from softloop.agent.store import Store
from softloop.agent.web import create_app
from tests.agent.web.sample_data import seed
from tests.runs import build_run

XSS = "<script>alert(1)</script>"


def _run_ids(html: str) -> list[str]:
    """The short ids in the runs table, top to bottom."""
    return re.findall(r'class="run-link">([0-9a-f]{8})<', html)


def _message(html: str) -> str:
    found = re.search(r'<p class="message">(.*?)</p>', html, re.S)
    assert found, html
    return found.group(1)


def test_runs_list_shows_the_figures_and_newest_runs_first(
    store: Store, client: TestClient
) -> None:
    seeded = seed(store)
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    newest = [r.id.hex[:8] for r in reversed(seeded.runs)]
    assert _run_ids(html) == newest[:25]
    stats = store.stats(by="prompt_version")
    assert f'id="stat-runs">{stats.total.runs}<' in html
    assert f"{100 * stats.total.pass_rate:.1f}%" in html
    assert f"{100 * stats.total.first_attempt_pass_rate:.1f}%" in html
    assert f"{stats.total.mean_rounds:.2f}" in html
    for row in stats.rows:  # per prompt version, as `softloop stats`
        assert f">{row.key}</a>" in html
    for row in store.stats(by="day").rows:  # per day
        assert f"<td>{row.key}</td>" in html
    assert "<svg" in html and "s-pass" in html and "s-first" in html  # the chart
    assert 'id="next"' in html and 'id="prev"' not in html


def test_filters_mean_what_the_cli_means(store: Store, client: TestClient) -> None:
    seeded = seed(store)

    def ids(**params: str) -> list[str]:
        response = client.get("/", params={**params, "per_page": "200"})
        assert response.status_code == 200, response.text
        return _run_ids(response.text)

    def expect(**filters: object) -> list[str]:
        return [r.id.hex[:8] for r in store.list_runs(limit=200, **filters)]  # type: ignore[arg-type]

    assert ids(task="add") == expect(task="add") and len(ids(task="add")) > 0
    assert ids(status="gave_up") == expect(status="gave_up") and len(ids(status="gave_up")) > 0
    assert ids(prompt="reverse@3") == expect(prompt_version="reverse@3")
    assert ids(prompt="reverse") == expect(prompt_version="reverse")
    assert ids(search="OLLEH") == expect(search="olleh") and len(ids(search="OLLEH")) > 0
    since = (seeded.now - timedelta(days=2)).date().isoformat()
    until = seeded.now.date().isoformat()
    assert ids(since=since, until=until) == [
        r.id.hex[:8]
        for r in reversed(seeded.runs)
        if since <= r.created_at.date().isoformat() < until
    ]
    # An age counts back from the request; the seeded runs sit minutes away from day edges.
    two_days = [
        r.id.hex[:8]
        for r in reversed(seeded.runs)
        if r.created_at >= seeded.now - timedelta(days=2)
    ]
    assert ids(since="2d") == two_days and 0 < len(two_days) < len(seeded.runs)
    assert ids(task="reverse", status="gave_up") == expect(task="reverse", status="gave_up")
    assert ids(task="no-such-task") == []
    assert "No runs match." in client.get("/", params={"task": "no-such-task"}).text


def test_figures_follow_the_task_and_dates_and_say_so(store: Store, client: TestClient) -> None:
    seed(store)
    html = client.get("/", params={"task": "add"}).text
    add = store.stats(task="add")
    assert f'id="stat-runs">{add.total.runs}<' in html
    assert "follow the task and date filters only" not in html
    html = client.get("/", params={"status": "passed"}).text
    assert "follow the task and date filters only" in html


def test_paging_walks_every_run_once(store: Store, client: TestClient) -> None:
    seeded = seed(store)
    seen: list[str] = []
    page = 1
    while True:
        html = client.get("/", params={"page": str(page), "per_page": "10"}).text
        seen += _run_ids(html)
        if 'id="next"' not in html:
            break
        assert f"page={page + 1}" in html
        page += 1
    assert seen == [r.id.hex[:8] for r in reversed(seeded.runs)]
    assert page == 3 and 'id="prev"' in html
    # The filters stay on the paging links.
    html = client.get("/", params={"task": "add", "per_page": "3"}).text
    assert re.search(r'href="/\?task=add&amp;page=2&amp;per_page=3"', html)
    past = client.get("/", params={"page": "99"})
    assert past.status_code == 200 and "No runs on page 99" in past.text


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "last tuesday"}, "cannot read the 'since' filter 'last tuesday' as a time"),
        ({"until": "2026-13-45"}, "cannot read the 'until' filter"),
        ({"page": "-1"}, "page must be a whole number from 1"),
        ({"page": "0"}, "page must be a whole number from 1"),
        ({"page": "two"}, "page must be a whole number from 1"),
        ({"per_page": "5000"}, "per_page must be a whole number from 1 to 200"),
        ({"status": "maybe"}, "status 'maybe' is not one of passed, failed, gave_up, error"),
        ({"prompt": "reverse@latest"}, "cannot read the prompt version 'reverse@latest'"),
        ({"since": "1d", "until": "2d"}, "'since' filter must be earlier than the 'until'"),
    ],
)
def test_bad_parameters_are_a_400_with_one_line(
    client: TestClient, params: dict[str, str], says: str
) -> None:
    for path in ("/", "/export.jsonl"):
        response = client.get(path, params=params)
        assert response.status_code == 400
        message = _message(response.text).replace("&#39;", "'")
        assert says in message and "\n" not in message
        assert "Traceback" not in response.text
        assert 'class="top"' in response.text  # the site's own page, not a bare error


def test_run_page_shows_the_whole_trajectory(store: Store, client: TestClient) -> None:
    run = build_run(input="stressed", answers=("dessertz", "desserts"), latency_s=0.42)
    store.record_run(run)
    store.add_label(run.id, correct=True, answer="desserts", author="ann")
    response = client.get(f"/runs/{run.id.hex[:6]}")  # a unique prefix, as in the CLI
    assert response.status_code == 200
    html = response.text
    order = [
        'id="run-input">stressed<',
        "Attempt 1",
        ">dessertz<",
        '<span class="verdict fail">fail</span>',
        "round 1: not the reverse",
        "Attempt 2",
        ">desserts<",
        "<span>dessert</span><del>z</del><ins>s</ins>",  # the character diff from attempt 1
        '<span class="verdict pass">pass</span>',
        'id="run-final">desserts<',
        "after 2 rounds: an attempt passed the critic",
        "answer <code>desserts</code>",
        "by ann (human)",
    ]
    positions = [html.index(part) for part in order]
    assert positions == sorted(positions)
    assert "0.42 s" in html and "0.20" in html and "0.90" in html
    for name, version in run.prompt_versions.items():
        assert f"{name}@{version}</a>" in html
    assert str(run.id) in html
    assert client.get(f"/runs/{run.id}").status_code == 200


@pytest.mark.parametrize(
    ("run_id", "status", "says"),
    [
        ("0000", 404, "no run has an id starting with '0000'"),
        ("00000000-0000-0000-0000-000000000000", 404, "no run has an id starting with"),
        ("zz", 404, "'zz' is not a run id"),
    ],
)
def test_unknown_runs_are_a_404_page(
    store: Store, client: TestClient, run_id: str, status: int, says: str
) -> None:
    store.record_run(build_run(id="11111111-1111-4111-8111-111111111111"))
    response = client.get(f"/runs/{run_id}")
    assert response.status_code == status
    assert says in _message(response.text).replace("&#39;", "'")
    assert 'class="top"' in response.text and "Not found" in response.text


def test_an_ambiguous_prefix_asks_for_more_digits(store: Store, client: TestClient) -> None:
    for suffix in ("1", "2"):
        store.record_run(build_run(id=f"abcd0000-0000-4000-8000-00000000000{suffix}"))
    response = client.get("/runs/abcd")
    assert response.status_code == 400
    assert "matches several runs" in _message(response.text)


def test_other_paths_are_a_404_page_too(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page here." in response.text and 'class="top"' in response.text
    assert client.post("/prompts").status_code == 405


def test_user_text_is_escaped_everywhere(store: Store, client: TestClient) -> None:
    run = build_run(
        task="reverse",
        input=XSS,
        answers=(f"{XSS}!", XSS),
        prompt_versions={"reverse": 1},
        metadata={"note": XSS},
    )
    store.record_run(run)
    store.add_label(run.id, correct=False, answer=XSS, author=XSS)
    store.add_prompt_version("reverse", "task", "/p", "0" * 64, metrics={"accuracy": 0.5})
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in ("/", f"/runs/{run.id}", "/prompts", f"/?search={XSS}", f"/?task={XSS}"):
        html = client.get(path).text
        assert "<script>" not in html, path
    html = client.get(f"/runs/{run.id}").text
    assert html.count(escaped) >= 5  # input, output, final, diff, metadata, label answer
    assert escaped in client.get("/", params={"search": "alert"}).text
    assert (
        'value="&lt;script&gt;alert(1)&lt;/script&gt;"'
        in client.get("/", params={"task": XSS}).text
    )


def test_a_label_posted_on_the_page_reaches_the_store(store: Store, client: TestClient) -> None:
    run = build_run(task="add", input="2+2", answers=("5",), status="gave_up")
    store.record_run(run)
    response = client.post(
        f"/runs/{run.id.hex[:8]}/label",
        data={"correct": "false", "answer": "4", "author": "bea"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/runs/{run.id}?labelled=1"
    labels = store.get_run(run.id).labels
    assert [(lb.correct, lb.answer, lb.source, lb.author) for lb in labels] == [
        (False, "4", "human", "bea")
    ]
    page = client.get(response.headers["location"]).text
    assert 'id="labelled"' in page and "answer <code>4</code>" in page

    assert client.post(f"/runs/{run.id}/label", data={"correct": "TRUE"}).status_code == 303
    labels = store.get_run(run.id).labels
    assert [(lb.correct, lb.answer, lb.author) for lb in labels][-1] == (True, None, None)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "correct must be true or false"),
        ({"correct": "yes"}, "correct must be true or false, not 'yes'"),
        ({"correct": "true", "author": "x" * 129}, "author must be at most 128 characters"),
    ],
)
def test_a_bad_label_is_a_400_and_writes_nothing(
    store: Store, client: TestClient, data: dict[str, str], says: str
) -> None:
    run = build_run()
    store.record_run(run)
    response = client.post(f"/runs/{run.id}/label", data=data)
    assert response.status_code == 400
    assert says in _message(response.text).replace("&#39;", "'")
    assert store.get_run(run.id).labels == []


def test_labelling_an_unknown_run_is_a_404(client: TestClient) -> None:
    response = client.post("/runs/deadbeef/label", data={"correct": "true"})
    assert response.status_code == 404


def test_prompts_page_shows_versions_promotions_and_the_curve(
    store: Store, client: TestClient
) -> None:
    seed(store)
    response = client.get("/prompts")
    assert response.status_code == 200
    html = response.text
    reverse = html[html.index('id="prompt-reverse"') :]
    assert "active v3" in reverse[:400]
    for status in ("retired", "rejected", "active"):
        assert f'<span class="status-pv {status}">{status}</span>' in reverse
    assert "accuracy 0.840, parent_accuracy 0.610" in reverse
    assert ">v1</td>" in reverse and ">212</td>" in reverse  # parent and examples of v3
    promotions = reverse[reverse.index("Promotion history") : reverse.index("</ol>")]
    assert promotions.index("v3</strong>") < promotions.index("v1</strong>")
    assert "v3 accuracy 0.84 vs 0.61" in reverse  # the refine job's reason
    curve = reverse[reverse.index("<svg") : reverse.index("</svg>")]
    assert curve.count('class="s-metric') == 1 + 3  # one line, three versions
    assert 'circle class="s-metric rejected"' in curve
    assert "v2: pass rate in runs" not in curve  # v2 ran nothing: a gap, not a point
    critique = html[html.index('id="prompt-critique"') :]
    assert "critic_balanced_accuracy across versions" in critique


def test_prompts_page_without_prompts(client: TestClient) -> None:
    response = client.get("/prompts")
    assert response.status_code == 200 and "No prompt versions yet" in response.text


def test_export_is_softloop_export_of_the_filters(store: Store, client: TestClient) -> None:
    seed(store)
    response = client.get("/export.jsonl", params={"task": "reverse", "status": "gave_up"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    rows = [json.loads(line) for line in response.text.splitlines()]
    expected = [
        r.model_dump(mode="json") for r in store.iter_runs(task="reverse", status="gave_up")
    ]
    assert rows == expected and len(rows) > 0


def test_every_response_forbids_scripts(store: Store, client: TestClient) -> None:
    for path in ("/", "/prompts", "/nowhere", "/static/style.css"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/style.css").status_code == 200


def test_an_unusable_database_is_a_503_page(tmp_path) -> None:
    missing = Store(f"sqlite:///{tmp_path / 'missing.db'}", auto_upgrade=False)
    with TestClient(create_app(missing, token=None)) as client:
        for path in ("/", "/prompts", "/runs/abcd"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "there is no database file at" in _message(response.text)


def test_an_unexpected_error_is_a_500_page_without_a_traceback(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Store):
        def list_runs(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            raise RuntimeError("a bug")

    app = create_app(Broken(db_url, auto_upgrade=False), token=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "unexpected error" in response.text and "a bug" not in response.text
    assert "Traceback" not in response.text
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)


def test_the_app_opens_and_closes_its_own_store_from_a_url(store: Store) -> None:
    run = build_run()
    store.record_run(run)
    with TestClient(create_app(store.url, token=None)) as client:
        assert run.id.hex[:8] in client.get("/").text
