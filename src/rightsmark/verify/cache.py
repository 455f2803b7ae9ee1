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
        self._db = sqlite3.connect(os.path.join(directory, "facts.sqlite3"), timeout=BUSY_TIMEOUT)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS readings"
            " (digest TEXT PRIMARY KEY, facts TEXT NOT NULL, cached_at REAL NOT NULL)"
        )
        self._db.commit()
        self._context = context
        self.hits = 0
        self._pending = 0

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _key(self, data_digest: str) -> str:
        return hashlib.sha256(f"{self._context}\n{data_digest}".encode()).hexdigest()

    def get(self, data_digest: str) -> Facts | None:
        # Signing certificates expire and engines learn: a reading is reused for MAX_AGE at most.
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
        """Remember ``facts`` (never an error: those are tried again next time)."""
        if facts.integrity.value == "error":
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO readings (digest, facts, cached_at) VALUES (?, ?, ?)",
                (self._key(data_digest), facts.to_json(), time.time()),
            )
        except sqlite3.Error:  # not remembered: the next run reads the file again
            return
        self._pending += 1
        if self._pending >= 512:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            try:
                self._db.commit()
            except sqlite3.Error:
                self._db.rollback()
            self._pending = 0

    def close(self) -> None:
        self.commit()
        self._db.close()


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
