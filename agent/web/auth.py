"""Who may write: with `SOFTLOOP_REVIEW_TOKEN` set, labels need the token; reads stay open.

A write carries the token as `Authorization: Bearer <token>` (scripts) or a login cookie that
the login form hands out once the token has been typed (browsers). The cookie holds an HMAC of
the token, not the token itself, so a leaked cookie does not reveal the secret and changing the
token logs every browser out. All comparisons go through `hmac.compare_digest`, so the time a
refusal takes says nothing about how much of a guess was right.

Independently of the token, a write whose `Origin` names another site is refused: a page the
reviewer happens to visit must not be able to post labels to a server on their own machine.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request

TOKEN_ENV = "SOFTLOOP_REVIEW_TOKEN"
COOKIE_NAME = "softloop_review"
_COOKIE_CONTEXT = b"softloop review login cookie v1"


def review_token() -> str | None:
    """The token writes need (`$SOFTLOOP_REVIEW_TOKEN`); None, writes open, if unset or empty."""
    return os.environ.get(TOKEN_ENV) or None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if the request has one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same_origin(request: Request) -> bool:
    """False only when the request says it comes from another site (another host or port)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by scripts and older browsers; the token still guards writes
    if origin == "null":
        return False
    # Host and port only: behind a proxy that ends TLS the scheme seen here differs from the
    # browser's, while another site always differs in its host or port.
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


class WriteGuard:
    """Decides whether a request may write; `token=None` lets every same-origin write through."""

    def __init__(self, token: str | None) -> None:
        self._token = token or None
        self._cookie = (
            hmac.new(self._token.encode("utf-8"), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()
            if self._token
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def token_matches(self, candidate: str) -> bool:
        return self._token is not None and _same(candidate, self._token)

    def cookie_value(self) -> str:
        """What the login cookie holds once the token has been given."""
        if self._cookie is None:
            raise RuntimeError("no review token is set, so there is nothing to log in to")
        return self._cookie

    def logged_in(self, request: Request) -> bool:
        cookie = request.cookies.get(COOKIE_NAME)
        return self._cookie is not None and cookie is not None and _same(cookie, self._cookie)

    def check(self, request: Request) -> None:
        """Raise 403 for a cross-site write or a wrong token, 401 when none was given."""
        if not same_origin(request):
            raise HTTPException(403, "refused: this write came from another site")
        if self._token is None:
            return
        bearer = bearer_token(request)
        if bearer is not None:
            if not self.token_matches(bearer):
                raise HTTPException(403, "refused: the bearer token is not the review token")
            return
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie is not None:
            if not self.logged_in(request):
                raise HTTPException(
                    403, "refused: the login has expired or is for another token; log in again"
                )
            return
        raise HTTPException(
            401,
            "writing needs the review token: log in, or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="softloop review"'},
        )


__all__ = ["COOKIE_NAME", "TOKEN_ENV", "WriteGuard", "bearer_token", "review_token", "same_origin"]
