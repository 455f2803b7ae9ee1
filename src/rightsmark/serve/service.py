"""The resolution service's work, apart from HTTP: answering queries from a repository, fetching stores,
adding stores, each store checked by :class:`~rightsmark.serve.validation.StoreValidator` on the way out.

Everything here is blocking and runs on the service's one repository thread (a repository connection is
used by one thread at a time); :mod:`.app` awaits it. Failures a client caused are :class:`ApiError`\\ s with
the status code to answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from rightsmark.errors import RightsmarkError
from rightsmark.repository.base import ConflictError, Repository, RepositoryError
from rightsmark.repository.wire import Match, binding_distance, similarity_score
from rightsmark.serve.limits import ServiceSettings
from rightsmark.serve.validation import StoreValidator
from rightsmark.softbinding.model import ISCC_ALG, WATERMARK_ALG, SoftBinding

log = logging.getLogger("rightsmark.serve")
T = TypeVar("T")

#: the answer to a query one of whose matches has a kept store that does not validate
INCOMPLETE = "a manifest store matching this query does not validate; the answer would be incomplete"


class ApiError(Exception):
    """A request the service answers with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Added:
    manifest_id: str
    added: bool


class RepositoryThread:
    """The one thread a repository is opened on, used on and closed on (an SQLite connection belongs to the
    thread that made it, and a repository is used by one thread at a time)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rightsmark-repository")

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread, waited for."""
        return self._pool.submit(fn, *args).result()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread, awaited."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Service:
    """One repository behind the API. Not thread-safe: call it from one thread."""

    def __init__(self, repository: Repository, settings: ServiceSettings, validator: StoreValidator) -> None:
        self.repository = repository
        self.settings = settings
        self.validator = validator

    def matches(self, bindings: Sequence[SoftBinding], limit: int) -> list[Match]:
        """The manifests matching any of ``bindings``, nearest first, at most ``limit``: only those whose
        kept store validates as theirs and records a binding within reach of the query. A candidate whose kept
        store does not validate makes the answer a 500: leaving it out would tell the client that nothing
        else matches, and the store left out may be the one that forbids the use."""
        best: dict[str, int] = {}
        for binding in bindings:
            # a few more than asked, so that a store refused below does not shorten the answer
            for candidate in self.repository.find(
                binding, max_distance=self.settings.max_distance, limit=min(2 * limit, limit + 20)
            ):
                distance = self._confirmed(candidate.manifest_id, binding)
                if distance is not None and distance < best.get(candidate.manifest_id, distance + 1):
                    best[candidate.manifest_id] = distance
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))[:limit]
        return [Match(manifest_id, similarity_score(distance)) for manifest_id, distance in ranked]

    def _confirmed(self, manifest_id: str, query: SoftBinding) -> int | None:
        """The distance from ``query`` to the nearest binding the validated store of ``manifest_id`` records,
        or None when the store is missing, does not validate, or records no binding within reach."""
        try:
            store = self.repository.manifest(manifest_id)
        except RepositoryError as exc:  # a store the repository itself finds damaged
            self._refused(manifest_id, exc.message)
            raise ApiError(500, INCOMPLETE) from None
        if store is None:
            self._refused(manifest_id, "listed by the index, but no store is kept")
            raise ApiError(500, INCOMPLETE)
        verdict = self.validator.accepts(store, manifest_id)
        if not verdict.valid:
            self._refused(manifest_id, verdict.reason)
            raise ApiError(500, INCOMPLETE)
        reach = self.settings.max_distance
        distances = [d for r in verdict.bindings if (d := binding_distance(query, r, reach)) is not None]
        if not distances:
            log.warning("manifest %s was indexed under a binding its store does not record; not listed", manifest_id)
            return None
        return min(distances)

    def store(self, manifest_id: str) -> bytes:
        """The validated store of ``manifest_id``; 404 when none is kept, 500 when it does not validate."""
        unservable = ApiError(500, "the manifest store kept under this id does not validate; it is not served")
        try:
            store = self.repository.manifest(manifest_id)
        except RepositoryError as exc:  # a store the repository itself finds damaged
            self._refused(manifest_id, exc.message)
            raise unservable from None
        if store is None:
            raise ApiError(404, f"no manifest {manifest_id!r} in this repository")
        verdict = self.validator.accepts(store, manifest_id)
        if not verdict.valid:
            self._refused(manifest_id, verdict.reason)
            raise unservable
        return store

    def add(self, store: bytes, source: str) -> Added:
        """Validate ``store`` and keep it; 400 when it is not a store that validates, 409 when another store
        is kept under its id."""
        from rightsmark.repository.ingest import entry_from_store

        try:
            entry = entry_from_store(store, source)
        except RightsmarkError as exc:
            raise ApiError(400, f"not a manifest store that validates: {exc.message}") from None
        verdict = self.validator.accepts(store, entry.manifest_id)
        if not verdict.valid:  # the ingest and the service judge alike; if ever not, the store stays out
            raise ApiError(400, f"not a manifest store that validates: {verdict.reason}")
        try:
            added = self.repository.add(entry)
        except ConflictError:
            raise ApiError(
                409, f"another manifest store is kept under {entry.manifest_id!r}; nothing replaced"
            ) from None
        log.info("%s manifest %s from %s", "added" if added else "already kept:", entry.manifest_id, source)
        return Added(entry.manifest_id, added)

    @staticmethod
    def _refused(manifest_id: str, reason: str | None) -> None:
        log.error("manifest %s: its kept store does not validate (%s); not served", manifest_id, reason)


def content_bindings(data: bytes, alg: str | None) -> list[SoftBinding]:
    """The soft bindings of the image ``data`` (all rightsmark computes, or only ``alg``'s).

    Raises :class:`~rightsmark.softbinding.pixels.PixelsError` where the image cannot be decoded, and
    :class:`~rightsmark.softbinding.watermark.WatermarkError` where it cannot be read for a mark: an answer
    from the fingerprint alone would look complete."""
    from rightsmark.softbinding import iscc
    from rightsmark.softbinding.watermark import detect

    found = []
    if alg in (None, ISCC_ALG):
        found.append(iscc.fingerprint(data))
    if alg in (None, WATERMARK_ALG):
        mark = detect(data)
        if mark is not None:
            found.append(SoftBinding(WATERMARK_ALG, mark))
    return found
