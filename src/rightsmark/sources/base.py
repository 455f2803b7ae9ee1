"""The one small interface every source of images implements: a :class:`Source` yields :class:`Item` s.

A source yields items in a stable order. An item carries either the bytes (tar members, Parquet cells,
objects from remote storage) or a local ``path`` the verifying worker reads itself (cheaper than
shipping bytes between processes). When the source cannot produce an item (unreadable file, corrupt
shard member) it yields the item with ``error`` set: every input key appears in the report exactly
once, never silently skipped. Keys pass through :func:`checked` (none can spoof a line of a keep
list); reading refuses what is not a regular file or is too large (:mod:`rightsmark.sources.guard`).

A source that can be spread over a cluster (:class:`PlannableSource`, every built-in one) also says
which :class:`WorkUnit` s cover its items: picklable shares (a shard, a Parquet file, a few files or
objects) that :func:`rightsmark.sources.dispatch.open_unit` opens again elsewhere, yielding the same items
with the same keys in the same order.

Every item names its :class:`~rightsmark.models.Sample` (``Item.sample``: its source as given, the
sample's key there, where the key came from, the Parquet row, the URL its sidecar records) and carries
the values recorded beside it (``Item.sidecar``: :class:`SidecarValue`). Sources also yield the files
that are not images, marked by ``Item.role`` (:data:`SIDECAR`, :data:`OTHER`): :func:`images_only`
counts and leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from rightsmark.models import Sample, SignalSource
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, ItemTooLargeError, escape_key, read_regular, too_large

#: Reason code of items dropped because their key occurs more than once in one source.
DUPLICATE_KEY = "duplicate-key"

#: :attr:`Item.role` values: an image to verify; a sidecar of one (a file or member beside an image with
#: the same stem or ``__key__``, read as its metadata, not verified); another file that is not an image.
IMAGE, SIDECAR, OTHER = "image", "sidecar", "other"

#: :attr:`SidecarValue.name` of a sidecar (or part of one) that could not be read.
UNREADABLE = "sidecar"


@dataclass(frozen=True)
class SidecarValue:
    """A value recorded beside an image (a header a crawler saw, a license column), raw: what it means
    for each use is :mod:`rightsmark.rights.signals`' business.

    ``name`` is one of ``X-Robots-Tag``, ``tdm-reservation``, ``tdm-policy``, ``Content-Usage``,
    ``license`` (spelled so whatever the sidecar's spelling; see :mod:`rightsmark.sources.sidecars`), and
    ``value`` the value as found (a number or boolean as its JSON text, one value per element of a list:
    a header sent several times gives several values), never empty of meaning by omission:

    **Unreadable sidecars fail closed.** Where a sidecar, or a part of one that should hold such values,
    cannot be read (a JSON sidecar larger than 1 MiB, not JSON, not a JSON object, not UTF-8; a header
    set or field of the wrong type; a value longer than 8192 characters; more than 64 values; a sidecar
    file that cannot be opened), the item carries ``SidecarValue(name="sidecar", value="unreadable: WHY",
    source, where)`` (``name`` is :data:`UNREADABLE`, ``value`` starts with ``"unreadable: "``). Whoever
    judges sidecar values must read such a value as a declaration it cannot understand, that is as an
    opt-out of every use, never as the absence of one.
    """

    name: str  # "X-Robots-Tag", "tdm-reservation", "tdm-policy", "Content-Usage", "license"; or "sidecar"
    value: str
    source: SignalSource  # SIDECAR (a JSON sidecar) or COLUMN (a Parquet column)
    where: str  # e.g. "sidecar shards/0.tar/000001.json (headers)", "sidecar data/0001.json", "column x_robots_tag"


@dataclass(frozen=True)
class Item:
    """One image to verify."""

    #: What reports show and keep lists contain: a path as given, ``shard.tar/member``, ``file.parquet#key``, a URL.
    key: str
    #: The bytes, when the source holds them.
    data: bytes | None = None
    #: A local file to read instead of ``data``.
    path: str | None = None
    #: Why the source could not produce this item (the report records it; it is never kept).
    error: str | None = None
    #: The reason code of an error item when it is not ``integrity-error`` (``duplicate-key``).
    reason: str | None = None
    #: The sample this item belongs to, as its source names it.
    sample: Sample | None = None
    #: Values recorded beside the image (sidecar headers, Parquet columns).
    sidecar: tuple[SidecarValue, ...] = ()
    #: :data:`IMAGE`, or :data:`SIDECAR`/:data:`OTHER` for a file that is not one (see :func:`images_only`).
    role: str = IMAGE
    #: JSON sidecar files whose values (and URL) are still to be read into ``sidecar`` (and ``sample``) by
    #: whoever judges the item (:func:`rightsmark.sources.fs.take_sidecars`): a folder listed for a bulk run
    #: leaves them to the workers. Judging an item reads them first (:func:`~rightsmark.verify.verifier.make_record`).
    sidecar_files: tuple[str, ...] = ()

    def read(self, max_size: int = DEFAULT_MAX_ITEM_SIZE) -> bytes:
        """The item's bytes (reading ``path`` if needed, a regular file of at most ``max_size`` bytes);
        raises OSError for unreadable files (:class:`~rightsmark.sources.guard.ItemRefusedError` for refused ones)."""
        if self.data is not None:
            if len(self.data) > max_size:
                raise ItemTooLargeError(too_large(len(self.data), max_size))
            return self.data
        if self.path is None:
            raise OSError(self.error or "item has neither data nor path")
        return read_regular(self.path, max_size)


@dataclass
class NonImages:
    """How many items were left unverified because they are not images, by role."""

    sidecars: int = 0
    others: int = 0

    @property
    def total(self) -> int:
        return self.sidecars + self.others

    def to_dict(self) -> dict[str, int]:
        return {"sidecars": self.sidecars, "others": self.others}


def images_only(items: Iterable[Item], tally: NonImages | None = None) -> Iterator[Item]:
    """The items that are images; the others (sidecars and other files) counted in ``tally``, not yielded."""
    for item in items:
        if item.role == IMAGE:
            yield item
        elif tally is not None:
            if item.role == SIDECAR:
                tally.sidecars += 1
            else:
                tally.others += 1


class Source(Protocol):
    """Anything that yields items; see :mod:`rightsmark.sources` for the built-in ones."""

    def __iter__(self) -> Iterator[Item]: ...


#: A predicate on local paths: files never to verify (a run's own outputs).
Skip = Callable[[str], bool]

#: :attr:`WorkUnit.kind` values.
PATHS, SPECS, OBJECTS, ERRORS = "paths", "specs", "objects", "errors"


@dataclass(frozen=True)
class WorkUnit:
    """A picklable share of a source's items, which :func:`rightsmark.sources.dispatch.open_unit` opens again.

    ``kind`` says how: ``paths`` (``names`` are local files), ``specs`` (``names`` are specs opened
    through the dispatch table again: a shard, a Parquet file, one object), ``objects`` (``names`` are
    the keys of objects listed below the URL ``base``, ``extra`` their backend paths) or ``errors``
    (``names`` are keys, ``extra`` the messages). Neighbouring units of one kind and base may be packed
    together, except a ``whole`` one (a container: one unit of work by itself).
    """

    kind: str
    names: tuple[str, ...]
    extra: tuple[str, ...] = ()
    base: str | None = None
    whole: bool = False

    def to_json(self) -> str:
        return json.dumps([self.kind, self.names, self.extra, self.base, self.whole])

    @classmethod
    def from_json(cls, text: str) -> WorkUnit:
        kind, names, extra, base, whole = json.loads(text)
        return cls(kind, tuple(names), tuple(extra), base, whole)


class PlannableSource(Source, Protocol):
    """A source that says which work units cover its items, in its order, without reading them."""

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """The units, in the order the source yields their items; local files ``skip`` accepts are left out."""
        ...


def checked(items: Iterable[Item]) -> Iterator[Item]:
    """``items``, each with a key that cannot spoof a line of a keep list or report (see
    :func:`~rightsmark.sources.guard.escape_key`)."""
    for item in items:
        escaped = escape_key(item.key)
        if escaped == item.key:
            yield item
        else:
            error = item.error or (
                "the name contains a control character (shown escaped); refused, never kept: rename it"
            )
            sample = item.sample
            if sample is not None:  # its source and key are parts of the item's key: escaped alike
                sample = replace(sample, source=escape_key(sample.source), key=escape_key(sample.key), url=None)
            yield replace(item, key=escaped, data=None, path=None, error=error, sample=sample)
