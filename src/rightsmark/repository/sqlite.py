"""The embedded manifest repository: one SQLite file, nothing to run (REPO given as a path).

Tables: ``rightsmark_repository`` (the marker: format and schema version; a file without it is not a
repository and is never written to), ``manifests`` (the store under its manifest id, its sha256, when it was
added) and ``bindings`` (each soft-binding value of each manifest; an ISCC fingerprint also has its 64-bit
prefix and the prefix's four 16-bit bands, each indexed: :mod:`rightsmark.repository.bands`).
The file is created by the first write only; it is kept in WAL mode (readers never wait for a writer) and
waits up to :data:`BUSY_SECONDS` for another writer. A batch is added in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rightsmark.repository import bands
from rightsmark.repository.base import (
    Added,
    Entry,
    RepositoryError,
)
from rightsmark.repository.schema import (
    FORMAT,
    MARKER,
    VERSION,
    IndexedRepository,
    check_marker,
    intake,
    manifest_rows,
    outcomes,
)
from rightsmark.softbinding.model import ISCC_ALG, SoftBinding

#: how long a write waits for another process's write to finish
BUSY_SECONDS = 30.0
#: ids per ``IN (...)`` list (well under SQLite's limit on bound parameters)
_CHUNK = 900

_SCHEMA = f"""
CREATE TABLE {MARKER} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE manifests (
    manifest_id TEXT PRIMARY KEY,
    store BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    added TEXT NOT NULL
);
CREATE TABLE bindings (
    id INTEGER PRIMARY KEY,
    manifest_id TEXT NOT NULL REFERENCES manifests (manifest_id),
    alg TEXT NOT NULL,
    value BLOB NOT NULL,
    prefix INTEGER,
    band0 INTEGER,
    band1 INTEGER,
    band2 INTEGER,
    band3 INTEGER
);
CREATE INDEX bindings_value ON bindings (alg, value);
CREATE INDEX bindings_manifest ON bindings (manifest_id);
CREATE INDEX bindings_band0 ON bindings (band0, prefix);
CREATE INDEX bindings_band1 ON bindings (band1, prefix);
CREATE INDEX bindings_band2 ON bindings (band2, prefix);
CREATE INDEX bindings_band3 ON bindings (band3, prefix);
"""


class SqliteRepository(IndexedRepository):
    """A manifest repository in the SQLite file ``path``; ``create`` makes it when the path is new."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        self.location = str(path)
        self._lock = threading.Lock()
        existed = self.path.exists()
        if not existed and not create:
            raise RepositoryError("no such repository", path=self.location, hint="add files with `rightsmark repo add`")
        if existed and not self.path.is_file():
            raise RepositoryError("is not a rightsmark repository (not a file)", path=self.location)
        if not existed and not self.path.parent.is_dir():
            raise RepositoryError("cannot create the repository: its folder does not exist", path=self.location)
        mode = "rwc" if create else ("rw" if os.access(self.path, os.W_OK) else "ro")
        try:
            uri = f"{self.path.resolve().as_uri()}?mode={mode}"
            # one connection for the threads of a service, used under self._lock
            self._db = sqlite3.connect(
                uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
        except (sqlite3.Error, OSError) as exc:
            raise RepositoryError(f"cannot open the repository: {exc}", path=self.location) from None
        try:
            self._prepare(create)
        except BaseException:
            self._db.close()
            raise

    # -----------------------------------------------------------------------------------------
    # the repository protocol

    def add_many(self, entries: Sequence[Entry]) -> list[Added]:
        indexed = intake(entries, self.location)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction(write=True) as db:
            kept = self._stores(db, [e.manifest_id for e in entries])
            result = outcomes(entries, kept)
            new = [i for i, outcome in enumerate(result) if outcome is Added.ADDED]
            db.executemany(
                "INSERT INTO manifests (manifest_id, store, sha256, added) VALUES (?, ?, ?, ?)",
                manifest_rows(entries, new, now),
            )
            db.executemany(
                "INSERT INTO bindings (manifest_id, alg, value, prefix, band0, band1, band2, band3)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row for i in new for row in indexed[i]),
            )
        return result

    def count(self) -> int:
        with self._transaction() as db:
            return int(db.execute("SELECT count(*) FROM manifests").fetchone()[0])

    def algorithms(self) -> dict[str, int]:
        """How many binding values the repository keeps, by algorithm."""
        with self._transaction() as db:
            rows = db.execute("SELECT alg, count(*) FROM bindings GROUP BY alg ORDER BY alg").fetchall()
        return {str(alg): int(n) for alg, n in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def _nearest(self, query: bytes, max_distance: int, limit: int) -> list[tuple[str, int]]:
        from rightsmark.softbinding import iscc

        prefix = iscc.prefix(query)  # a value that is no ISCC code raises before the database is asked
        probes = bands.probes(prefix, max_distance)
        sql = " UNION ALL ".join(
            f"SELECT id, prefix FROM bindings WHERE band{i} IN ({','.join('?' * len(values))})"
            for i, values in enumerate(probes)
        )
        with self._transaction() as db:
            ids = bands.near(prefix, db.execute(sql, [v for values in probes for v in values]), max_distance)
            rows: list[tuple[int, str, bytes]] = []
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                # by id alone: given the algorithm too, SQLite may walk the (alg, value) index instead
                found = db.execute(f"SELECT id, manifest_id, value, alg FROM bindings WHERE id IN ({marks})", chunk)
                rows += [(i, m, v) for i, m, v, alg in found if alg == ISCC_ALG]
        return bands.rank(query, rows, max_distance, limit)

    def _exact(self, binding: SoftBinding, limit: int) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                # one row per manifest: a manifest recording a value many times must not fill the limit
                "SELECT manifest_id FROM bindings WHERE alg = ? AND value = ?"
                " GROUP BY manifest_id ORDER BY min(id) LIMIT ?",
                (binding.alg, binding.value, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _store_row(self, manifest_id: str) -> tuple[bytes, str] | None:
        with self._transaction() as db:
            row = db.execute("SELECT store, sha256 FROM manifests WHERE manifest_id = ?", (manifest_id,)).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    @staticmethod
    def _stores(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(ids))
        kept: dict[str, bytes] = {}
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for manifest_id, store in db.execute(
                f"SELECT manifest_id, store FROM manifests WHERE manifest_id IN ({marks})", chunk
            ):
                kept[manifest_id] = bytes(store)
        return kept

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; any database error is a :class:`RepositoryError` naming the file."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise _error(exc, self.location) from None

    def _prepare(self, create: bool) -> None:
        """Check the marker, or (``create``, and the file holds no table at all) make the schema."""
        made = False
        with self._transaction(write=create) as db:
            tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if MARKER in tables:
                check_marker(dict(db.execute(f"SELECT key, value FROM {MARKER}").fetchall()), self.location)
            elif create and not tables:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany(f"INSERT INTO {MARKER} VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))])
                made = True
            else:
                raise RepositoryError(
                    "is not a rightsmark repository (an SQLite database of something else)",
                    path=self.location,
                    hint="give the path of a repository, or a new path to create one",
                )
        if made:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error as exc:
                raise _error(exc, self.location) from None


def _error(exc: sqlite3.Error, location: str) -> RepositoryError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not a database" in text or "malformed" in text:
        return RepositoryError(
            f"is not a rightsmark repository ({text})",
            path=location,
            hint="give the path of a repository, or a new path to create one",
        )
    if "locked" in text or "busy" in text:
        return RepositoryError(
            f"the repository is busy ({text})", path=location, hint="try again when the other writer is done"
        )
    return RepositoryError(f"repository error: {text}", path=location)
