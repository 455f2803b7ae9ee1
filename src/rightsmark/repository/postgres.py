"""A shared manifest repository on PostgreSQL (REPO given as a ``postgresql://`` URL), through psycopg 3.

The same tables and the same band index as the embedded repository (:mod:`rightsmark.repository.sqlite`,
:mod:`rightsmark.repository.bands`): stores as ``BYTEA``, the four 16-bit bands of each fingerprint's
prefix in btree indexes. The schema is made on the first write into a database that holds none of its
tables (under an advisory lock, so that two first writers do not race); a database holding other tables
of those names, or no marker, is not a repository. ``location`` is the URL without user, password or
parameters: a password is never printed. psycopg is imported when a repository is opened
(``pip install 'rightsmark[postgres]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from rightsmark.repository import bands
from rightsmark.repository.base import (
    Added,
    Entry,
    RepositoryError,
    public_location,
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

#: seconds to wait for the server to answer a connection
CONNECT_TIMEOUT = 10
#: the advisory lock key that serialises creating the schema (any fixed 64-bit number)
_CREATE_LOCK = 0x7269676874736D6B

_TABLES = ("manifests", "bindings", MARKER)
_SCHEMA = (
    f"CREATE TABLE {MARKER} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE manifests (manifest_id TEXT PRIMARY KEY, store BYTEA NOT NULL, sha256 TEXT NOT NULL,"
    " added TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE bindings (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " manifest_id TEXT NOT NULL REFERENCES manifests (manifest_id), alg TEXT NOT NULL, value BYTEA NOT NULL,"
    " prefix BIGINT, band0 INTEGER, band1 INTEGER, band2 INTEGER, band3 INTEGER)",
    "CREATE INDEX bindings_value ON bindings (alg, value)",
    "CREATE INDEX bindings_manifest ON bindings (manifest_id)",
    *(f"CREATE INDEX bindings_band{i} ON bindings (band{i}) INCLUDE (prefix)" for i in range(bands.BANDS)),
)


class PostgresRepository(IndexedRepository):
    """A manifest repository in the PostgreSQL database ``url`` names."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.location = public_location(url)
        self._secret = _password(url)
        self._lock = threading.Lock()
        try:
            import psycopg
        except ImportError:
            raise RepositoryError(
                "a PostgreSQL repository needs psycopg",
                path=self.location,
                hint="pip install 'rightsmark[postgres]'",
            ) from None
        self._psycopg = psycopg
        try:
            self._db = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)  # transaction() blocks
        except (psycopg.Error, ValueError) as exc:
            raise self._error(exc, "cannot connect") from None
        try:
            self._prepare(create)
        except BaseException:
            self._db.close()
            raise

    # -----------------------------------------------------------------------------------------
    # the repository protocol

    def add_many(self, entries: Sequence[Entry]) -> list[Added]:
        indexed = intake(entries, self.location)
        now = datetime.now(UTC)
        with self._transaction() as cur:
            ids = list(dict.fromkeys(e.manifest_id for e in entries))
            # writers of the same ids wait for each other here, so that "not there yet" stays true
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(i)::bigint) FROM unnest(%s::text[]) AS i", (sorted(ids),)
            )
            cur.execute("SELECT manifest_id, store FROM manifests WHERE manifest_id = ANY(%s)", (ids,))
            kept = {str(m): bytes(s) for m, s in cur.fetchall()}
            result = outcomes(entries, kept)
            new = [i for i, outcome in enumerate(result) if outcome is Added.ADDED]
            cur.executemany(
                "INSERT INTO manifests (manifest_id, store, sha256, added) VALUES (%s, %s, %s, %s)",
                manifest_rows(entries, new, now),
            )
            cur.executemany(
                "INSERT INTO bindings (manifest_id, alg, value, prefix, band0, band1, band2, band3)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [row for i in new for row in indexed[i]],
            )
        return result

    def count(self) -> int:
        with self._transaction() as cur:
            cur.execute("SELECT count(*) FROM manifests")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def algorithms(self) -> dict[str, int]:
        """How many binding values the repository keeps, by algorithm."""
        with self._transaction() as cur:
            cur.execute("SELECT alg, count(*) FROM bindings GROUP BY alg ORDER BY alg")
            return {str(alg): int(n) for alg, n in cur.fetchall()}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> PostgresRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def _nearest(self, query: bytes, max_distance: int, limit: int) -> list[tuple[str, int]]:
        from rightsmark.softbinding import iscc

        prefix = iscc.prefix(query)  # a value that is no ISCC code raises before the database is asked
        probes = bands.probes(prefix, max_distance)
        sql = " UNION ALL ".join(
            f"SELECT id, prefix FROM bindings WHERE band{i} = ANY(%s::integer[])" for i in range(bands.BANDS)
        )
        with self._transaction() as cur:
            cur.execute(sql, probes)
            ids = bands.near(prefix, cur.fetchall(), max_distance)
            rows: list[tuple[int, str, bytes]] = []
            if ids:
                cur.execute("SELECT id, manifest_id, value, alg FROM bindings WHERE id = ANY(%s)", (ids,))
                rows = [(int(i), str(m), bytes(v)) for i, m, v, alg in cur.fetchall() if alg == ISCC_ALG]
        return bands.rank(query, rows, max_distance, limit)

    def _exact(self, binding: SoftBinding, limit: int) -> list[str]:
        with self._transaction() as cur:
            cur.execute(
                # one row per manifest: a manifest recording a value many times must not fill the limit
                "SELECT manifest_id FROM bindings WHERE alg = %s AND value = %s"
                " GROUP BY manifest_id ORDER BY min(id) LIMIT %s",
                (binding.alg, binding.value, limit),
            )
            return [str(r[0]) for r in cur.fetchall()]

    def _store_row(self, manifest_id: str) -> tuple[bytes, str] | None:
        with self._transaction() as cur:
            cur.execute("SELECT store, sha256 FROM manifests WHERE manifest_id = %s", (manifest_id,))
            row = cur.fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction; any database error is a :class:`RepositoryError` naming the repository."""
        psycopg = self._psycopg
        with self._lock:
            try:
                with self._db.transaction(), self._db.cursor() as cur:
                    yield cur
            except psycopg.Error as exc:
                raise self._error(exc, "repository error") from None

    def _prepare(self, create: bool) -> None:
        with self._transaction() as cur:
            if create:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
            cur.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(_TABLES),),
            )
            present = {str(r[0]) for r in cur.fetchall()}
            if MARKER in present:
                cur.execute(f"SELECT key, value FROM {MARKER}")
                check_marker({str(k): str(v) for k, v in cur.fetchall()}, self.location)
                return
            if not create or present:
                what = (
                    f"it holds other tables named {', '.join(sorted(present))}" if present else "no repository tables"
                )
                raise RepositoryError(
                    f"is not a rightsmark repository ({what})",
                    path=self.location,
                    hint="add files with `rightsmark repo add` to create one in an empty database",
                )
            for statement in _SCHEMA:
                cur.execute(statement)
            cur.executemany(f"INSERT INTO {MARKER} VALUES (%s, %s)", [("format", FORMAT), ("version", str(VERSION))])

    def _error(self, exc: BaseException, what: str) -> RepositoryError:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return RepositoryError(f"{what}: {text[:300]}", path=self.location)


def _password(url: str) -> str | None:
    """The password written in ``url`` (kept only to be blotted out of error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found = parts.password
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "password" and value:
            found = unquote(value)
    return unquote(found) if found else None
