"""Where batch signing runs: worker processes (or this process), each finishing one file while it signs the next.

A signed file is flushed to disk before it is moved into place (never a partial file, even after a
power cut); that wait is for the disk, not the processor. Each signing process therefore hands every
file, once signed into its temporary, to a finishing thread (flush, move into place, note in the
journal, report) and signs the next meanwhile: the cores stay busy signing.

Worker processes are fed over a pipe each, a few files ahead, so a worker never waits for the main
process; the main process only sends jobs and relays outcomes. A worker ignores Ctrl-C: the main
process stops feeding and closes the pipes, and each worker finishes the files it holds (complete
files, noted in the journal, so a re-run skips them) and exits. A worker that dies fails the files it
held ("the signing worker died"); a fresh one takes the rest.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.errors import UsageError
from rightsmark.sign.batch import SignJob, SignJournal, SignOutcome, Started, died, finish_job, start_job

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from rightsmark.keys.source import KeySource
    from rightsmark.sign.signer import Signer

#: Files sent to a worker ahead of its outcomes: the one it signs, the next, and one being finished.
AHEAD = 3
#: A worker that dies is replaced this many times in a run; then the run stops.
RESTARTS = 3

Emit = Callable[[int, SignJob, SignOutcome], None]


@dataclass(frozen=True)
class WorkerSettings:
    """What every signing process needs (picklable: sent to fork-server workers)."""

    source: KeySource
    tsa: str | None
    thumbnail: bool
    xmp: bool
    journal: Path | None
    soft_binding: bool = True
    watermark: bool = False

    def signer(self) -> Signer:
        from rightsmark.engine.adapter import keep_freed_memory
        from rightsmark.sign.signer import Signer

        keep_freed_memory()
        return Signer(
            self.source.load(),
            thumbnail=self.thumbnail,
            tsa_url=self.tsa,
            xmp=self.xmp,
            soft_binding=self.soft_binding,
            watermark=self.watermark,
        )


class Finisher:
    """A thread that finishes started jobs in order (:func:`~rightsmark.sign.batch.finish_job`) and
    emits each outcome; at most one started job waits for it, so signing never runs far ahead.

    Never hangs and never leaves a temporary behind: a job handed over while the caller is interrupted
    is discarded, :meth:`close` only raises a flag (the thread finishes what it holds, then stops), and
    an error raised while finishing (a bug, with ``RIGHTSMARK_DEBUG`` set) stops the thread cleanly: the
    jobs still waiting are discarded and the error is raised again in the caller."""

    #: Seconds the thread waits for a job before looking at the stop flag again.
    POLL = 0.1

    def __init__(self, journal: SignJournal | None, emit: Emit) -> None:
        self._journal = journal
        self._emit = emit
        self._queue: queue.Queue[tuple[int, SignJob, Started] | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rightsmark-finish")
        self._thread.start()

    def put(self, index: int, job: SignJob, started: Started) -> None:
        try:
            while True:
                if self._error is not None:
                    raise self._error
                try:
                    self._queue.put((index, job, started), timeout=self.POLL)
                    return
                except queue.Full:
                    continue
        except BaseException:
            _discard(started)  # never handed over: its temporary goes
            raise

    def close(self) -> None:
        """Finish what was handed over, then stop (an error met finishing is raised here)."""
        self._stop.set()  # enough on its own: the thread stops once nothing is left, even if the rest is cut short
        if self._thread.is_alive():  # wake it now rather than at its next look at the flag
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=self.POLL)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.POLL)
            except queue.Empty:
                if self._stop.is_set() and self._queue.empty():  # nothing is put after close(): all done
                    return
                continue
            if item is None:  # close(): everything handed over before it is done
                return
            index, job, started = item
            if self._error is not None:
                _discard(started)
                continue
            try:
                self._emit(index, job, finish_job(job, started, self._journal))
            except BaseException as exc:  # a bug (raised only with RIGHTSMARK_DEBUG): stop finishing, say it
                self._error = exc
                _discard(started)


def _discard(started: Started) -> None:
    """Remove the temporary of a job signed but never finished."""
    signed, _ = started
    if not isinstance(signed, SignOutcome):
        signed.discard()


def sign_here(
    settings: WorkerSettings, todo: list[SignJob], journal: SignJournal | None, *, stopping: Callable[[], bool]
) -> Iterator[tuple[SignJob, SignOutcome]]:
    """Sign ``todo`` in this process (its finishing thread flushing one file while the next is signed)."""
    done: queue.SimpleQueue[tuple[SignJob, SignOutcome]] = queue.SimpleQueue()
    with settings.signer() as signer:
        finisher = Finisher(journal, lambda _i, job, outcome: done.put((job, outcome)))
        try:
            for index, job in enumerate(todo):
                if stopping():
                    break
                finisher.put(index, job, start_job(signer, job))
                while not done.empty():
                    yield done.get()
        finally:
            finisher.close()
    while not done.empty():
        yield done.get()


# ---------------------------------------------------------------------------------------------
# Worker processes


def _worker_main(conn: connection.Connection, settings: WorkerSettings) -> None:
    """A worker process: sign the jobs that come over ``conn`` until it says ``None`` or closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops the run; files held are finished
    try:
        signer = settings.signer()
        journal = SignJournal(settings.journal) if settings.journal is not None else None
    except Exception as exc:  # the key cannot be opened here (a token gone): say why and stop
        one_line = getattr(exc, "one_line", None)
        conn.send(("cannot-start", one_line() if callable(one_line) else f"{type(exc).__name__}: {exc}"))
        return
    lock = threading.Lock()

    def send(index: int, job: SignJob, outcome: SignOutcome) -> None:
        with lock, contextlib.suppress(OSError):  # the main process is gone: finish the files anyway
            conn.send(("done", index, outcome))

    finisher = Finisher(journal, send)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            index, job = message
            finisher.put(index, job, start_job(signer, job))
    finally:
        finisher.close()
        signer.close()
        if journal is not None:
            journal.close()


@dataclass
class _Worker:
    process: BaseProcess
    conn: connection.Connection
    held: dict[int, SignJob] = field(default_factory=dict)  # sent, outcome not yet back

    def send(self, index: int, job: SignJob) -> None:
        self.held[index] = job
        with contextlib.suppress(OSError):  # a dead worker: found by the main loop, its files failed there
            self.conn.send((index, job))


def sign_on_workers(
    settings: WorkerSettings, todo: list[SignJob], workers: int, method: str, *, stopping: Callable[[], bool]
) -> Iterator[tuple[SignJob, SignOutcome]]:
    """Sign ``todo`` on ``workers`` processes started with ``method``; outcomes as they come."""
    import multiprocessing

    context: Any = multiprocessing.get_context(method)

    def start() -> _Worker:
        mine, theirs = context.Pipe()
        process = context.Process(target=_worker_main, args=(theirs, settings), name="rightsmark-sign", daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, mine)

    pending = collections.deque(enumerate(todo))
    pool: list[_Worker] = []
    restarts = 0

    def feed() -> None:
        for worker in pool:
            while pending and len(worker.held) < AHEAD and not stopping():
                worker.send(*pending.popleft())

    try:
        pool.extend(start() for _ in range(workers))
        feed()
        while any(w.held for w in pool):
            busy = [w for w in pool if w.held]
            connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                alive = True
                try:
                    while worker.conn.poll():
                        message = worker.conn.recv()
                        if message[0] == "cannot-start":
                            raise UsageError(f"a signing worker cannot start: {message[1]}")
                        _, index, outcome = message
                        yield worker.held.pop(index), outcome
                except (EOFError, OSError):
                    alive = False
                if alive and worker.process.is_alive():
                    continue
                worker.process.join()
                for job in worker.held.values():
                    yield job, died(job)
                worker.held.clear()
                pool.remove(worker)
                restarts += 1
                if restarts > RESTARTS:
                    raise UsageError(
                        "signing workers keep dying; stopped", hint="set RIGHTSMARK_DEBUG=1 and run with --jobs 1"
                    )
                if pending:
                    pool.append(start())
            feed()
    finally:
        _stop(pool)


def _stop(pool: list[_Worker]) -> None:
    """Tell every worker to stop once the files it holds are finished, and wait for it."""
    for worker in pool:
        with contextlib.suppress(OSError):
            worker.conn.send(None)
    for worker in pool:
        worker.process.join()
        worker.conn.close()


def _start_method(source: KeySource) -> str:
    """fork while single-threaded (workers inherit the imports), else a fork server; a PKCS#11 library
    initialised in this process must not be inherited by a fork, so tokens always get a fork server."""
    from rightsmark.verify.bulk import start_method

    return "forkserver" if source.is_token else start_method()


def _sweep_temporaries(folders: Iterable[Path]) -> None:
    """Remove the temporaries a killed earlier run left in the output folders (see files.sweep_stale_temporaries)."""
    import time

    from rightsmark.files import sweep_stale_temporaries

    started = time.time()
    for folder in folders:
        sweep_stale_temporaries(folder, started=started)


@dataclass
class BatchSigner:
    """Signs :class:`SignJob` s on ``jobs`` processes (1: in this process), yielding outcomes as they finish."""

    source: KeySource
    tsa: str | None = None
    thumbnail: bool = False
    xmp: bool = True
    soft_binding: bool = True
    watermark: bool = False
    jobs: int = 0
    journal: SignJournal | None = None
    _stopping: bool = field(default=False, init=False, repr=False)

    def run(self, jobs: Iterable[SignJob], *, resign: bool = False) -> Iterator[SignOutcome]:
        """Sign every job not already done (unless ``resign``); one bad file never stops the batch."""
        from rightsmark.verify.bulk import default_jobs

        todo: list[SignJob] = []
        folders: set[Path] = set()
        for job in jobs:
            folders.add(job.dest.parent)
            state = self.journal.state(job) if self.journal is not None else None
            if state == "done" and not resign:
                yield SignOutcome(str(job.source), str(job.dest), "skipped", "already signed with these settings")
                continue
            if state == "ours":  # our own earlier output of a source or settings that changed since
                job = dataclasses.replace(job, force=True)
            todo.append(job)
        _sweep_temporaries(folders)
        workers = min(self.jobs or default_jobs(), len(todo))
        self._stopping = False
        outcomes = self._in_process(todo) if workers <= 1 else self._in_pool(todo, workers)
        for _job, outcome in outcomes:
            if outcome.fatal:
                if self._stopping:
                    continue  # said once; the files in flight with it were not written and the re-run retries them
                self._stopping = True  # no further file is started; those in flight finish and are reported
            yield outcome

    def _settings(self) -> WorkerSettings:
        journal = self.journal.path if self.journal is not None else None
        return WorkerSettings(
            self.source, self.tsa, self.thumbnail, self.xmp, journal, self.soft_binding, self.watermark
        )

    def _in_process(self, todo: list[SignJob]) -> Iterator[tuple[SignJob, SignOutcome]]:
        if not todo:
            return
        yield from sign_here(self._settings(), todo, self.journal, stopping=lambda: self._stopping)

    def _in_pool(self, todo: list[SignJob], workers: int) -> Iterator[tuple[SignJob, SignOutcome]]:
        method = _start_method(self.source)
        if method == "fork":  # forked workers inherit what is imported here instead of each importing it
            import importlib

            for module in ("c2pa", "rightsmark.sign.signer", "rightsmark.rights.xmp.embedding"):
                importlib.import_module(module)
        yield from sign_on_workers(self._settings(), todo, workers, method, stopping=lambda: self._stopping)
