"""The review page over a real store on both databases: a client, with no token from the
environment. Sample data to show is in `tests/agent/web/sample_data.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from softloop.agent.store import Store
from softloop.agent.web import TOKEN_ENV, create_app


@pytest.fixture(autouse=True)
def _no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token in the developer's own environment must not change what these tests see."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture
def client_for(store: Store) -> Iterator[Callable[..., TestClient]]:
    """`client_for(token=None)`: a TestClient of the review page over `store`."""
    clients: list[TestClient] = []

    def make(token: str | None = None) -> TestClient:
        client = TestClient(create_app(store, token=token), follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for()
