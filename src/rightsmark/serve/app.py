"""The Starlette application of the resolution service: the Soft Binding Resolution API's routes, rightsmark's
write route, and the bounds every request meets before any work is done (rate, sizes, token).

Every answer that is not a success is ``{"error": "..."}`` with the status code the published document gives
(or 401/403/405/409/413/415/429 where it is silent); an unexpected failure is logged and answered 500
without details. Repository work runs on one thread (:class:`~rightsmark.serve.service.Service`); decoding
uploaded images on at most :data:`DECODERS` others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rightsmark.repository.base import Repository
from rightsmark.repository.wire import (
    MAX_RESULTS,
    STORE_MEDIA_TYPE,
    check_query,
    supported_algorithms,
    valid_manifest_id,
)
from rightsmark.serve import openapi
from rightsmark.serve.limits import (
    MAX_QUERY_BODY,
    MAX_QUERY_STRING,
    BodyTooLargeError,
    RateLimiter,
    ServiceSettings,
    bearer,
    read_bounded,
    token_matches,
)
from rightsmark.serve.service import ApiError, RepositoryThread, Service, content_bindings
from rightsmark.serve.validation import StoreValidator
from rightsmark.softbinding.model import KINDS, SoftBinding, SoftBindingError
from rightsmark.softbinding.pixels import PixelsError
from rightsmark.softbinding.watermark import WatermarkError

log = logging.getLogger("rightsmark.serve")

#: uploaded images decoded at once (each may take a few hundred MB while decoded)
DECODERS = 2
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class RateLimit:
    """ASGI middleware: a client address over its request rate is answered 429 with Retry-After."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            wait = self.limiter.wait(client[0] if client else "")
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                response = error(429, "too many requests; slow down", {"Retry-After": retry})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Routes:
    """The handlers, bound to one :class:`Service`."""

    def __init__(self, service: Service, thread: RepositoryThread, owned: bool) -> None:
        self.service = service
        self.settings = service.settings
        self._thread = thread
        self._owned = owned
        self._decoders = anyio.CapacityLimiter(DECODERS)

    async def _on_repository(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._thread.run(fn, *args)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._owned:
                self._thread.close()

    async def by_binding(self, request: Request) -> Response:
        limit = _max_results(request)
        if request.method == "POST":
            _require_type(request, ("application/json",), "send the query as application/json")
            body = await read_bounded(request.stream(), request.headers.get("content-length"), MAX_QUERY_BODY)
            try:
                query = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "the body is not JSON") from None
            if not isinstance(query, dict):
                raise ApiError(400, "the body is not a c2pa.softBindingQuery object")
            alg, value = query.get("alg"), query.get("value")
        else:
            if len(request.url.query) > MAX_QUERY_STRING:
                raise ApiError(414, "the query is too long; send it with POST")
            alg, value = request.query_params.get("alg"), request.query_params.get("value")
        binding = _binding(alg, value, "alg", "value")
        found = await self._on_repository(self.service.matches, [binding], limit)
        return JSONResponse({"matches": [m.to_dict() for m in found]})

    async def by_content(self, request: Request) -> Response:
        limit = _max_results(request)
        params = request.query_params
        alg = params.get("alg")
        if alg is not None and alg not in KINDS:
            raise ApiError(400, f"the soft-binding algorithm {alg!r} is not supported")
        hint = None
        if "hintAlg" in params or "hintValue" in params:
            hint = _binding(params.get("hintAlg"), params.get("hintValue"), "hintAlg", "hintValue")
        _require_type(request, ("image/", "application/octet-stream"), "send an image (image/*)")
        body = await read_bounded(request.stream(), request.headers.get("content-length"), self.settings.max_upload)
        if not body:
            raise ApiError(415, "the body is empty; send an image")
        try:
            bindings = await anyio.to_thread.run_sync(content_bindings, body, alg, limiter=self._decoders)
        except (PixelsError, WatermarkError) as exc:
            raise ApiError(415, f"not an image this service can read: {exc}") from None
        if hint is not None:
            bindings.append(hint)
        found = await self._on_repository(self.service.matches, bindings, limit)
        return JSONResponse({"matches": [m.to_dict() for m in found]})

    async def manifest(self, request: Request) -> Response:
        manifest_id = request.path_params["manifestId"]
        if not valid_manifest_id(manifest_id):
            raise ApiError(400, "not a manifest id")
        active = request.query_params.get("returnActiveManifest", "false")
        if active not in ("true", "false"):
            raise ApiError(400, "returnActiveManifest is true or false")
        store = await self._on_repository(self.service.store, manifest_id)
        # returnActiveManifest=true is answered with the whole store too (documented under x-rightsmark)
        return Response(store, media_type=STORE_MEDIA_TYPE)

    async def add_manifest(self, request: Request) -> Response:
        token = self.settings.token
        if token is None:
            raise ApiError(
                403, "writes are disabled on this service (start it with --token-file or RIGHTSMARK_SERVE_TOKEN)"
            )
        given = bearer(request.headers.get("authorization"))
        if given is None:
            raise ApiError(401, "writing needs 'Authorization: Bearer TOKEN'", {"WWW-Authenticate": "Bearer"})
        if not token_matches(token, given):
            raise ApiError(403, "the token is not this service's write token")
        _require_type(request, (STORE_MEDIA_TYPE, "application/octet-stream"), f"send a store as {STORE_MEDIA_TYPE}")
        body = await read_bounded(request.stream(), request.headers.get("content-length"), self.settings.max_store)
        client = request.client.host if request.client else "unknown client"
        added = await self._on_repository(self.service.add, body, f"upload from {client}")
        return JSONResponse(
            {"manifestId": added.manifest_id, "added": added.added}, status_code=201 if added.added else 200
        )

    async def algorithms(self, request: Request) -> Response:
        return JSONResponse(supported_algorithms())

    async def document(self, request: Request) -> Response:
        return JSONResponse(openapi.served(str(request.base_url)))


def _max_results(request: Request) -> int:
    text = request.query_params.get("maxResults")
    if text is None:
        return 10
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise ApiError(400, "maxResults is a whole number of at least 1")
    return min(int(text), MAX_RESULTS)


def _binding(alg: object, value: object, alg_name: str, value_name: str) -> SoftBinding:
    if not isinstance(alg, str) or not alg:
        raise ApiError(400, f"'{alg_name}' is missing")
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{value_name}' is missing")
    try:
        binding = SoftBinding.from_b64(alg, value)
        check_query(binding)
    except SoftBindingError as exc:
        raise ApiError(400, f"{exc}; see /services/supportedAlgorithms") from None
    return binding


def _require_type(request: Request, accepted: tuple[str, ...], hint: str) -> None:
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given and not any(given.startswith(a) if a.endswith("/") else given == a for a in accepted):
        raise ApiError(415, f"the body's media type {given!r} is not accepted; {hint}")


def _guarded(handler: Handler) -> Handler:
    """``handler`` answering its failures as JSON errors; unexpected ones logged, answered without details."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error(exc.status, exc.message, exc.headers)
        except BodyTooLargeError:
            return error(413, "the body is larger than this service accepts")
        except ValueError as exc:  # read_bounded: a Content-Length that is no number
            return error(400, str(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error(500, "service failure")

    return guarded


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "no such route; see /openapi.json", 405: "this route does not take that method"}
    return error(exc.status_code, message.get(exc.status_code, str(exc.detail)), dict(exc.headers or {}))


async def _failure(request: Request, exc: Exception) -> Response:
    return error(500, "service failure")


def create_app(repository: Repository, settings: ServiceSettings, thread: RepositoryThread | None = None) -> Starlette:
    """The ASGI application serving ``repository``, used on ``thread`` (the one it was opened on; without
    one, a thread of the app's own). The caller closes the repository, and its thread, after the app stops."""
    service = Service(repository, settings, StoreValidator())
    routes = Routes(service, thread or RepositoryThread(), owned=thread is None)
    return Starlette(
        routes=[
            Route("/matches/byBinding", _guarded(routes.by_binding), methods=["GET", "POST"]),
            Route("/matches/byContent", _guarded(routes.by_content), methods=["POST"]),
            Route("/manifests", _guarded(routes.add_manifest), methods=["POST"]),
            Route("/manifests/{manifestId:path}", _guarded(routes.manifest), methods=["GET"]),
            Route("/services/supportedAlgorithms", _guarded(routes.algorithms), methods=["GET"]),
            Route("/openapi.json", _guarded(routes.document), methods=["GET"]),
        ],
        middleware=[Middleware(RateLimit, limiter=RateLimiter(settings.rate))],
        exception_handlers={HTTPException: _http_error, Exception: _failure},
        lifespan=routes.lifespan,
    )
