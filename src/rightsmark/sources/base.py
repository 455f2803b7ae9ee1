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


@dataclass(frozen=True)
class SidecarValue:
    """A value recorded beside an image (a header a crawler saw, a license column), raw: what it means
    for each use is :mod:`rightsmark.rights.signals`' business."""

    name: str  # e.g. "X-Robots-Tag", "tdm-reservation", "Content-Usage", "license"
    value: str
    source: SignalSource  # SIDECAR or COLUMN
    where: str  # e.g. "sidecar 000001.json (headers)", "column x_robots_tag"


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
            yield replace(item, key=escaped, data=None, path=None, error=error)
