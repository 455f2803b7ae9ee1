"""The manifest repository interface, its typed results and errors.

A repository keeps validated manifest stores (the JUMBF bytes) under the id of their active manifest and
indexes them by the soft bindings that manifest records. Lookups return :class:`Candidate`\\ s: a
candidate only *names* a manifest; whoever uses it fetches the store with :meth:`Repository.manifest`
and validates it again (a repository is never trusted to have validated for us).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from rightsmark.errors import RightsmarkError
from rightsmark.softbinding.model import SoftBinding

#: Hamming distance within which a fingerprint matches: bits of the 256-bit ISCC image code (a shorter code's
#: differing bits scaled up to 256: :func:`rightsmark.softbinding.iscc.distance`), the 64-bit prefixes being
#: within :data:`rightsmark.softbinding.iscc.PREFIX_RADIUS` too (:func:`rightsmark.softbinding.iscc.within`).
#: Chosen by measurement (benchmarks/bench_softbinding.py, README "Soft bindings measured").
DEFAULT_MAX_DISTANCE = 28
#: candidates returned for one query unless the caller asks otherwise (the API's default too)
DEFAULT_LIMIT = 10
#: the largest manifest store accepted into a repository
MAX_STORE_BYTES = 4 * 1024 * 1024


class RepositoryError(RightsmarkError):
    """A repository that cannot be used: not a repository, unreachable, or answering garbage."""


class ConflictError(RepositoryError):
    """A different manifest store is already kept under the manifest id given: nothing was replaced."""


@dataclass(frozen=True)
class Candidate:
    """A manifest a soft binding points at.

    ``distance`` is 0 for an exact (watermark) match, else the Hamming distance of the fingerprints;
    ``repository`` says where it was found (a path, or a URL without credentials); ``endpoint`` is where
    the store may be fetched when a service says it lives elsewhere.
    """

    manifest_id: str
    alg: str
    distance: int
    repository: str
    endpoint: str | None = None


@dataclass(frozen=True)
class Entry:
    """One manifest store as a repository keeps it."""

    manifest_id: str
    store: bytes
    bindings: tuple[SoftBinding, ...]


class Added(str, enum.Enum):
    """What became of one entry given to a repository."""

    ADDED = "added"
    #: the same manifest store was already kept under that id
    PRESENT = "present"
    #: a DIFFERENT store is kept under that id: nothing replaced, the caller must say so
    CONFLICT = "conflict"


class Repository(Protocol):
    #: where this repository is, for people (a path, or a URL without credentials)
    location: str

    def add(self, entry: Entry) -> bool:
        """Keep ``entry`` (already validated by the caller); False when that manifest id was already there
        with the same store. A different store under the same id is a :class:`ConflictError`: a kept
        store is never replaced."""
        ...

    def find(
        self, binding: SoftBinding, *, max_distance: int = DEFAULT_MAX_DISTANCE, limit: int = DEFAULT_LIMIT
    ) -> list[Candidate]:
        """Manifests whose bindings match ``binding``: a fingerprint within ``max_distance``, nearest first;
        a watermark identifier exactly. An algorithm the repository does not index finds nothing.
        A fingerprint value that is not one raises :class:`~rightsmark.softbinding.model.SoftBindingError`."""
        ...

    def manifest(self, manifest_id: str) -> bytes | None:
        """The manifest store kept under ``manifest_id``, or None."""
        ...

    def count(self) -> int:
        """How many manifest stores the repository keeps."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BatchRepository(Repository, Protocol):
    """A repository that adds many entries in one transaction (the embedded and PostgreSQL ones)."""

    def add_many(self, entries: Sequence[Entry]) -> list[Added]:
        """Keep every entry that is not there yet, in one transaction; what became of each, in order.
        A conflicting entry is reported and left out; the others are kept."""
        ...

    def algorithms(self) -> dict[str, int]:
        """How many soft-binding values the repository keeps, by algorithm."""
        ...


def public_location(url: str) -> str:
    """``url`` as it may be shown: scheme, host, port and path; no user, password, parameters or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def shown_location(spec: str) -> str:
    """A repository as the user named it, safe to show: a path as given, a URL by :func:`public_location`."""
    return public_location(spec) if "://" in spec else spec


def describe(candidates: Sequence[Candidate]) -> str:
    """A short human list of candidates, for messages."""
    return ", ".join(f"{c.manifest_id} ({c.alg}, distance {c.distance})" for c in candidates) or "none"
