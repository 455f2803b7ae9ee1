"""Bulk verification: any number of items, in parallel, streaming, in input order.

The main process reads each item once: it recognises files with no manifest at all with a
byte scan (:func:`rightsmark.verify.facts.prescan`), answers repeats from the verdict cache, and
sends only the rest to a pool of worker processes, each holding one engine context for
its whole life. Work travels in chunks (fewer round trips), at most a bounded number are
in flight (memory stays flat whatever the dataset size), and results come back in input
order. A worker that dies costs its chunk an error record per item, never a lost item.

Local files are opened only once known to be regular files no larger than ``max_item_size``
(:func:`rightsmark.sources.guard.open_regular`: a FIFO or a device is an error record, never a hang),
and read once, from the descriptor that was checked.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rightsmark.models import VerifyRecord
from rightsmark.sources.base import Item
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, open_regular, read_capped
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import FactReader, Facts, error_facts, prescan, prescan_open
from rightsmark.verify.localfile import WHOLE_BYTES, read_error, read_local, unforeseen
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import make_record

#: Engine work per chunk: enough to amortise a round trip, small enough to keep workers busy.
CHUNK_ITEMS = 16
#: Bytes of images per chunk before it is sent regardless of count: big files travel in small
#: chunks so that a few large images still spread over all workers.
CHUNK_BYTES = 8 * 1024 * 1024
#: Items held in one chunk at most (ready records included), so an unsigned folder streams too.
CHUNK_SLOTS = 256


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def start_method() -> str:
    """``fork`` while this process has a single thread (cheap: workers inherit the imported engine),
    else a fork server. The engine starts threads for some files (PDF, CAWG identity); a child forked
    from a process holding them waits forever on a thread or a lock it did not inherit."""
    methods = multiprocessing.get_all_start_methods()
    try:
        single = len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc (not Linux): do not guess
        single = False
    if single and "fork" in methods:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


# ---------------------------------------------------------------------------------------------
# Worker side

_reader: FactReader | None = None
_max_item_size = DEFAULT_MAX_ITEM_SIZE


def _init_worker(trust: TrustSources | None, fingerprints: bool, max_item_size: int = DEFAULT_MAX_ITEM_SIZE) -> None:
    global _reader, _max_item_size
    _reader = FactReader(trust, fingerprints=fingerprints)
    _max_item_size = max_item_size


def _read_task(
    reader: FactReader, task: tuple[str, str | None, bytes | None], max_item_size: int | None = None
) -> Facts:
    """One task: the bytes shipped, judged; or the local file, judged where it lies (the engine reads it)."""
    key, path, data = task
    if data is None:
        return read_local(reader, key, path or "", _max_item_size if max_item_size is None else max_item_size)
    return examine(reader, data, key)


def examine(reader: FactReader, data: bytes, key: str) -> Facts:
    """The engine's facts for ``data``, or error facts when the engine raised something unforeseen."""
    try:
        return reader.examine(data, key)[0]
    except Exception as exc:  # the engine raised something unforeseen: a drop, never a crash
        return unforeseen(exc)


def _run_chunk(tasks: list[tuple[str, str | None, bytes | None]]) -> list[Facts]:
    assert _reader is not None, "worker not initialised"
    return [_read_task(_reader, t) for t in tasks]


# ---------------------------------------------------------------------------------------------
# Verdict cache


class FactsCache:
    """Content-addressed facts, in one SQLite file: unchanged bytes are not read twice.

    Keyed by sha256 of the bytes and a context string (trust anchors, tool and engine
    versions); the policy is applied afresh to cached facts, so a changed policy or a later
    date (consent expiry) is always honoured, and a changed byte misses the cache.
    """

    #: Seconds a cached reading stays valid (a certificate may expire, a list of anchors change meaning).
    MAX_AGE = 24 * 3600.0

    def __init__(self, directory: str | os.PathLike[str], context: str) -> None:
        import sqlite3

        os.makedirs(directory, exist_ok=True)
        self._db = sqlite3.connect(os.path.join(directory, "facts.sqlite3"))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS readings"
            " (digest TEXT PRIMARY KEY, facts TEXT NOT NULL, cached_at REAL NOT NULL)"
        )
        self._context = context
        self.hits = 0
        self._pending = 0

    def _key(self, data_digest: str) -> str:
        return hashlib.sha256(f"{self._context}\n{data_digest}".encode()).hexdigest()

    def get(self, data_digest: str) -> Facts | None:
        # Signing certificates expire and engines learn: a reading is reused for MAX_AGE at most.
        row = self._db.execute(
            "SELECT facts FROM readings WHERE digest = ? AND cached_at > ?",
            (self._key(data_digest), time.time() - self.MAX_AGE),
        ).fetchone()
        if row is None:
            return None
        facts = Facts.from_json(row[0])
        if facts is not None:
            self.hits += 1
        return facts

    def put(self, data_digest: str, facts: Facts) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO readings (digest, facts, cached_at) VALUES (?, ?, ?)",
            (self._key(data_digest), facts.to_json(), time.time()),
        )
        self._pending += 1
        if self._pending >= 512:
            self._db.commit()
            self._pending = 0

    def close(self) -> None:
        self._db.commit()
        self._db.close()


def cache_context(trust: TrustSources | None, fingerprints: bool) -> str:
    from rightsmark._version import __version__
    from rightsmark.verify.facts import FACTS_VERSION

    try:
        from importlib.metadata import version

        engine_version = version("c2pa-python")
    except Exception:  # pragma: no cover
        engine_version = "unknown"
    anchors = trust.digest if trust is not None else "none"
    return f"rightsmark {__version__} facts {FACTS_VERSION} c2pa {engine_version} trust {anchors} fp {fingerprints}"


# ---------------------------------------------------------------------------------------------
# Main side


@dataclass
class _Chunk:
    slots: list[tuple[str, Facts | None, str | None]] = field(default_factory=list)  # key, ready facts, digest
    tasks: list[tuple[str, str | None, bytes | None]] = field(default_factory=list)
    nbytes: int = 0
    future: cf.Future[list[Facts]] | None = None


class BulkVerifier:
    """Verify items under a policy with ``jobs`` worker processes (1 = in this process)."""

    def __init__(
        self,
        policy: Policy,
        *,
        jobs: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        now: dt.datetime | None = None,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    ) -> None:
        self.policy = policy
        self.max_item_size = max_item_size
        self.jobs = max(1, jobs or default_jobs())
        self.now = now
        self.trust = policy.trust_sources()
        self._fingerprints = policy.needs_fingerprints
        self.cache = FactsCache(cache_dir, cache_context(self.trust, self._fingerprints)) if cache_dir else None
        self._pool: cf.ProcessPoolExecutor | None = None
        self._local: FactReader | None = None
        self.engine_reads = 0
        self.prescanned = 0

    # -- life cycle

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._local is not None:
            self._local.close()
            self._local = None
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> BulkVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # Import the engine once here: forked workers inherit the loaded module instead of each
            # paying the import (no engine object exists yet, so none crosses the fork).
            from rightsmark.engine import adapter as engine

            engine.c2pa()
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context(start_method()),
                initializer=_init_worker,
                initargs=(self.trust, self._fingerprints, self.max_item_size),
            )
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- the pipeline

    def facts(self, items: Iterable[Item]) -> Iterator[tuple[str, Facts]]:
        """(key, facts) per item, in input order."""
        window = 2 * self.jobs if self.jobs > 1 else 1
        pending: deque[_Chunk] = deque()
        chunk = _Chunk()
        for item in items:
            self._add(chunk, item)
            if len(chunk.tasks) >= CHUNK_ITEMS or chunk.nbytes >= CHUNK_BYTES or len(chunk.slots) >= CHUNK_SLOTS:
                pending.append(self._submit(chunk))
                chunk = _Chunk()
                while pending and (len(pending) > window or pending[0].future is None or pending[0].future.done()):
                    yield from self._drain(pending.popleft())
        if chunk.slots:
            pending.append(self._submit(chunk))
        while pending:
            yield from self._drain(pending.popleft())

    def run(self, items: Iterable[Item]) -> Iterator[VerifyRecord]:
        """One :class:`VerifyRecord` per item, in input order.

        An error item with its own reason code (``duplicate-key``) gets that code instead of ``integrity-error``."""
        noted_items: deque[Item] = deque()

        def noted(source: Iterable[Item]) -> Iterator[Item]:
            for item in source:
                noted_items.append(item)
                yield item

        for key, facts in self.facts(noted(items)):
            item = noted_items.popleft()
            yield make_record(key, facts, self.policy, self.now, item=item)

    def _add(self, chunk: _Chunk, item: Item) -> None:
        if item.error is not None:
            chunk.slots.append((item.key, error_facts(item.error), None))
            return
        try:
            if item.path is not None and item.data is None:
                data = self._read_local(chunk, item)
                if data is None:
                    return
            else:
                data = item.read(self.max_item_size)
        except OSError as exc:
            chunk.slots.append((item.key, error_facts(read_error(exc)), None))
            return
        early = prescan(data, item.key)
        if early is not None:
            self.prescanned += 1
            chunk.slots.append((item.key, early, None))
            return
        digest = None
        if self.cache is not None:
            digest = hashlib.sha256(data).hexdigest()
            cached = self.cache.get(digest)
            if cached is not None:
                chunk.slots.append((item.key, cached, None))
                return
        # A local file is re-read by the worker (page cache) instead of pickled through a pipe.
        # (with a cache the hashed bytes themselves travel: the file may change after hashing)
        ship = None if (item.path is not None and self.jobs > 1 and digest is None) else data
        self._ship(chunk, item, ship, digest, len(data))

    def _read_local(self, chunk: _Chunk, item: Item) -> bytes | None:
        """The bytes of a local item, or None when it is settled without them (prescan, or shipped to
        a worker that reads it). Checked to be a regular file within the cap before it is opened."""
        path = item.path or ""
        fd, size = open_regular(path, self.max_item_size)
        with open(fd, "rb", buffering=0) as fh:
            early, marked = prescan_open(fh, item.key)  # the very file checked, however the path changes
            if early is not None:
                self.prescanned += 1
                chunk.slots.append((item.key, early, None))
                return None
            if marked and self.cache is None and (self.jobs > 1 or size > WHOLE_BYTES):
                self._ship(chunk, item, None, None, size)  # read where it is judged (a large one by the engine)
                return None
            fh.seek(0)
            return read_capped(fh, self.max_item_size, size)

    @staticmethod
    def _ship(chunk: _Chunk, item: Item, data: bytes | None, digest: str | None, size: int) -> None:
        chunk.tasks.append((item.key, item.path, data))
        chunk.nbytes += size
        chunk.slots.append((item.key, None, digest))

    def _submit(self, chunk: _Chunk) -> _Chunk:
        if not chunk.tasks:
            return chunk
        self.engine_reads += len(chunk.tasks)
        if self.jobs == 1:
            if self._local is None:
                self._local = FactReader(self.trust, fingerprints=self._fingerprints)
            done: cf.Future[list[Facts]] = cf.Future()
            done.set_result([_read_task(self._local, t, self.max_item_size) for t in chunk.tasks])
            chunk.future = done
        else:
            try:
                chunk.future = self._executor().submit(_run_chunk, chunk.tasks)
            except cf.BrokenExecutor:  # a worker died while no chunk was waiting on it: start a fresh pool
                self._discard_pool()
                chunk.future = self._executor().submit(_run_chunk, chunk.tasks)
        return chunk

    def _drain(self, chunk: _Chunk) -> Iterator[tuple[str, Facts]]:
        results: list[Facts] = []
        if chunk.future is not None:
            try:
                results = chunk.future.result()
            except Exception as first:  # a worker died (killed, out of memory): retry once in a fresh pool
                self._discard_pool()
                try:
                    results = self._executor().submit(_run_chunk, chunk.tasks).result()
                except Exception as exc:  # twice: report every item of the chunk, never lose one
                    self._discard_pool()
                    message = f"worker failed: {type(exc).__name__}: {exc or first}"
                    results = [error_facts(message)] * len(chunk.tasks)
        it = iter(results)
        for key, ready, digest in chunk.slots:
            if ready is not None:
                yield key, ready
                continue
            facts = next(it)
            if digest is not None and self.cache is not None and facts.integrity.value != "error":
                self.cache.put(digest, facts)
            yield key, facts


def verify_items(
    items: Iterable[Item], policy: Policy | None = None, *, jobs: int | None = None
) -> Iterator[VerifyRecord]:
    """Verify ``items`` under ``policy`` (the strict default when None); yields VerifyRecords in order."""
    with BulkVerifier(policy or Policy(), jobs=jobs) as bulk:
        yield from bulk.run(items)


def verify_source(
    specs: Iterable[str],
    policy: Policy | None = None,
    *,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: dict[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Iterator[VerifyRecord]:
    """Verify everything the source specs name (paths, directories, shards, Parquet, URLs), in order.

    The Python face of ``rightsmark verify``: records stream as they are ready; memory stays flat.
    """
    from rightsmark.sources import open_sources

    items = open_sources(
        list(specs),
        column=column,
        key_column=key_column,
        storage_options=storage_options,
        max_item_size=max_item_size,
    )
    with BulkVerifier(policy or Policy(), jobs=jobs, cache_dir=cache_dir, max_item_size=max_item_size) as bulk:
        yield from bulk.run(items)
