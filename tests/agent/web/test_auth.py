"""Writes and the review token: reads stay open, labels need the token once it is set."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from softloop.agent.store import Store
from softloop.agent.web import TOKEN_ENV, create_app
from softloop.agent.web.auth import COOKIE_NAME, WriteGuard
from tests.runs import build_run

TOKEN = "s3cret-review-token"
Clients = Callable[..., TestClient]


@pytest.fixture
def run_id(store: Store) -> str:
    run = build_run()
    store.record_run(run)
    return str(run.id)


def _label(client: TestClient, run_id: str, **kwargs: object):
    return client.post(f"/runs/{run_id}/label", data={"correct": "true"}, **kwargs)  # type: ignore[arg-type]


def test_reads_stay_open_with_a_token(client_for: Clients, run_id: str) -> None:
    client = client_for(TOKEN)
    for path in ("/", f"/runs/{run_id}", "/prompts", "/export.jsonl", "/login"):
        assert client.get(path).status_code == 200, path


def test_a_write_without_the_token_is_a_401(store: Store, client_for: Clients, run_id: str) -> None:
    client = client_for(TOKEN)
    response = _label(client, run_id)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "writing needs the review token" in response.text
    assert f'href="/login?next=/runs/{run_id}"' in response.text
    assert store.get_run(run_id).labels == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"headers": {"Authorization": "Bearer not-the-token"}},
        {"headers": {"Authorization": f"Bearer {TOKEN}x"}},
        {"cookies": {COOKIE_NAME: "forged"}},
    ],
)
def test_a_write_with_a_wrong_token_is_a_403(
    store: Store, client_for: Clients, run_id: str, credentials: dict
) -> None:
    client = client_for(TOKEN)
    if "cookies" in credentials:
        client.cookies.update(credentials["cookies"])
    response = _label(client, run_id, headers=credentials.get("headers"))
    assert response.status_code == 403
    assert store.get_run(run_id).labels == []


def test_the_bearer_token_lets_a_write_through(
    store: Store, client_for: Clients, run_id: str
) -> None:
    client = client_for(TOKEN)
    response = _label(client, run_id, headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 303
    assert [lb.correct for lb in store.get_run(run_id).labels] == [True]


def test_logging_in_sets_a_cookie_that_lets_writes_through(
    store: Store, client_for: Clients, run_id: str
) -> None:
    client = client_for(TOKEN)
    page = client.get(f"/runs/{run_id}").text
    assert 'id="label-form"' not in page and "Log in with the review token" in page

    wrong = client.post("/login", data={"token": "guess", "next": f"/runs/{run_id}"})
    assert wrong.status_code == 403 and "That is not the review token." in wrong.text
    assert COOKIE_NAME not in client.cookies

    right = client.post("/login", data={"token": TOKEN, "next": f"/runs/{run_id}"})
    assert right.status_code == 303 and right.headers["location"] == f"/runs/{run_id}"
    set_cookie = right.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    assert TOKEN not in set_cookie  # the cookie holds an HMAC of the token, not the token
    assert 'id="label-form"' in client.get(f"/runs/{run_id}").text

    assert _label(client, run_id).status_code == 303
    assert len(store.get_run(run_id).labels) == 1

    out = client.post("/logout")
    assert out.status_code == 303 and COOKIE_NAME not in client.cookies
    assert _label(client, run_id).status_code == 401


def test_a_cookie_for_another_token_is_refused(client_for: Clients, run_id: str) -> None:
    old = client_for("the-old-token")
    old.post("/login", data={"token": "the-old-token"})
    cookie = old.cookies[COOKIE_NAME]
    new = client_for(TOKEN)
    new.cookies.set(COOKIE_NAME, cookie)
    assert _label(new, run_id).status_code == 403


def test_login_only_redirects_within_the_site(client_for: Clients) -> None:
    client = client_for(TOKEN)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"token": TOKEN, "next": target})
        assert response.headers["location"] == "/", target


def test_writes_from_another_site_are_refused_even_without_a_token(
    store: Store, client_for: Clients, run_id: str
) -> None:
    open_client = client_for()
    evil = {"Origin": "http://evil.example"}
    assert _label(open_client, run_id, headers=evil).status_code == 403
    guarded = client_for(TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert _label(guarded, run_id, headers={**evil, **bearer}).status_code == 403
    assert guarded.post("/login", data={"token": TOKEN}, headers=evil).status_code == 403
    assert store.get_run(run_id).labels == []
    # The page's own origin is fine.
    assert _label(open_client, run_id, headers={"Origin": "http://testserver"}).status_code == 303


def test_without_a_token_writes_need_no_login(
    store: Store, client_for: Clients, run_id: str
) -> None:
    client = client_for()
    assert 'id="label-form"' in client.get(f"/runs/{run_id}").text
    assert "labelling needs no login" in client.get("/login").text
    assert _label(client, run_id).status_code == 303


def test_the_token_comes_from_the_environment(
    store: Store, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with TestClient(create_app(store), follow_redirects=False) as client:
        assert _label(client, run_id).status_code == 401
        authorised = {"Authorization": f"Bearer {TOKEN}"}
        assert _label(client, run_id, headers=authorised).status_code == 303
    monkeypatch.setenv(TOKEN_ENV, "")  # empty means unset, as for other softloop variables
    with TestClient(create_app(store), follow_redirects=False) as client:
        assert _label(client, run_id).status_code == 303


def test_tokens_of_any_characters_compare() -> None:
    """hmac.compare_digest takes ASCII strings only; the guard compares UTF-8 bytes."""
    guard = WriteGuard("tökén")
    assert guard.token_matches("tökén") and not guard.token_matches("token")
    assert not guard.token_matches("")
