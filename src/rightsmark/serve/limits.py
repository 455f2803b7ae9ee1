"""The service's bounds: its settings, the write token, the request rate per client, the size of bodies.

Nothing here imports the web stack; :mod:`.app` applies these to requests.
"""

from __future__ import annotations

import hmac
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from rightsmark.errors import UsageError
from rightsmark.repository.base import DEFAULT_MAX_DISTANCE, MAX_STORE_BYTES

#: the environment variable that may hold the write token
TOKEN_ENV = "RIGHTSMARK_SERVE_TOKEN"
#: the largest image ``/matches/byContent`` accepts unless told otherwise
DEFAULT_MAX_UPLOAD = 8 * 1024 * 1024
#: requests per second per client address unless told otherwise (bursts of twice that are let through)
DEFAULT_RATE = 50.0
#: the largest JSON query body (``POST /matches/byBinding``)
MAX_QUERY_BODY = 64 * 1024
#: the longest query string; longer GET queries are answered 414 (use POST)
MAX_QUERY_STRING = 8 * 1024
#: the shortest token the service accepts: a guessable token would open writes to anyone who can connect
MIN_TOKEN_CHARS = 16
#: client addresses whose buckets are remembered; beyond it, full buckets are forgotten
MAX_CLIENTS = 10000


@dataclass(frozen=True)
class ServiceSettings:
    """How one service runs. ``token`` None disables writes."""

    token: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    max_store: int = MAX_STORE_BYTES
    rate: float = DEFAULT_RATE
    max_distance: int = DEFAULT_MAX_DISTANCE


class BodyTooLargeError(Exception):
    """A request body over its bound (its declared length, or the bytes that arrived)."""


async def read_bounded(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The body from ``chunks``, refused as soon as it is known to exceed ``limit`` bytes: at once when the
    declared ``Content-Length`` does, else when the bytes that arrived do (nothing beyond is read)."""
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            raise ValueError("the Content-Length header is not a number")
        if length > limit:
            raise BodyTooLargeError
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        parts.append(chunk)
    return b"".join(parts)


def token_matches(expected: str, given: str) -> bool:
    """Whether the ``given`` token is the ``expected`` one, compared in constant time."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def load_token(token_file: Path | None) -> str | None:
    """The write token: the first line of ``token_file``, else :data:`TOKEN_ENV`, else None (writes disabled).

    A token shorter than :data:`MIN_TOKEN_CHARS` is refused (:class:`UsageError`)."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
            raise UsageError(f"cannot read the token file: {reason}", path=token_file) from None
        token: str | None = text.strip().splitlines()[0].strip() if text.strip() else ""
        where = str(token_file)
    else:
        token = os.environ.get(TOKEN_ENV)
        where = TOKEN_ENV
        if token is None:
            return None
        token = token.strip()
    assert token is not None
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable():
        raise UsageError(
            f"the write token in {where} is shorter than {MIN_TOKEN_CHARS} characters or not printable",
            hint="make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return token


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*$")


def parse_rate(text: str) -> float:
    """Requests per second from ``N`` or ``N/s`` (N > 0)."""
    match = _RATE.match(text)
    rate = float(match.group(1)) if match else 0.0
    if not match or not math.isfinite(rate) or rate <= 0:
        raise UsageError(f"--rate {text!r} is not a rate", hint="give requests per second per client, e.g. 20/s")
    return rate


class RateLimiter:
    """A token bucket per client address: ``rate`` requests per second, bursts of ``2 * rate`` (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """0 when ``client`` may make a request now (taking one token), else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                if len(self._buckets) > MAX_CLIENTS:
                    self._forget_full(now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) > MAX_CLIENTS:  # all busy: forgetting one only lets it burst again
            for client in list(self._buckets)[: len(self._buckets) - MAX_CLIENTS]:
                del self._buckets[client]
