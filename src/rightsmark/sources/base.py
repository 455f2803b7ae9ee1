"""The one small interface every source of images implements.

A source yields :class:`Item` objects in a stable order. An item carries either the bytes
(tar members, Parquet cells, objects from remote storage) or a local ``path`` the verifying
worker reads itself (cheaper than shipping bytes between processes). When the source cannot
produce an item (unreadable file, corrupt shard member) it yields the item with ``error`` set:
every input key appears in the report exactly once, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


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

    def read(self) -> bytes:
        """The item's bytes (reading ``path`` if needed); raises OSError for unreadable files."""
        if self.data is not None:
            return self.data
        if self.path is None:
            raise OSError(self.error or "item has neither data nor path")
        with open(self.path, "rb") as fh:
            return fh.read()


class Source(Protocol):
    """Anything that yields items; see :mod:`rightsmark.sources` for the built-in ones."""

    def __iter__(self) -> Iterator[Item]: ...


def is_container_name(name: str) -> bool:
    """Whether a file or object name is a tar shard or a Parquet file (opened, not verified as an image)."""
    from rightsmark.sources.parquet import is_parquet_name
    from rightsmark.sources.tar import is_tar_name

    return is_tar_name(name) or is_parquet_name(name)


def open_container(
    name: str, column: str | None, key_column: str | None, storage_options: Mapping[str, Any]
) -> Iterator[Item]:
    """The items of a tar shard or Parquet file, local or a URL (keys start with ``name``)."""
    from rightsmark.sources.parquet import ParquetSource, is_parquet_name
    from rightsmark.sources.tar import TarSource

    if is_parquet_name(name):
        yield from ParquetSource(name, column, key_column, storage_options=storage_options or None)
    else:
        yield from TarSource(name, storage_options=storage_options or None)
