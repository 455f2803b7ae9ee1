"""URLs read through fsspec: ``s3://``, ``gs://``, ``az://``, ``memory://``, ``file://``, ``http(s)://``, ...

* a URL naming a tar shard (``.tar``, ``.tar.gz``, ``.tgz``, ...) or a ``.parquet`` object is handed
  to :class:`~rightsmark.sources.tar.TarSource` or :class:`~rightsmark.sources.parquet.ParquetSource`,
  which read it through an fsspec file object (streamed or read by range, never downloaded whole);
* a URL naming one object yields that object's bytes with the URL as key;
* a URL ending in ``/``, or naming a directory-like prefix, lists the objects below it recursively,
  in sorted order, hidden entries (a path component starting with ``.``) skipped like a local directory
  walk, and yields each object's bytes with key = the URL as given joined with the object's relative path.
  Tar shards and Parquet files in a listing are opened and their members yielded (like a
  local directory walk).

Anything the storage backend raises (missing object, refused credentials, a protocol whose fsspec
package is not installed) becomes an item with ``error`` set. ``storage_options`` are passed to the
file system (for s3fs: ``endpoint_url``, ``key``, ``secret``, ``anon``, ...). fsspec is imported only
when a URL is actually opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from rightsmark.sources.base import Item, is_container_name, open_container

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")

#: Objects fetched concurrently (by fsspec's ``cat``) per round while walking a listing.
FETCH_BATCH = 16


def is_url(spec: str) -> bool:
    """True for ``scheme://...`` (at least two letters, so a Windows drive letter is not a scheme)."""
    return bool(_SCHEME.match(spec))


def open_url(url: str, storage_options: Mapping[str, Any] | None = None) -> IO[bytes]:
    """A binary, seekable file object for ``url``, read lazily by the storage backend."""
    import fsspec

    handle: IO[bytes] = fsspec.open(url, "rb", **dict(storage_options or {})).open()
    return handle


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
    ) -> None:
        self.url = url
        self.column = column
        self.key_column = key_column
        self.storage_options = dict(storage_options or {})

    def __iter__(self) -> Iterator[Item]:
        from rightsmark.sources.parquet import ParquetSource, is_parquet_name
        from rightsmark.sources.tar import TarSource, is_tar_name

        if not self.url.endswith("/"):
            if is_tar_name(self.url):
                yield from TarSource(self.url, storage_options=self.storage_options)
                return
            if is_parquet_name(self.url):
                yield from ParquetSource(self.url, self.column, self.key_column, storage_options=self.storage_options)
                return
        yield from self._objects()

    def listing(self) -> tuple[Any, list[tuple[str, str]]] | None:
        """For a URL naming a prefix: its file system and the ``(backend path, key)`` of every object the
        source would yield, in order, without fetching them (see :func:`fetch_objects`). None for anything
        else (one object, a shard, a Parquet file, a missing URL, a storage error): iterating reports those."""
        from rightsmark.sources.parquet import is_parquet_name
        from rightsmark.sources.tar import is_tar_name

        if not self.url.endswith("/") and (is_tar_name(self.url) or is_parquet_name(self.url)):
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
            if single:
                data: bytes = fs.cat_file(root)
            elif fs.isdir(root):
                found = sorted(fs.find(root))
            else:
                raise FileNotFoundError(root)
        except FileNotFoundError:
            yield Item(key=self.url, error="no such object or prefix")
            return
        except Exception as exc:  # credentials, network, unknown protocol: reported, never raised
            yield Item(key=self.url, error=f"cannot read: {exc}")
            return
        if single:
            yield Item(key=self.url, data=data)
            return
        pending: list[tuple[str, str]] = []
        for path, key in self._entries(root, found):
            if is_container_name(key):  # a shard in the listing: its members, in listing order
                yield from fetch_objects(fs, pending)
                pending = []
                yield from open_container(key, self.column, self.key_column, self.storage_options)
            else:
                pending.append((path, key))
        yield from fetch_objects(fs, pending)


def fetch_objects(fs: Any, entries: list[tuple[str, str]]) -> Iterator[Item]:
    """The objects of a listing (:meth:`RemoteSource.listing`), fetched a few at a time, as items."""
    for start in range(0, len(entries), FETCH_BATCH):
        batch = entries[start : start + FETCH_BATCH]
        try:
            fetched: dict[str, Any] = fs.cat([path for path, _ in batch], on_error="return")
        except Exception as exc:
            fetched = {path: exc for path, _ in batch}
        for path, key in batch:
            value = fetched.get(path)
            if isinstance(value, bytes):
                yield Item(key=key, data=value)
            elif isinstance(value, FileNotFoundError):
                yield Item(key=key, error="the object disappeared after listing")
            else:
                yield Item(key=key, error=f"cannot read: {value or 'no data returned'}")
