"""URLs read through fsspec: ``s3://``, ``gs://``, ``az://``, ``memory://``, ``file://``, ``http(s)://``, ...

* a URL naming a tar shard (``.tar``, ``.tar.gz``, ``.tgz``, ...) or a ``.parquet`` object (and not
  ending in ``/``) is handed to its container plug-in (:mod:`rightsmark.sources.containers`), which
  reads it through an fsspec file object (streamed or read by range, never downloaded whole);
* a URL naming one object yields that object's bytes with the URL as key;
* a URL ending in ``/``, or naming a directory-like prefix, lists the objects below it recursively,
  in sorted order, hidden entries (a path component starting with ``.``) skipped like a local directory
  walk, and yields each object's bytes with key = the URL as given joined with the object's relative path.
  Tar shards and Parquet files in a listing are opened and their members yielded (like a
  local directory walk).

Anything the storage backend raises (missing object, refused access, a protocol whose fsspec
package is not installed) becomes an item with ``error`` set, except missing credentials: a URL
that cannot be listed or opened at all because no credentials were found raises
:class:`~rightsmark.errors.CredentialsError` (a configuration error, exit 2 in the CLI), since every
item of it would fail alike. An object larger than the maximum item size (its listed size) is an
error item and is not fetched. ``storage_options`` are passed to the
file system (for s3fs: ``endpoint_url``, ``key``, ``secret``, ``anon``, ...). fsspec is imported only
when a URL is actually opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rightsmark.models import Sample
from rightsmark.sources.base import OBJECTS, SPECS, Item, PlannableSource, Skip, WorkUnit, checked
from rightsmark.sources.containers import is_container_name, open_container
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, too_large
from rightsmark.sources.samples import file_key
from rightsmark.sources.storage import credentials_problem

#: Objects fetched concurrently (by fsspec's ``cat``) per round while walking a listing.
FETCH_BATCH = 16


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/") if part)


class RemoteSource:
    """One fsspec URL: an object, a prefix, a tar shard or a Parquet file."""

    def __init__(
        self,
        url: str,
        *,
        column: str | None = None,
        key_column: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    ) -> None:
        self.url = url
        self.column = column
        self.key_column = key_column
        self.storage_options = dict(storage_options or {})
        self.max_item_size = max_item_size

    def _names_container(self) -> bool:
        return not self.url.endswith("/") and is_container_name(self.url)

    def _container(self, name: str) -> PlannableSource:
        return open_container(name, self.column, self.key_column, self.storage_options, self.max_item_size)

    def __iter__(self) -> Iterator[Item]:
        if self._names_container():
            yield from self._container(self.url)
        else:
            yield from checked(self._objects())

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """A named container's unit; for a prefix, a unit per listed object (packed by the planner) and
        each listed container's own; else one unit for the one object (or the error its reader reports)."""
        if self._names_container():
            yield from self._container(self.url).work_units(skip)
            return
        listing = self.listing()
        if listing is None:
            yield WorkUnit(SPECS, (self.url,))
            return
        for path, key in listing[1]:
            if is_container_name(key):  # a shard in the listing is opened, as iterating does
                yield from self._container(key).work_units(skip)
            else:
                yield WorkUnit(OBJECTS, (key,), (path,), base=self.url)

    def listing(self) -> tuple[Any, list[tuple[str, str]]] | None:
        """For a URL naming a prefix: its file system and the ``(backend path, key)`` of every object the
        source would yield, in order, without fetching them (see :func:`fetch_objects`). None for anything
        else (one object, a shard, a Parquet file, a missing URL, a storage error): iterating reports those."""
        if self._names_container():
            return None
        try:
            import fsspec.core

            fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            if (not self.url.endswith("/") and fs.isfile(root)) or not fs.isdir(root):
                return None
            return fs, self._entries(root, sorted(fs.find(root)))
        except Exception:
            return None

    def _entries(self, root: str, found: list[str]) -> list[tuple[str, str]]:
        base = self.url.rstrip("/")
        prefix = root.rstrip("/") + "/"
        entries: list[tuple[str, str]] = []  # (backend path, key)
        for path in found:
            relative = path[len(prefix) :] if path.startswith(prefix) else path.rsplit("/", 1)[-1]
            if relative and not _hidden(relative):
                entries.append((path, f"{base}/{relative}"))
        return entries

    def _objects(self) -> Iterator[Item]:
        try:
            import fsspec.core

            fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            single = not self.url.endswith("/") and fs.isfile(root)
            data: bytes | None = None
            if single:
                size = _size(fs.info(root))
                if size is None or size <= self.max_item_size:
                    data = fs.cat_file(root)
            elif fs.isdir(root):
                detail: dict[str, Any] = fs.find(root, detail=True)
                found = sorted(detail)
                sizes = {path: s for path, info in detail.items() if (s := _size(info)) is not None}
            else:
                raise FileNotFoundError(root)
        except FileNotFoundError:
            yield Item(key=self.url, error="no such object or prefix")
            return
        except Exception as exc:  # network, refused access, unknown protocol: reported, never raised
            credentials_problem(exc, self.url)
            yield Item(key=self.url, error=f"cannot read: {exc}")
            return
        if single:
            sample = _sample(self.url, self.url)
            if data is None or len(data) > self.max_item_size:
                error = too_large(size if data is None else len(data), self.max_item_size)
                yield Item(key=self.url, error=error, sample=sample)
            else:
                yield Item(key=self.url, data=data, sample=sample)
            return
        pending: list[tuple[str, str]] = []
        cap = self.max_item_size
        for path, key in self._entries(root, found):
            if is_container_name(key):  # a shard in the listing: its members, in listing order
                yield from fetch_objects(fs, pending, max_item_size=cap, sizes=sizes, source=self.url)
                pending = []
                yield from self._container(key)
            else:
                pending.append((path, key))
        yield from fetch_objects(fs, pending, max_item_size=cap, sizes=sizes, source=self.url)


def _sample(source: str, key: str) -> Sample:
    """An object's sample: the URL as given, and the object's path below it (its name, when the URL names
    it) without the extension."""
    base = source.rstrip("/")
    relative = key[len(base) + 1 :] if key.startswith(base + "/") else key.rsplit("/", 1)[-1]
    return Sample(source, file_key(relative), "path")


def _size(info: Any) -> int | None:
    size = info.get("size") if isinstance(info, dict) else None
    return size if isinstance(size, int) else None


def listed_objects(
    base: str,
    entries: list[tuple[str, str]],
    storage_options: Mapping[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Iterator[Item]:
    """The objects ``entries`` (``(backend path, key)`` from :meth:`RemoteSource.listing`) of the file system
    behind the URL ``base``, fetched and checked as iterating the source does (a work unit on a worker)."""
    try:
        import fsspec.core

        fs, _ = fsspec.core.url_to_fs(base, **dict(storage_options or {}))
    except Exception as exc:
        yield from checked(Item(key=key, error=f"cannot read: {exc}", sample=_sample(base, key)) for _, key in entries)
        return
    yield from checked(fetch_objects(fs, entries, max_item_size=max_item_size, source=base))


def fetch_objects(
    fs: Any,
    entries: list[tuple[str, str]],
    *,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    sizes: Mapping[str, int] | None = None,
    source: str | None = None,
) -> Iterator[Item]:
    """The objects of a listing (:meth:`RemoteSource.listing`), fetched a few at a time, as items
    (of samples of ``source``, the URL listed, when given).

    An object whose listed size (``sizes``) exceeds ``max_item_size`` is not fetched: it is an error item."""
    known = sizes or {}
    for start in range(0, len(entries), FETCH_BATCH):
        batch = entries[start : start + FETCH_BATCH]
        wanted = [path for path, _ in batch if known.get(path, 0) <= max_item_size]
        try:
            fetched: dict[str, Any] = fs.cat(wanted, on_error="return") if wanted else {}
        except Exception as exc:
            fetched = {path: exc for path in wanted}
        for path, key in batch:
            value = fetched.get(path)
            sample = _sample(source, key) if source is not None else None
            if known.get(path, 0) > max_item_size:
                yield Item(key=key, error=too_large(known[path], max_item_size), sample=sample)
            elif isinstance(value, bytes) and len(value) > max_item_size:
                yield Item(key=key, error=too_large(len(value), max_item_size), sample=sample)
            elif isinstance(value, bytes):
                yield Item(key=key, data=value, sample=sample)
            elif isinstance(value, FileNotFoundError):
                yield Item(key=key, error="the object disappeared after listing", sample=sample)
            else:
                yield Item(key=key, error=f"cannot read: {value or 'no data returned'}", sample=sample)
