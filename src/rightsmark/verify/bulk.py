"""Bulk verification: any number of items, on every core, streaming, in input order.

The coordinating process only hands items out and takes results back: a pool of worker processes
(:mod:`rightsmark.verify.worker`) reads each item, recognises files with no manifest from their head,
asks the verdict cache and the engine, judges, and for ``rightsmark verify`` even encodes the report's
lines and counts the summary (:mod:`rightsmark.verify.stages`). Per item the coordinator does a few
microseconds of work, so however many cores a machine has, they are the limit, not it.

Work travels in chunks sized from what the last chunks cost (about :data:`TARGET_SECONDS` of a
worker's time each: many small files per round trip, one 12 MP image alone), at most two per worker
are in flight (memory stays flat whatever the dataset size), and results come back in input order.
A worker that dies costs its chunk one retry in a fresh pool, then an error record per item, never a
lost item.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rightsmark.models import VerifyRecord
from rightsmark.sources.base import Item
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE
from rightsmark.verify import worker
from rightsmark.verify.facts import Facts, error_facts
from rightsmark.verify.policy import Policy
from rightsmark.verify.stages import FactsStage, RecordStage, ReportStage, Settled
from rightsmark.verify.worker import ChunkStats, Setup, Stage, Worker, settles_alone

if TYPE_CHECKING:
    import concurrent.futures as cf

R = TypeVar("R")

#: Worker seconds a chunk should take: long enough to amortise a round trip, short enough to keep
#: every worker busy to the end.
TARGET_SECONDS = 0.05
#: Items in a chunk at most (a folder of unsigned files: one chunk carries this many).
MAX_ITEMS = 256
#: Bytes of images shipped in one chunk before it is sent regardless of count (items that carry their
#: bytes: shard members, Parquet cells, objects).
CHUNK_BYTES = 8 * 1024 * 1024
#: Weight of the newest chunk in the estimate of an item's cost.
_ALPHA = 0.3


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def start_method() -> str:
    """``fork`` while this process has a single thread (cheap: workers inherit the imported engine),
    else a fork server. The engine starts threads for some files (PDF, CAWG identity); a child forked
    from a process holding them waits forever on a thread or a lock it did not inherit."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    try:
        single = len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc (not Linux): do not guess
        single = False
    if single and "fork" in methods:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


@dataclass
class _Chunk:
    items: list[Item]
    #: the worker's answer, where a pool's worker is on it
    future: cf.Future[tuple[Any, ChunkStats]] | None = None
    #: the answer, where it was made in this process
    done: tuple[Any, ChunkStats] | None = None

    @property
    def ready(self) -> bool:
        return self.future is None or self.future.done()


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
        self.cache = None
        self._cache_dir = None
        self._context = ""
        if cache_dir:
            from rightsmark.verify.cache import FactsCache, cache_context

            self._cache_dir = os.fspath(cache_dir)
            self._context = cache_context(self.trust, self._fingerprints)
            # opened here, so that a bad --cache fails early; closed at once: each worker has its own
            # connection, and none crosses a fork (this one only counts the workers' hits)
            self.cache = FactsCache(self._cache_dir, self._context)
            self.cache.close()
        self._records = RecordStage(policy, now)
        self._pool: cf.ProcessPoolExecutor | None = None  # started with the second item
        self._local: Worker[Any] | None = None
        self._stage: Stage[Any] | None = None  # the stage the pool (or local worker) was started with
        self._per_item: float | None = None
        self._pool_size = self.jobs  # workers the next pool starts with
        self._pool_workers = 0  # and the running one did
        self.engine_reads = 0
        self.prescanned = 0

    # -- life cycle

    def close(self) -> None:
        self._discard_pool(wait=True)
        if self._local is not None:
            self._local.close()
            self._local = None
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> BulkVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _setup(self, stage: Stage[R]) -> Setup[R]:
        return Setup(
            stage,
            self.trust,
            self._fingerprints,
            self.max_item_size,
            self._cache_dir,
            self._context,
            self.policy.recover,
        )

    def _executor(self, stage: Stage[Any]) -> cf.ProcessPoolExecutor:
        if self._pool is not None and (self._stage is not stage or self._pool_workers != self._pool_size):
            self._discard_pool(wait=True)
        if self._pool is None:
            import concurrent.futures as cf
            import multiprocessing

            # The engine is not imported here: a worker loads it when it first meets a manifest (a folder
            # of unsigned files never does), and the coordinator never needs it.
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self._pool_size,
                mp_context=multiprocessing.get_context(start_method()),
                initializer=worker.start,
                initargs=(self._setup(stage),),
            )
            self._stage = stage
            self._pool_workers = self._pool_size
        return self._pool

    def _discard_pool(self, *, wait: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def _in_process(self, stage: Stage[R]) -> Worker[R]:
        if self._local is not None and self._local.setup.stage is not stage:
            self._local.close()
            self._local = None
        if self._local is None:
            self._local = Worker(self._setup(stage))
        return self._local

    # -- what callers ask for

    def facts(self, items: Iterable[Item]) -> Iterator[tuple[str, Facts]]:
        """(key, facts) per item, in input order."""
        for chunk, facts in self._pipeline(items, _FACTS):
            yield from zip((item.key for item in chunk), facts, strict=True)

    def run(self, items: Iterable[Item]) -> Iterator[VerifyRecord]:
        """One :class:`VerifyRecord` per item, in input order."""
        for _, records in self._pipeline(items, self._records):
            yield from records

    def settle(self, items: Iterable[Item], stage: ReportStage) -> Iterator[Settled]:
        """What a report run writes, per chunk of items in input order (:class:`ReportStage`)."""
        for _, settled in self._pipeline(items, stage):
            yield settled

    # -- the pipeline

    def _pipeline(self, items: Iterable[Item], stage: Stage[R]) -> Iterator[tuple[list[Item], R]]:
        source = iter(items)
        head = list(itertools.islice(source, 2))
        alone = self.jobs == 1 or (not self.policy.recover and settles_alone(head[0], self.max_item_size))
        if len(head) == 1 and self._pool is None and alone:
            # one item (`rightsmark verify photo.jpg`) that needs no engine: judged here, starting workers
            # would cost more than it (one the engine must read goes to a worker: a crash there is a record)
            result, stats = self._in_process(stage).chunk(head)
            self._account(stats)
            yield head, result
            return
        # workers for as many items as there are, up to jobs: one file that needs the engine starts one
        self._pool_size = 1 if len(head) == 1 else self.jobs
        items = itertools.chain(head, source)
        window = 2 * self.jobs if self.jobs > 1 else 1
        pending: deque[_Chunk] = deque()
        chunk: list[Item] = []
        nbytes = 0
        size = self._chunk_size()
        for item in items:
            chunk.append(item)
            if item.data is not None:
                nbytes += len(item.data)
            if len(chunk) >= size or nbytes >= CHUNK_BYTES:
                pending.append(self._submit(chunk, stage))
                chunk, nbytes = [], 0
                while pending and (len(pending) > window or pending[0].ready):
                    yield self._drain(pending.popleft(), stage)
                size = self._chunk_size()
        if chunk:
            pending.append(self._submit(chunk, stage))
        while pending:
            yield self._drain(pending.popleft(), stage)

    def _chunk_size(self) -> int:
        """Items for the next chunk: one until an item's cost is known, then about TARGET_SECONDS' worth."""
        if self._per_item is None:
            return 1
        return max(1, min(MAX_ITEMS, int(TARGET_SECONDS / max(self._per_item, 1e-7))))

    def _submit(self, items: list[Item], stage: Stage[Any]) -> _Chunk:
        from concurrent.futures import BrokenExecutor

        if self.jobs == 1:
            return _Chunk(items, done=self._in_process(stage).chunk(items))
        try:
            return _Chunk(items, self._executor(stage).submit(worker.run_chunk, items))
        except BrokenExecutor:  # a worker died while no chunk was waiting on it: start a fresh pool
            self._discard_pool()
            return _Chunk(items, self._executor(stage).submit(worker.run_chunk, items))

    def _drain(self, chunk: _Chunk, stage: Stage[R]) -> tuple[list[Item], R]:
        if chunk.done is not None:
            result, stats = chunk.done
            self._account(stats)
            return chunk.items, result
        assert chunk.future is not None
        try:
            result, stats = chunk.future.result()
        except Exception as first:  # a worker died (killed, out of memory): retry once in a fresh pool
            self._discard_pool()
            try:
                result, stats = self._executor(stage).submit(worker.run_chunk, chunk.items).result()
            except Exception as exc:  # twice: report every item of the chunk, never lose one
                self._discard_pool()
                message = f"worker failed: {type(exc).__name__}: {exc or first}"
                failed = [error_facts(message)] * len(chunk.items)
                return chunk.items, stage.finish(chunk.items, failed)
        self._account(stats)
        return chunk.items, result

    def _account(self, stats: ChunkStats) -> None:
        self.prescanned += stats.prescanned
        self.engine_reads += stats.engine_reads
        if self.cache is not None:
            self.cache.hits += stats.cache_hits
        if stats.items:
            cost = stats.seconds / stats.items
            self._per_item = cost if self._per_item is None else (1 - _ALPHA) * self._per_item + _ALPHA * cost


_FACTS = FactsStage()


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
