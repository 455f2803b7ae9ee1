"""The verdict cache: content-addressed facts in one SQLite file, so unchanged bytes are not read twice.

Keyed by sha256 of the bytes and a context string (trust anchors, tool and engine versions); the
policy is applied afresh to cached facts, so a changed policy or a later date (consent expiry) is
always honoured, and a changed byte misses the cache. Each worker process of a bulk run holds its
own connection (SQLite's WAL lets them read at once and serialises their writes); a cache that
cannot be read or written is a miss, never a verdict.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from typing import TYPE_CHECKING

from rightsmark.verify.facts import Facts

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources

#: Seconds a writer waits for another process's write to finish before giving up on one entry.
BUSY_TIMEOUT = 30.0


class FactsCache:
    """One connection to the cache in ``directory``, for readings made in ``context``."""

    #: Seconds a cached reading stays valid (a certificate may expire, a list of anchors change meaning).
    MAX_AGE = 24 * 3600.0

    def __init__(self, directory: str | os.PathLike[str], context: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            os.path.join(directory, "facts.sqlite3"), timeout=BUSY_TIMEOUT
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS readings"
            " (digest TEXT PRIMARY KEY, facts TEXT NOT NULL, cached_at REAL NOT NULL)"
        )
        self._db.commit()
        self._context = context
        self.hits = 0
        self._pending: list[tuple[str, str, float]] = []

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _key(self, data_digest: str) -> str:
        return hashlib.sha256(f"{self._context}\n{data_digest}".encode()).hexdigest()

    def get(self, data_digest: str) -> Facts | None:
        # Signing certificates expire and engines learn: a reading is reused for MAX_AGE at most.
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT facts FROM readings WHERE digest = ? AND cached_at > ?",
                (self._key(data_digest), time.time() - self.MAX_AGE),
            ).fetchone()
        except sqlite3.Error:  # locked past the timeout, damaged: read the file again
            return None
        if row is None:
            return None
        facts = Facts.from_json(row[0])
        if facts is not None:
            self.hits += 1
        return facts

    def put(self, data_digest: str, facts: Facts) -> None:
        """Remember ``facts`` (never an error: those are tried again next time), at the next :meth:`commit`."""
        if facts.integrity.value == "error":
            return
        self._pending.append((self._key(data_digest), facts.to_json(), time.time()))

    def commit(self) -> None:
        """Write what :meth:`put` remembered in one short transaction: the write lock, one for all the
        workers' connections, is never held while a file is being read."""
        if not self._pending or self._db is None:
            return
        rows, self._pending = self._pending, []
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO readings (digest, facts, cached_at) VALUES (?, ?, ?)", rows
                )
        except sqlite3.Error:  # not remembered (locked past the timeout, a full disk): read again next time
            return

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None


def cache_context(trust: TrustSources | None, fingerprints: bool) -> str:
    """What a cached reading depends on besides the bytes: tool, facts and engine versions, trust anchors."""
    from rightsmark._version import __version__
    from rightsmark.verify.facts import FACTS_VERSION

    try:
        from importlib.metadata import version

        engine_version = version("c2pa-python")
    except Exception:  # pragma: no cover
        engine_version = "unknown"
    anchors = trust.digest if trust is not None else "none"
    return f"rightsmark {__version__} facts {FACTS_VERSION} c2pa {engine_version} trust {anchors} fp {fingerprints}"
