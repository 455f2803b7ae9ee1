"""The worker side of bulk verification: everything done per item happens here, not in the coordinator.

A worker process (or the calling process, with one job) holds one :class:`Worker` for its whole
life: one engine front (:class:`~rightsmark.verify.reader.FactReader`), its own connection to the
verdict cache, and the :class:`Stage` that turns a chunk's facts into what the coordinator wants back
(facts, records, or a report's encoded lines with their tallies: :mod:`rightsmark.verify.stages`).

Per item it opens a local file only once known to be a regular file within ``max_item_size``
(:func:`rightsmark.sources.guard.open_regular`: a FIFO or a device is an error record, never a hang),
recognises a file with no manifest from its head (:func:`~rightsmark.verify.facts.prescan_open`),
and otherwise reads it from the very descriptor it checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from rightsmark.media.formats import HEADER_BYTES, sniff
from rightsmark.sources.base import Item
from rightsmark.sources.fs import take_sidecars
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, open_regular, read_capped
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import Facts, error_facts, prescan, prescan_open
from rightsmark.verify.localfile import read_error, read_local, unforeseen
from rightsmark.verify.reader import FactReader

if TYPE_CHECKING:
    from rightsmark.verify.cache import FactsCache
    from rightsmark.verify.recover import Recoverer

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Stage(Protocol[R_co]):
    """What a worker makes of a chunk's facts; picklable (it travels to every worker once)."""

    def finish(self, items: list[Item], facts: list[Facts]) -> R_co: ...


@dataclass(frozen=True)
class Setup(Generic[R]):
    """Everything a worker needs, sent once when it starts."""

    stage: Stage[R]
    trust: TrustSources | None = None
    fingerprints: bool = False
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE
    cache_dir: str | None = None
    cache_context: str = ""
    #: the repository a file without a valid manifest of its own is recovered from (``--recover``)
    recover: str | None = None


@dataclass
class ChunkStats:
    """What one chunk cost, for the coordinator's counters and chunk sizing."""

    items: int = 0
    prescanned: int = 0
    engine_reads: int = 0
    cache_hits: int = 0
    #: CPU seconds the worker spent on the chunk
    seconds: float = 0.0


def examine(reader: FactReader, data: bytes, key: str) -> Facts:
    """The engine's facts for ``data``, or error facts when the engine raised something unforeseen."""
    try:
        return reader.examine(data, key)[0]
    except Exception as exc:  # the engine raised something unforeseen: a drop, never a crash
        return unforeseen(exc)


class Worker(Generic[R]):
    """One process's verifier: items in, the stage's result out."""

    def __init__(self, setup: Setup[R]) -> None:
        self.setup = setup
        self.max_item_size = setup.max_item_size
        self.reader = FactReader(setup.trust, fingerprints=setup.fingerprints)
        self.recoverer: Recoverer | None = None
        if setup.recover:
            from rightsmark.verify.recover import Recoverer

            self.recoverer = Recoverer(setup.recover, self.reader)
        self.cache: FactsCache | None = None
        if setup.cache_dir:
            from rightsmark.verify.cache import FactsCache

            self.cache = FactsCache(setup.cache_dir, setup.cache_context)

    def close(self) -> None:
        if self.recoverer is not None:
            self.recoverer.close()
        self.reader.close()
        if self.cache is not None:
            self.cache.close()

    def chunk(self, items: list[Item]) -> tuple[R, ChunkStats]:
        started = time.process_time()
        stats = ChunkStats(items=len(items))
        items = [take_sidecars(item) for item in items]  # a folder's JSON sidecars, left to the workers
        facts = [self.facts(item, stats) for item in items]
        result = self.setup.stage.finish(items, facts)
        if self.cache is not None:
            self.cache.commit()
        stats.seconds = time.process_time() - started
        return result, stats

    def facts(self, item: Item, stats: ChunkStats) -> Facts:
        """The facts of one item: its source's error, its head's verdict, the cache's or the engine's."""
        if item.error is not None:
            return error_facts(item.error)
        engine_reads, hits = self.reader.engine_reads, stats.cache_hits
        if item.data is None and item.path is not None and self.cache is None:
            facts = read_local(self.reader, item.key, item.path, self.max_item_size)  # the engine reads it in place
        else:
            facts = self._facts(item, stats)
        if self.reader.engine_reads == engine_reads and stats.cache_hits == hits:
            stats.prescanned += 1  # settled without the engine: no manifest, or unreadable
        stats.engine_reads += self.reader.engine_reads - engine_reads
        if self.recoverer is not None:
            facts = self._recovered(item, facts)
        return facts

    def _recovered(self, item: Item, facts: Facts) -> Facts:
        """``facts`` with what recovery found, for an item without a valid manifest of its own (never cached)."""
        from rightsmark.verify.recover import RECOVERABLE

        assert self.recoverer is not None
        if item.error is not None or facts.integrity not in RECOVERABLE:
            return facts  # a file with a valid manifest of its own is not read again
        try:
            data = item.read(self.max_item_size)  # a local file: checked to be regular and within the cap again
        except OSError as exc:
            return error_facts(read_error(exc))
        return self.recoverer.apply(facts, data, item.key)

    def _facts(self, item: Item, stats: ChunkStats) -> Facts:
        """The facts of an item that carries its bytes, or of any item when a cache is kept (the cache
        is keyed by the digest of the very bytes judged)."""
        try:
            data = item_bytes(item, self.max_item_size)
        except OSError as exc:
            return error_facts(read_error(exc))
        if isinstance(data, Facts):
            return data
        digest = None
        if self.cache is not None:
            # the bytes and the format they are read as: a name can change that (.dng, .svg), and with it the reading
            fmt = sniff(data[:HEADER_BYTES], item.key)
            digest = f"{self.cache.digest(data)} {fmt.name if fmt else '-'}"
            cached = self.cache.get(digest)
            if cached is not None:
                stats.cache_hits += 1
                return cached
        facts = examine(self.reader, data, item.key)
        if digest is not None and self.cache is not None:
            self.cache.put(digest, facts)
        return facts


def item_bytes(item: Item, max_item_size: int = DEFAULT_MAX_ITEM_SIZE) -> bytes | Facts:
    """The bytes the engine must read for ``item``, or its facts when they come without the engine (no
    manifest: :func:`~rightsmark.verify.facts.prescan`). A local file is checked to be a regular file within
    the cap and read from that very descriptor, its head first. Raises OSError where it cannot be read."""
    if item.data is None and item.path is not None:
        fd, size = open_regular(item.path, max_item_size)
        with open(fd, "rb", buffering=0) as fh:
            early, marked = prescan_open(fh, item.key)  # the very file checked, however the path changes
            if early is not None:
                return early
            fh.seek(0)
            data = read_capped(fh, max_item_size, size)
        if marked:  # a manifest marker in its head: the engine must look
            return data
    else:
        data = item.read(max_item_size)
    early = prescan(data, item.key)
    return data if early is None else early


def settles_alone(item: Item, max_item_size: int = DEFAULT_MAX_ITEM_SIZE) -> bool:
    """Whether ``item``'s facts come without the engine (its source's error, an unreadable file, or no
    manifest by its bytes): then judging it in the calling process is safe. A file the engine must read
    goes to a worker process, so that an engine crash on a hostile file is an error record, never the
    end of the run."""
    if item.error is not None:
        return True
    try:
        return isinstance(item_bytes(item, max_item_size), Facts)
    except OSError:
        return True  # an error record


# ---------------------------------------------------------------------------------------------
# The pool's entry points (module level: picklable by reference)

_worker: Worker[Any] | None = None


def start(setup: Setup[Any]) -> None:
    """A pool worker's start: its verifier, and the engine's freed buffers kept for the next file."""
    from rightsmark.engine.adapter import keep_freed_memory

    global _worker
    keep_freed_memory()
    _worker = Worker(setup)


def run_chunk(items: list[Item]) -> tuple[Any, ChunkStats]:
    assert _worker is not None, "worker not initialised"
    return _worker.chunk(items)
