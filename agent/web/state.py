"""What every request handler needs: the store, the write guard and the templates.

One `ReviewState` lives on the application (`app.state.review`); handlers reach it through
`review(request)` instead of module globals, so that several apps (tests, two databases) can run
in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from softloop.agent.store import Store
from softloop.agent.store.engine import safe_url
from softloop.agent.web.auth import WriteGuard

HERE = Path(__file__).resolve().parent


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def make_templates() -> Jinja2Templates:
    """Jinja2 with autoescaping on for every template: all text from the store is escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, pct=_pct, number=_number, seconds=_seconds)
    return Jinja2Templates(env=env)


@dataclass
class ReviewState:
    store: Store
    guard: WriteGuard
    templates: Jinja2Templates
    owns_store: bool = False

    @staticmethod
    def base(request: Request) -> str:
        """The path the app is mounted at ('' at the root), for links that survive a proxy."""
        return str(request.scope.get("root_path", "")).rstrip("/")

    def render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        context = {
            "base": self.base(request),
            "db": safe_url(self.store.url),
            "guard_enabled": self.guard.enabled,
            "logged_in": self.guard.logged_in(request),
            "nav": "",
            **context,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def review(request: Request) -> ReviewState:
    state: ReviewState = request.app.state.review
    return state


__all__ = ["ReviewState", "make_templates", "review"]
