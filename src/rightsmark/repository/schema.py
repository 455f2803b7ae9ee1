"""What the SQLite and PostgreSQL repositories share: the marker, the checks on an entry, the rows of its
bindings, and :class:`IndexedRepository`, the protocol's methods written once over four backend queries."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from rightsmark.repository import bands
from rightsmark.repository.base import (
    DEFAULT_LIMIT,
    DEFAULT_MAX_DISTANCE,
    MAX_STORE_BYTES,
    Added,
    Candidate,
    ConflictError,
    Entry,
    RepositoryError,
)
from rightsmark.softbinding.model import ISCC_ALG, MAX_VALUE_BYTES, WATERMARK_ALG, SoftBinding, SoftBindingError

#: the table whose rows say "this is a rightsmark manifest repository, schema VERSION"
MARKER = "rightsmark_repository"
FORMAT = "rightsmark manifest repository"
VERSION = 1
#: the longest manifest id kept (a C2PA label is a URN of some 50 characters)
MAX_ID_LENGTH = 512

#: one row of ``bindings`` past its id: manifest id, alg, value, signed prefix, four bands (None but for ISCC)
BindingRow = tuple[str, str, bytes, int | None, int | None, int | None, int | None, int | None]


def check_marker(marker: Mapping[str, str], location: str) -> None:
    """A repository's marker rows must name this format and a schema version this rightsmark reads."""
    if marker.get("format") != FORMAT:
        raise RepositoryError("is not a rightsmark repository (its marker names another format)", path=location)
    version = marker.get("version", "")
    if not version.isdigit():
        raise RepositoryError("is not a rightsmark repository (its marker has no schema version)", path=location)
    if int(version) != VERSION:
        raise RepositoryError(
            f"holds a repository of schema version {version}; this rightsmark reads version {VERSION}",
            path=location,
            hint="use the rightsmark release that made it",
        )


def check_entry(entry: Entry, location: str) -> None:
    """An entry a repository can keep: an id, a store within :data:`MAX_STORE_BYTES`, bindings of bounded size."""
    if not entry.manifest_id or len(entry.manifest_id) > MAX_ID_LENGTH or not entry.manifest_id.isprintable():
        raise RepositoryError("an entry without a usable manifest id cannot be kept", path=location)
    if not entry.store or len(entry.store) > MAX_STORE_BYTES:
        raise RepositoryError(
            f"the manifest store of {entry.manifest_id} is empty or larger than {MAX_STORE_BYTES} bytes", path=location
        )
    for b in entry.bindings:
        if not b.value or len(b.value) > MAX_VALUE_BYTES or not b.alg or len(b.alg) > 128:
            raise RepositoryError(f"manifest {entry.manifest_id} records an unusable soft-binding value", path=location)


def columns_of(entry: Entry, location: str) -> list[BindingRow]:
    """The ``bindings`` rows of ``entry``; an ISCC value that is not an ISCC image code is an error."""
    rows: list[BindingRow] = []
    for b in dict.fromkeys(entry.bindings):  # a value recorded twice is indexed once
        if b.alg == ISCC_ALG:
            try:
                prefix, b0, b1, b2, b3 = bands.columns(b.value)
            except SoftBindingError as exc:
                raise RepositoryError(
                    f"manifest {entry.manifest_id} records a fingerprint that cannot be read ({exc})", path=location
                ) from None
            rows.append((entry.manifest_id, b.alg, b.value, prefix, b0, b1, b2, b3))
        else:
            rows.append((entry.manifest_id, b.alg, b.value, None, None, None, None, None))
    return rows


def outcomes(entries: Sequence[Entry], kept: Mapping[str, bytes]) -> list[Added]:
    """What becomes of each entry given the stores already ``kept`` by id (those :attr:`Added.ADDED` are
    the ones to insert).

    The first of several entries with one id in a batch is the one inserted; a later one with the same
    store is :attr:`Added.PRESENT`, with another store :attr:`Added.CONFLICT` (never a replacement)."""
    seen: dict[str, bytes] = dict(kept)
    result: list[Added] = []
    for entry in entries:
        before = seen.get(entry.manifest_id)
        if before is None:
            seen[entry.manifest_id] = entry.store
            result.append(Added.ADDED)
        else:
            result.append(Added.PRESENT if before == entry.store else Added.CONFLICT)
    return result


class IndexedRepository:
    """What the SQLite and PostgreSQL repositories do alike, on top of four backend queries:
    :meth:`_nearest` (the band index), :meth:`_exact` (a value looked up as it is), :meth:`_store_row`
    (a store and its recorded digest) and :meth:`add_many`."""

    location: str

    def add(self, entry: Entry) -> bool:
        (outcome,) = self.add_many([entry])
        if outcome is Added.CONFLICT:
            raise ConflictError(
                f"manifest {entry.manifest_id} is already kept with a different manifest store; nothing replaced",
                path=self.location,
            )
        return outcome is Added.ADDED

    def find(
        self, binding: SoftBinding, *, max_distance: int = DEFAULT_MAX_DISTANCE, limit: int = DEFAULT_LIMIT
    ) -> list[Candidate]:
        bands.check_limit(limit)
        if binding.alg == ISCC_ALG:
            found = self._nearest(binding.value, max_distance, limit)
        elif binding.alg == WATERMARK_ALG:
            found = [(manifest_id, 0) for manifest_id in self._exact(binding, limit)]
        else:
            return []
        return [Candidate(m, binding.alg, d, self.location) for m, d in found]

    def manifest(self, manifest_id: str) -> bytes | None:
        """The store kept under ``manifest_id``, checked against the digest recorded when it was kept."""
        row = self._store_row(manifest_id)
        if row is None:
            return None
        store, digest = row
        if hashlib.sha256(store).hexdigest() != digest:
            raise RepositoryError(f"the manifest store kept for {manifest_id} is damaged", path=self.location)
        return store

    def add_many(self, entries: Sequence[Entry]) -> list[Added]:
        raise NotImplementedError

    def _nearest(self, query: bytes, max_distance: int, limit: int) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _exact(self, binding: SoftBinding, limit: int) -> list[str]:
        raise NotImplementedError

    def _store_row(self, manifest_id: str) -> tuple[bytes, str] | None:
        raise NotImplementedError


def intake(entries: Sequence[Entry], location: str) -> list[list[BindingRow]]:
    """Check every entry of a batch (:func:`check_entry`) and give each one's binding rows."""
    for entry in entries:
        check_entry(entry, location)
    return [columns_of(entry, location) for entry in entries]


def manifest_rows(entries: Sequence[Entry], new: Sequence[int], added: object) -> list[tuple[str, bytes, str, object]]:
    """The ``manifests`` rows of the entries at ``new``: id, store, the store's SHA-256 (checked on every read
    by :meth:`IndexedRepository.manifest`), and when it was added."""
    return [
        (entries[i].manifest_id, entries[i].store, hashlib.sha256(entries[i].store).hexdigest(), added) for i in new
    ]
