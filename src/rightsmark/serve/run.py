"""Running the service: the repository opened and the address bound before anything is served, then uvicorn.

The listening socket is bound here (not by uvicorn) so that port 0 gives an ephemeral port that is known,
and announced, before the first request. Proxy headers are ignored: the rate limit counts the address that
connected, which a client cannot rewrite with ``X-Forwarded-For``.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rightsmark.errors import UsageError
from rightsmark.repository.base import Repository
from rightsmark.serve.limits import ServiceSettings
from rightsmark.serve.service import RepositoryThread

#: connections served at once; beyond, uvicorn answers 503
MAX_CONNECTIONS = 128
#: seconds an idle keep-alive connection is kept open
KEEP_ALIVE_S = 5


def check_stack() -> None:
    """Raise :class:`UsageError` (one line naming the extra) unless Starlette and uvicorn are installed."""
    missing = []
    for name in ("starlette", "uvicorn"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(
            f"the resolution service needs {' and '.join(missing)}", hint="pip install 'rightsmark[serve]'"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Listener:
    """A bound, listening socket and the URL it is reached at."""

    sock: socket.socket
    url: str

    def close(self) -> None:
        self.sock.close()


def listen(host: str, port: int) -> Listener:
    """A socket listening on ``host``:``port`` (0: an ephemeral port); :class:`UsageError` when it cannot."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", hint="give 0 to 65535 (0 picks a free one)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot listen on {host}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(MAX_CONNECTIONS)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}", hint="choose another --port"
        ) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return Listener(sock, f"http://{shown}:{bound_port}")


def configure_logging() -> None:
    """The service's own messages (stores refused, stores added, failures) as lines on stderr."""
    logger = logging.getLogger("rightsmark.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rightsmark serve: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve(
    repository: Repository,
    thread: RepositoryThread,
    listener: Listener,
    settings: ServiceSettings,
    announce: Callable[[str], None],
) -> None:
    """Serve ``repository`` (opened on ``thread``) on ``listener`` until interrupted (SIGINT or SIGTERM: a
    graceful stop); the caller closes them afterwards."""
    import uvicorn

    from rightsmark.serve.app import create_app

    configure_logging()
    config = uvicorn.Config(
        create_app(repository, settings, thread),
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    announce(f"serving on {listener.url}")
    with _stops_quietly():
        server.run(sockets=[listener.sock])


@contextlib.contextmanager
def _stops_quietly() -> Iterator[None]:
    """Ctrl-C and SIGTERM end the service normally (exit 0). uvicorn stops gracefully on either, then raises
    the signal again for the handler it found: for SIGTERM that is this no-op, for Ctrl-C the
    KeyboardInterrupt caught here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
