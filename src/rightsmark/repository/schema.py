"""What the SQLite and PostgreSQL repositories share: the marker, the checks on an entry, the rows of its bindings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rightsmark.repository import bands
from rightsmark.repository.base import MAX_STORE_BYTES, Added, Entry, RepositoryError
from rightsmark.softbinding.model import ISCC_ALG, MAX_VALUE_BYTES, SoftBindingError

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
    for b in entry.bindings:
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
