"""A manifest repository behind a Soft Binding Resolution API service (``https://...``), over HTTP with the
standard library.

What a service answers is bounded and checked before it is used: every request has a time limit (connecting,
each read, and the whole answer), JSON answers are at most :data:`~rightsmark.repository.wire.MAX_JSON_BYTES`
and must have the published shape, stores at most :data:`~rightsmark.repository.base.MAX_STORE_BYTES` and
be ``application/c2pa``. Redirects are followed only within the same scheme, host and port. A service that
is down, slow, or answers anything else is a :class:`~rightsmark.repository.base.RepositoryError` of one line
naming the URL (without the credentials it may carry). Stores fetched here are NOT validated: the caller
validates them, as it does any repository's.

The API has no count of the manifests a service keeps: :meth:`RemoteRepository.count` raises.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rightsmark.repository.base import (
    DEFAULT_LIMIT,
    DEFAULT_MAX_DISTANCE,
    MAX_STORE_BYTES,
    Candidate,
    ConflictError,
    Entry,
    RepositoryError,
)
from rightsmark.repository.wire import (
    MAX_JSON_BYTES,
    MAX_RESULTS,
    STORE_MEDIA_TYPE,
    distance_from_score,
    parse_algorithms,
    parse_matches,
)
from rightsmark.softbinding.model import ISCC_ALG, KINDS, Kind, SoftBinding

#: the environment variable holding the token for :meth:`RemoteRepository.add`
TOKEN_ENV = "RIGHTSMARK_REPO_TOKEN"
#: seconds to connect, and for each read, unless told otherwise
DEFAULT_TIMEOUT_S = 10.0
#: base64 values longer than this are sent with POST (a URL has room for about 2,000 characters)
MAX_GET_VALUE = 1024
_USER_AGENT = "rightsmark"


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what messages may show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme, host and port; anything else is an error."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            raise _RefusedError(f"redirected to another host ({public_url(newurl)})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _RefusedError(Exception):
    """An answer the client will not use."""


class RemoteRepository:
    """The Repository protocol over a Soft Binding Resolution API service at ``url``.

    ``token`` (else ``$RIGHTSMARK_REPO_TOKEN``) is sent only with :meth:`add`; ``timeout`` bounds connecting
    and each read, and four times it the whole answer."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(url)
        self.location = public_url(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RepositoryError(
                "not a resolution service URL", path=self.location, hint="give http://HOST[:PORT] or https://..."
            )
        try:
            parts.port  # noqa: B018 - a port that is no number raises here, not at the first request
        except ValueError:
            raise RepositoryError("the URL's port is not a number", path=self.location) from None
        self._base = self.location.rstrip("/")
        self._token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._timeout = timeout
        self._algorithms: frozenset[str] | None = None
        self._opener = urllib.request.build_opener(_SameOrigin())

    # -- the protocol ----------------------------------------------------------------------------------

    def find(
        self, binding: SoftBinding, *, max_distance: int = DEFAULT_MAX_DISTANCE, limit: int = DEFAULT_LIMIT
    ) -> list[Candidate]:
        """The service's matches for ``binding`` within ``max_distance`` (as its ``similarityScore`` says),
        nearest first; a match without a score is a candidate too (whoever uses it measures the distance
        from the store itself). A service that does not look up the ISCC fingerprint is an error (it could
        hide a manifest forbidding the use); another algorithm it does not list finds nothing."""
        if binding.alg not in self.algorithms():
            if binding.alg == ISCC_ALG:
                raise self._error(f"does not look up {ISCC_ALG} fingerprints", hint="give a service that does")
            return []
        limit = max(1, min(limit, MAX_RESULTS))
        if len(binding.b64) <= MAX_GET_VALUE:
            query = urllib.parse.urlencode({"value": binding.b64, "alg": binding.alg, "maxResults": limit})
            request = self._request(f"/matches/byBinding?{query}")
        else:
            body = json.dumps(binding.to_dict()).encode()
            request = self._request(
                f"/matches/byBinding?maxResults={limit}", body, {"Content-Type": "application/json"}
            )
        try:
            matches = parse_matches(self._json(request))
        except ValueError as exc:
            raise self._error(f"answered a query with {exc}") from None
        exact = KINDS.get(binding.alg) is not Kind.FINGERPRINT
        found = []
        for match in matches:
            # no score (the API makes it optional): a candidate all the same, at the edge of the reach
            unknown = 0 if exact else max_distance
            distance = unknown if match.score is None else distance_from_score(match.score)
            if distance > max_distance or (exact and distance):
                continue
            endpoint = match.endpoint if match.endpoint and _is_http(match.endpoint) else None
            found.append(Candidate(match.manifest_id, binding.alg, distance, self.location, endpoint))
        found.sort(key=lambda c: c.distance)
        return found[:limit]

    def manifest(self, manifest_id: str) -> bytes | None:
        """The store the service keeps under ``manifest_id`` (not validated here), or None when it has none."""
        request = self._request(f"/manifests/{urllib.parse.quote(manifest_id, safe='')}")
        return self._fetch(request, (STORE_MEDIA_TYPE,), MAX_STORE_BYTES, missing_ok=True)

    def add(self, entry: Entry) -> bool:
        """Upload ``entry``'s store (the service validates it again); False when the service already kept it."""
        if not self._token:
            raise RepositoryError(
                "adding to a resolution service needs its write token",
                path=self.location,
                hint=f"set {TOKEN_ENV}",
            )
        parts = urllib.parse.urlsplit(self._base)
        if parts.scheme != "https" and not _loopback(parts.hostname or ""):
            raise RepositoryError(
                "the write token is sent only over https (or to this machine)",
                path=self.location,
                hint="give the service's https:// URL",
            )
        request = self._request(
            "/manifests",
            entry.store,
            {"Content-Type": STORE_MEDIA_TYPE, "Authorization": f"Bearer {self._token}"},
        )
        answer, status = self._json_with_status(request, conflict=entry.manifest_id)
        if not isinstance(answer, dict) or answer.get("manifestId") != entry.manifest_id or status not in (200, 201):
            raise self._error("answered an upload with something else than the manifest id it was sent")
        return status == 201

    def count(self) -> int:
        """Not answerable: the Soft Binding Resolution API has no count. Raises :class:`RepositoryError`."""
        raise RepositoryError(
            "a resolution service does not say how many manifests it keeps",
            path=self.location,
            hint="count on the service's own repository",
        )

    def close(self) -> None:
        """Nothing to release: each request has its own connection."""

    def algorithms(self) -> frozenset[str]:
        """The algorithm names the service answers queries for (asked once)."""
        if self._algorithms is None:
            try:
                self._algorithms = parse_algorithms(self._json(self._request("/services/supportedAlgorithms")))
            except ValueError as exc:
                raise self._error(f"answered /services/supportedAlgorithms with {exc}") from None
        return self._algorithms

    # -- HTTP --------------------------------------------------------------------------------------------

    def _request(
        self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> urllib.request.Request:
        request = urllib.request.Request(self._base + path, data=body, method="POST" if body is not None else "GET")
        request.add_header("User-Agent", _USER_AGENT)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        return request

    def _json(self, request: urllib.request.Request) -> Any:
        return self._json_with_status(request)[0]

    def _json_with_status(self, request: urllib.request.Request, *, conflict: str | None = None) -> tuple[Any, int]:
        status: list[int] = []
        data = self._fetch(request, ("application/json",), MAX_JSON_BYTES, status=status, conflict=conflict)
        assert data is not None
        try:
            return json.loads(data), status[0]
        except (ValueError, UnicodeDecodeError):
            raise self._error("answered with something that is not JSON") from None

    def _fetch(
        self,
        request: urllib.request.Request,
        media_types: tuple[str, ...],
        limit: int,
        *,
        missing_ok: bool = False,
        status: list[int] | None = None,
        conflict: str | None = None,
    ) -> bytes | None:
        """The body of a successful answer to ``request``: of one of ``media_types``, at most ``limit`` bytes,
        within the time bounds. 404 is None where ``missing_ok``; every other failure is a RepositoryError."""
        what = f"{request.get_method()} {urllib.parse.urlsplit(request.full_url).path}"
        deadline = time.monotonic() + 4 * self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                kind = answer.headers.get_content_type()
                if kind not in media_types:
                    raise _RefusedError(f"answered {what} with {kind}, not {' or '.join(media_types)}")
                declared = answer.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise _RefusedError(f"answered {what} with more than {limit} bytes")
                if status is not None:
                    status.append(answer.status)
                return _read_bounded(answer, limit, deadline, what)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 404 and missing_ok:
                    return None
                if exc.code == 409 and conflict is not None:  # as a local repository says it: one refused file
                    raise ConflictError(
                        f"manifest {conflict} is already kept with a different manifest store; nothing replaced",
                        path=self.location,
                    ) from None
                raise self._error(f"answered {what} with HTTP {exc.code}{_reason(exc)}") from None
        except _RefusedError as exc:
            raise self._error(str(exc)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, _RefusedError):
                raise self._error(str(reason)) from None
            raise self._error(f"cannot be reached ({_describe(reason)})", hint="is the service running?") from None
        except TimeoutError:
            raise self._error(f"did not answer {what} within {self._timeout:g} s") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise self._error(f"answered {what} with something that is not HTTP ({_describe(exc)})") from None

    def _error(self, message: str, hint: str | None = None) -> RepositoryError:
        return RepositoryError(f"the resolution service {message}", path=self.location, hint=hint)


def _read_bounded(answer: Any, limit: int, deadline: float, what: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise _RefusedError(f"took too long answering {what}")
        # read1: what one read of the socket gives, so that a body dripped byte by byte meets the deadline
        # within one socket timeout instead of filling a whole buffer first
        chunk = answer.read1(min(64 * 1024, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise _RefusedError(f"answered {what} with more than {limit} bytes")
        parts.append(chunk)


def _reason(exc: urllib.error.HTTPError) -> str:
    """``: <the service's error message>`` from a JSON error body, shortened and made printable, or ``""``."""
    try:
        body = json.loads(exc.read(4096))
    except Exception:  # any body that is not a small JSON error says nothing more
        return ""
    message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    text = "".join(c if c.isprintable() else " " for c in message)[:200]
    return f": {text}"


def _describe(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return "".join(c if c.isprintable() else " " for c in str(reason) or type(reason).__name__)[:200]


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_http(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
