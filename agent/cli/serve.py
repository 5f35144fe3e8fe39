"""`softloop serve`: the review page in a browser, over the same store as the review commands.

The listening socket is bound here, before uvicorn starts, so that a port in use or a host that
does not resolve is one line of error rather than a server log, and so that `--port 0` can say
which port it got. Bound to a loopback address, the server also refuses requests that name
another host, so a web page cannot read it through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import socket

import click

from softloop.agent.cli.options import db_option
from softloop.prompts.errors import SoftloopError

LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1", "[::1]"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a `SoftloopError` saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as err:
        raise SoftloopError(f"cannot listen on {host!r}: {err.strerror}; check --host") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise SoftloopError(
            f"cannot listen on {host}:{port}: {err.strerror}; choose another --port"
        ) from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback lets other machines read your runs.",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@db_option
def serve(host: str, port: int, db_url: str | None) -> None:
    """Serve the review page: browse and filter runs, compare attempts, label answers, and
    follow prompt versions.

    Reading is open to whoever can reach the address. Set SOFTLOOP_REVIEW_TOKEN to require that
    token for labelling (log in on the page, or send Authorization: Bearer TOKEN). Stop with
    Ctrl-C.

    \b
    Example:
      SOFTLOOP_REVIEW_TOKEN=$(openssl rand -hex 16) softloop serve --port 8765
      then open http://127.0.0.1:8765/
    """
    import uvicorn

    from softloop.agent.store import Store
    from softloop.agent.store.engine import safe_url
    from softloop.agent.web import TOKEN_ENV, create_app, review_token

    store = Store(db_url)
    store.list_runs(limit=1)  # a database that cannot be read is an error now, not on first visit
    loopback = _is_loopback(host)
    app = create_app(store, allowed_hosts=LOOPBACK_NAMES if loopback else None)
    sock = bind(host, port)
    click.echo(f"serving the review page of {safe_url(store.url)} at {_url(sock)} (Ctrl-C stops)")
    if review_token() is None:
        click.echo(f"labelling needs no token; set {TOKEN_ENV} to require one")
    if not loopback:
        click.echo(
            f"warning: {host} is not a loopback address: other machines can read these runs",
            err=True,
        )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down; re-raised from its signal handler
    finally:
        sock.close()
        store.close()
    click.echo("stopped")
