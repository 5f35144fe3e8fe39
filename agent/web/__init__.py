"""The review page: browse runs, compare attempts, label answers and follow prompt versions.

`create_app(store)` is an ASGI application (Starlette, Jinja2 templates, inline SVG charts, no
JavaScript); `softloop serve` runs it under uvicorn. It reads and writes only through `Store`'s
public methods, the same ones the review commands use, so the page and the CLI agree.
"""

from softloop.agent.web.app import create_app
from softloop.agent.web.auth import TOKEN_ENV, review_token

__all__ = ["TOKEN_ENV", "create_app", "review_token"]
