"""Batch signing: folders signed on all cores, skipping what is already done, never stopping on one bad file.

The main process plans (:func:`plan`) and decides what to skip (:class:`SignJournal`);
worker processes (:mod:`rightsmark.sign.workers`) each open the key once
(:class:`~rightsmark.keys.source.KeySource` is picklable: a PKCS#11 token gets one session
per worker) and sign. Every output is written to a temporary file and moved into place, so
an interrupted batch leaves no partial file and can simply be run again: the journal makes
the second run skip what the first finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.errors import RightsmarkError, UsageError
from rightsmark.rights.manifest import Rights, manifest_definition

if TYPE_CHECKING:
    from rightsmark.sign.signer import SignedPending, Signer

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
            # one connection per process, used by the thread that finishes signed files (under the lock)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._lock = threading.Lock()
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
        with self._lock:
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
        # the journal only saves work; it never fails a signing
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.execute(
                "INSERT OR REPLACE INTO signed VALUES (?, ?, ?, ?)",
                (self._key(job.dest), source_key, job.rights_digest, _stat_key(job.dest)),
            )
            self._db.commit()

    def commit(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.commit()

    def close(self) -> None:
        self.commit()
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------------------------
# One job: signed into its temporary (start_job), then flushed to disk, moved into place and noted in
# the journal (finish_job); the two halves run on different threads (see rightsmark.sign.workers)

Started = tuple["SignedPending | SignOutcome", str | None]


def start_job(signer: Signer, job: SignJob) -> Started:
    """``job`` signed into its temporary, or its failed outcome; and the source's state before signing
    (what the journal notes). Every expected failure becomes a failed outcome with one line."""
    source_key = None if job.in_place else _stat_key(job.source)
    try:
        signed = signer.sign_pending(
            job.source,
            job.dest,
            job.rights,
            parent=job.parent,
            force=job.force,
            in_place=job.in_place,
            backup=job.backup,
            widened=job.widened,
        )
    except (RightsmarkError, OSError) as exc:
        return _failed(job, exc), source_key
    except Exception as exc:
        return _internal(job, exc), source_key
    return signed, source_key


def finish_job(job: SignJob, started: Started, journal: SignJournal | None) -> SignOutcome:
    """Move a job started by :func:`start_job` into place and note it in ``journal``; its outcome."""
    signed, source_key = started
    if isinstance(signed, SignOutcome):
        return signed
    try:
        result = signed.finish()
    except (RightsmarkError, OSError) as exc:
        return _failed(job, exc)
    except Exception as exc:
        return _internal(job, exc)
    if journal is not None:
        journal.record(job, source_key)
    return SignOutcome(str(job.source), result.output, "signed", notes=job.notes + result.notes)


def sign_job(signer: Signer, job: SignJob, journal: SignJournal | None = None) -> SignOutcome:
    """Sign one job with ``signer`` and note it in ``journal``; every expected failure becomes a failed
    outcome with one line."""
    return finish_job(job, start_job(signer, job), journal)


def _failed(job: SignJob, exc: RightsmarkError | OSError) -> SignOutcome:
    from rightsmark.sign.output import NoSpaceError

    source, dest = str(job.source), str(job.dest)
    if isinstance(exc, NoSpaceError):
        return SignOutcome(source, dest, "failed", exc.one_line(), exit_code=1, fatal=True)
    if isinstance(exc, RightsmarkError):
        return SignOutcome(source, dest, "failed", exc.one_line(), exit_code=exc.exit_code)
    return SignOutcome(source, dest, "failed", f"{job.source}: {exc.strerror or exc}", exit_code=1)


def _internal(job: SignJob, exc: Exception) -> SignOutcome:
    """A bug met signing one file: that file fails with one line, the batch goes on (with RIGHTSMARK_DEBUG
    set it is raised, with its traceback)."""
    if os.environ.get("RIGHTSMARK_DEBUG"):
        raise exc
    message = f"{job.source}: internal error: {type(exc).__name__}: {exc} (set RIGHTSMARK_DEBUG=1 for details)"
    return SignOutcome(str(job.source), str(job.dest), "failed", message, exit_code=3)


def died(job: SignJob) -> SignOutcome:
    """The outcome of a job whose worker process died before finishing it."""
    message = f"{job.source}: the signing worker died; nothing was written (run again to retry)"
    return SignOutcome(str(job.source), str(job.dest), "failed", message, exit_code=1)
