"""Batch signing: folders signed on all cores, skipping what is already done, never stopping on one bad file.

The main process plans (:func:`plan`) and decides what to skip (:class:`SignJournal`);
worker processes each open the key once (:class:`~rightsmark.keys.source.KeySource` is
picklable: a PKCS#11 token gets one session per worker) and sign. Every output is
written to a temporary file and moved into place, so an interrupted batch leaves no
partial file and can simply be run again: the journal makes the second run skip what
the first finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.errors import RightsmarkError, UsageError
from rightsmark.rights.manifest import Rights, manifest_definition

if TYPE_CHECKING:
    from rightsmark.keys.source import KeySource

#: Suffix of the copies ``--backup`` keeps beside originals signed in place (never signed themselves).
BACKUP_SUFFIX = ".orig"


@dataclass(frozen=True)
class Planned:
    """One file to sign: where it comes from, where it goes, and its path relative to the folder given."""

    source: Path
    dest: Path
    relative: str
    explicit: bool  # named on the command line (a non-image is then an error, not skipped)
    refused: str | None = None  # why it is left alone (a symlink leaving the folder): skipped with this line


NameFor = Callable[[Path], str]


def destination(source: Path, relative: Path, output: Path | None, name_for: NameFor | None = None) -> Path:
    """Where ``source`` (at ``relative`` below the folder given) is signed to: itself in place (no
    ``output``), else mirrored below ``output`` under ``name_for(source)`` (profile naming)."""
    if output is None:
        return source
    return output / relative.parent / (name_for(source) if name_for else source.name)


def plan(
    inputs: Sequence[Path], *, output: Path | None, in_place: bool, name_for: NameFor | None = None
) -> Iterator[Planned]:
    """Every file to sign with its destination; directories are walked (hidden entries and backups skipped)
    and mirrored below ``output``.

    Symlinks found in a folder: one whose target lies inside the folder is followed for signed copies
    (``-o``); one leading outside the folder is never followed (it could pull in any file the user can
    read, or with ``--in-place`` rewrite it); with ``--in-place`` no symlink found in a folder is followed
    (its target, if inside, is signed as itself). Those are planned with :attr:`Planned.refused`.
    A symlink named on the command line is the user's explicit choice and is followed."""
    from rightsmark.sources.fs import walk_files

    def dest_for(source: Path, relative: Path) -> Path:
        return destination(source, relative, None if in_place else output, name_for)

    for given in inputs:
        if given.is_dir():
            root = os.path.realpath(given)
            for file in walk_files(str(given)):
                source = Path(file)
                if source.name.endswith(BACKUP_SUFFIX):
                    continue
                relative = source.relative_to(given)
                refused = _symlink_refusal(source, given, root, in_place) if source.is_symlink() else None
                yield Planned(source, dest_for(source, relative), relative.as_posix(), False, refused)
        else:
            yield Planned(given, dest_for(given, Path(given.name)), given.name, True)


def _symlink_refusal(link: Path, given: Path, root: str, in_place: bool) -> str | None:
    """Why the symlink ``link`` found below the folder ``given`` (real path ``root``) is not followed, or ``None``."""
    target = os.path.realpath(link)
    if os.path.commonpath([root, target]) != root:
        return (
            f"a symlink to {target}, outside {given}: not followed"
            " (name the file itself on the command line to sign it)"
        )
    if in_place:
        return f"a symlink to {target}: left as it is (in-place signing of a folder signs the files themselves)"
    return None


@dataclass(frozen=True)
class SignJob:
    """Everything a worker needs to sign one file (picklable)."""

    source: Path
    dest: Path
    rights: Rights
    parent: Path | None = None
    widened: tuple[str, ...] = ()
    in_place: bool = False
    backup: Path | None = None
    force: bool = False
    rights_digest: str = ""
    notes: tuple[str, ...] = ()  # said about the file when it is signed (e.g. a symlink's target signed)


@dataclass(frozen=True)
class SignOutcome:
    """What happened to one file."""

    source: str
    dest: str
    status: str  # signed | skipped | failed
    message: str | None = None
    notes: tuple[str, ...] = ()
    exit_code: int = 0
    #: the run cannot go on (the output device is full): no further file is started
    fatal: bool = False

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def rights_digest(rights: Rights, *, settings: dict[str, Any]) -> str:
    """A digest of everything that decides what a signed file says (rights, signer, TSA, XMP, parent)."""
    definition = manifest_definition(rights, title="", generator="rightsmark", version=__version__, edit=False)
    text = json.dumps({"manifest": definition, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The journal: what this user already signed, so a second run skips it


def default_journal_path() -> Path:
    """``$RIGHTSMARK_CACHE_DIR/signed.sqlite``, else ``rightsmark/signed.sqlite`` in the user's cache directory."""
    own = os.environ.get("RIGHTSMARK_CACHE_DIR")
    if own:
        return Path(own) / "signed.sqlite"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "rightsmark" / "signed.sqlite"


def _stat_key(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


class SignJournal:
    """Outputs this user signed: keyed by the output's real path, with the source's and output's sizes and
    times and the rights digest. A file is skipped only when all still match; anything else signs again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            # several worker processes record as they finish: write-ahead log, no fsync per entry
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS signed (dest TEXT PRIMARY KEY, source TEXT, rights TEXT, output TEXT)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(
                f"cannot open the signing journal: {exc}",
                path=self.path,
                hint="set RIGHTSMARK_CACHE_DIR to a writable directory",
            ) from None

    @staticmethod
    def _key(dest: Path) -> str:
        return os.path.realpath(dest)

    def state(self, job: SignJob) -> str | None:
        """``done`` (signed with these settings from this unchanged source: skip), ``ours`` (an output this
        journal wrote and nobody has touched since: safe to replace with a new signing), or ``None``."""
        row = self._db.execute(
            "SELECT source, rights, output FROM signed WHERE dest = ?", (self._key(job.dest),)
        ).fetchone()
        if row is None:
            return None
        source, rights, output = row
        current = _stat_key(job.dest)
        if current is None or current != output:
            return None
        if rights == job.rights_digest and (job.in_place or source == _stat_key(job.source)):
            return "done"
        return None if job.in_place else "ours"

    def record(self, job: SignJob, source_key: str | None) -> None:
        """Note a finished output at once (a batch interrupted right after still skips it next time)."""
        with contextlib.suppress(sqlite3.Error):  # the journal only saves work; it never fails a signing
            self._db.execute(
                "INSERT OR REPLACE INTO signed VALUES (?, ?, ?, ?)",
                (self._key(job.dest), source_key, job.rights_digest, _stat_key(job.dest)),
            )
            self._db.commit()

    def commit(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.commit()

    def close(self) -> None:
        self.commit()
        self._db.close()


# ---------------------------------------------------------------------------------------------
# Workers

_signer: Any = None
_journal: SignJournal | None = None


def _init_worker(source: KeySource, tsa: str | None, thumbnail: bool, xmp: bool, journal: Path | None) -> None:
    global _signer, _journal
    from rightsmark.sign.signer import Signer

    _signer = Signer(source.load(), thumbnail=thumbnail, tsa_url=tsa, xmp=xmp)
    _journal = SignJournal(journal) if journal is not None else None


def sign_job(signer: Any, job: SignJob, journal: SignJournal | None = None) -> SignOutcome:
    """Sign one job with ``signer`` and note it in ``journal``; every expected failure becomes a failed
    outcome with one line."""
    from rightsmark.sign.signer import NoSpaceError

    source_key = None if job.in_place else _stat_key(job.source)
    try:
        result = signer.sign_file(
            job.source,
            job.dest,
            job.rights,
            parent=job.parent,
            force=job.force,
            in_place=job.in_place,
            backup=job.backup,
            widened=job.widened,
        )
    except NoSpaceError as exc:
        return SignOutcome(str(job.source), str(job.dest), "failed", exc.one_line(), exit_code=1, fatal=True)
    except RightsmarkError as exc:
        return SignOutcome(str(job.source), str(job.dest), "failed", exc.one_line(), exit_code=exc.exit_code)
    except OSError as exc:
        return SignOutcome(
            str(job.source), str(job.dest), "failed", f"{job.source}: {exc.strerror or exc}", exit_code=1
        )
    if journal is not None:
        journal.record(job, source_key)
    return SignOutcome(str(job.source), result.output, "signed", notes=job.notes + result.notes)


def _died(job: SignJob) -> SignOutcome:
    message = f"{job.source}: the signing worker died; nothing was written (run again to retry)"
    return SignOutcome(str(job.source), str(job.dest), "failed", message, exit_code=1)


def _run_job(job: SignJob) -> SignOutcome:
    return sign_job(_signer, job, _journal)


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
    jobs: int = 0
    journal: SignJournal | None = None
    _pool: cf.ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
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

    def _in_process(self, todo: list[SignJob]) -> Iterator[tuple[SignJob, SignOutcome]]:
        if not todo:
            return
        from rightsmark.sign.signer import Signer

        with Signer(self.source.load(), thumbnail=self.thumbnail, tsa_url=self.tsa, xmp=self.xmp) as signer:
            for job in todo:
                if self._stopping:
                    return
                yield job, sign_job(signer, job, self.journal)

    def _new_pool(self, workers: int) -> cf.ProcessPoolExecutor:
        method = _start_method(self.source)
        if method == "fork":  # forked workers inherit what is imported here instead of each importing it
            import importlib

            for module in ("c2pa", "rightsmark.sign.signer", "rightsmark.rights.xmp"):
                importlib.import_module(module)
        return cf.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(self.source, self.tsa, self.thumbnail, self.xmp, self.journal.path if self.journal else None),
        )

    def _in_pool(self, todo: list[SignJob], workers: int) -> Iterator[tuple[SignJob, SignOutcome]]:
        """Bounded in flight; a dead worker fails the files in flight with it (run again to retry them)
        and a fresh pool takes the rest."""
        pool = self._new_pool(workers)
        pending: dict[cf.Future[SignOutcome], SignJob] = {}
        queue = iter(todo)
        broken = False
        restarts = 0

        def refill() -> None:
            while len(pending) < workers * 2 and not self._stopping:
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending[pool.submit(_run_job, nxt)] = nxt

        try:
            refill()
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        outcome = future.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        outcome = _died(job)
                    yield job, outcome
                if broken:
                    for job in pending.values():
                        yield job, _died(job)
                    pending.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    restarts += 1
                    if restarts > 3:
                        raise UsageError(
                            "signing workers keep dying; stopped", hint="set RIGHTSMARK_DEBUG=1 and run with --jobs 1"
                        )
                    pool = self._new_pool(workers)
                    broken = False
                refill()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
