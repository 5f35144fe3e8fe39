"""The review page's endpoints: read the request, call the store once, render a template.

Reads are plain functions, which Starlette runs in its thread pool, because the store blocks.
The two writes (a label, a login) are async only to read the form; the store call itself goes to
the thread pool as well.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from softloop.agent.cli.review import RUN_STATUSES
from softloop.agent.web import views
from softloop.agent.web.auth import COOKIE_NAME, same_origin
from softloop.agent.web.params import bad_request, run_query
from softloop.agent.web.state import review

AUTHOR_MAX = 128  # the labels table's author column
EXPORT_MEMORY = 16 * 1024 * 1024  # an export bigger than this is spooled to a temporary file


def runs_list(request: Request) -> Response:
    """`GET /`: the figures of `softloop stats`, the filters, one page of `softloop history`."""
    query = run_query(request.query_params)
    app = review(request)
    page = views.runs_page(app.store, query)
    context = {"query": query, "page": page, "statuses": RUN_STATUSES, "nav": "runs"}
    return app.render(request, "runs.html", context)


def run_detail(request: Request) -> Response:
    """`GET /runs/{id}`: what `softloop show` prints, with diffs and the label form."""
    app = review(request)
    page = views.run_page(app.store, request.path_params["run_id"])
    labelled = request.query_params.get("labelled") == "1"
    return app.render(request, "run.html", {"page": page, "labelled": labelled, "nav": "runs"})


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a text field, not a file")
    return value


def _correct(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"correct must be true or false, not {text!r}")
    return value == "true"


async def add_label(request: Request) -> Response:
    """`POST /runs/{id}/label`: `softloop label`, then back to the run."""
    app = review(request)
    app.guard.check(request)
    form = await request.form()
    correct = _correct(_field(form, "correct"))
    answer = _field(form, "answer")
    answer = answer if answer and answer.strip() else None
    author = (_field(form, "author") or "").strip() or None
    if author is not None and len(author) > AUTHOR_MAX:
        raise bad_request(f"author must be at most {AUTHOR_MAX} characters")
    label = await run_in_threadpool(
        app.store.add_label,
        request.path_params["run_id"],
        correct=correct,
        answer=answer,
        source="human",
        author=author,
    )
    return RedirectResponse(f"{app.base(request)}/runs/{label.run_id}?labelled=1", status_code=303)


def prompts_page(request: Request) -> Response:
    """`GET /prompts`: `softloop prompts list | show`, with each prompt's curve across versions."""
    app = review(request)
    panels = views.prompt_panels(app.store)
    return app.render(request, "prompts.html", {"panels": panels, "nav": "prompts"})


def export(request: Request) -> Response:
    """`GET /export.jsonl`: `softloop export` of the list's filters, as a download."""
    query = run_query(request.query_params)
    app = review(request)
    # Written in full before the response starts, so that a database error is an error page
    # rather than a download cut short. Closed by the response's background task once sent.
    spool: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=EXPORT_MEMORY, mode="w+", encoding="utf-8"
    )
    try:
        app.store.export_jsonl(spool, **query.filters())
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[str]:
        while chunk := spool.read(64 * 1024):
            yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/x-ndjson; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="softloop-runs.jsonl"'},
        background=BackgroundTask(spool.close),
    )


def _local_path(target: str | None, base: str) -> str:
    """`target` if it is a path on this site, else the runs list (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{base}/"


def login_form(request: Request) -> Response:
    """`GET /login`: the form that turns the review token into a login cookie."""
    app = review(request)
    target = _local_path(request.query_params.get("next"), app.base(request))
    return app.render(request, "login.html", {"next": target, "error": None, "nav": "login"})


async def login(request: Request) -> Response:
    """`POST /login`: check the token; on success set the cookie and go where the user was."""
    app = review(request)
    if not same_origin(request):
        raise HTTPException(403, "refused: this login came from another site")
    form = await request.form()
    target = _local_path(_field(form, "next"), app.base(request))
    if not app.guard.enabled:
        return RedirectResponse(target, status_code=303)
    if not app.guard.token_matches(_field(form, "token") or ""):
        return app.render(
            request,
            "login.html",
            {"next": target, "error": "That is not the review token.", "nav": "login"},
            status_code=403,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        app.guard.cookie_value(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=f"{app.base(request)}/",
    )
    return response


async def logout(request: Request) -> Response:
    """`POST /logout`: forget the login cookie."""
    app = review(request)
    if not same_origin(request):
        raise HTTPException(403, "refused: this logout came from another site")
    response = RedirectResponse(f"{app.base(request)}/", status_code=303)
    response.delete_cookie(COOKIE_NAME, path=f"{app.base(request)}/")
    return response


__all__ = [
    "add_label",
    "export",
    "login",
    "login_form",
    "logout",
    "prompts_page",
    "run_detail",
    "runs_list",
]
