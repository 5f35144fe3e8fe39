"""`create_app`: the review page as an ASGI application over one `Store`.

Errors a user can act on (an unknown run, a date that cannot be read, an unreachable database)
become an HTML page in the site's style with the store's one-line message and a fitting status;
anything else is a 500 page without a traceback (the traceback goes to the log). Every response
carries a Content-Security-Policy that allows no script at all: the page needs none, and then
even a mistake in escaping could not run one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from softloop.agent.store import (
    DatabaseUnavailableError,
    RunNotFoundError,
    SchemaOutdatedError,
    Store,
)
from softloop.agent.web import routes
from softloop.agent.web.auth import WriteGuard, review_token
from softloop.agent.web.state import HERE, ReviewState, make_templates, review
from softloop.prompts.errors import SoftloopError

log = logging.getLogger("softloop.web")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
TITLES = {
    400: "Bad request",
    401: "Login needed",
    403: "Refused",
    404: "Not found",
    405: "Method not allowed",
    500: "Something went wrong",
    503: "Database unavailable",
}


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    app = review(request)
    response = app.render(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Error"),
            "message": message,
            # Where to come back after logging in: the page the refused form was on.
            "back": request.url.path.removesuffix("/label"),
        },
        status_code=status,
    )
    response.headers.update(headers or {})
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else ""
    return _error_page(
        request, exc.status_code, message or "There is no page here.", dict(exc.headers or {})
    )


async def _store_error(request: Request, exc: Exception) -> Response:
    # An ambiguous id prefix, a malformed prompt version...: the request needs fixing (400).
    status = 400
    if isinstance(exc, RunNotFoundError):
        status = 404
    elif isinstance(exc, DatabaseUnavailableError | SchemaOutdatedError):
        status = 503
    return _error_page(request, status, str(exc))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(request, 500, "The server hit an unexpected error; its log says more.")


def create_app(
    store: Store | str | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The review page over `store` (a `Store`, a database URL, or None for the default one).

    token: the secret writes need; None reads `$SOFTLOOP_REVIEW_TOKEN` (unset: writes are open).
    allowed_hosts: if given, requests naming any other Host are refused, which keeps web pages
    from reading a server on the loopback address through DNS rebinding.
    """
    owns = not isinstance(store, Store)
    the_store = store if isinstance(store, Store) else Store(store)
    state = ReviewState(
        store=the_store,
        guard=WriteGuard(token if token is not None else review_token()),
        templates=make_templates(),
        owns_store=owns,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if state.owns_store:
            state.store.close()

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(
        routes=[
            Route("/", routes.runs_list, name="runs"),
            Route("/runs/{run_id}", routes.run_detail, name="run"),
            Route("/runs/{run_id}/label", routes.add_label, methods=["POST"], name="label"),
            Route("/prompts", routes.prompts_page, name="prompts"),
            Route("/export.jsonl", routes.export, name="export"),
            Route("/login", routes.login_form, name="login_form"),
            Route("/login", routes.login, methods=["POST"], name="login"),
            Route("/logout", routes.logout, methods=["POST"], name="logout"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            SoftloopError: _store_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.review = state
    return app


__all__ = ["SECURITY_HEADERS", "create_app"]
