"""Where images to verify come from: plug-ins behind one small interface (:class:`Source` yielding :class:`Item`).

=================================  ==========================================================
spec                               source
=================================  ==========================================================
``-``                              :class:`ListSource` reading standard input
``@FILE``                          :class:`ListSource` reading FILE (one spec per line)
``scheme://...``                   :class:`RemoteSource` (fsspec: s3, gs, memory, file, http...)
local directory                    :class:`PathSource`, walked recursively
``*.tar``, ``*.tar.gz``, ``*.tgz``  :class:`TarSource` (WebDataset shards, streamed)
``*.parquet``                      :class:`ParquetSource` (image bytes column)
any other path                     :class:`PathSource`
=================================  ==========================================================

Specs are brace-expanded first, so a quoted ``'shards/{00000..00099}.tar'`` or
``'s3://bucket/{train,val}/'`` names many inputs (a spec that exists literally as a local path is
not expanded; ``\\{`` escapes a brace). A local file whose name starts with ``@`` is named ``./@name``.

``max_item_size`` (default :data:`~rightsmark.sources.base.DEFAULT_MAX_ITEM_SIZE`, 512 MiB) caps every
item: tar members, Parquet cells and objects larger than it become error items, unread; local files
are checked by whoever reads them (:meth:`Item.read`, :class:`rightsmark.verify.bulk.BulkVerifier`).

This package imports nothing heavy: pyarrow, fsspec and braceexpand are imported by the plug-ins
that need them, when they are iterated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from rightsmark.sources.base import DEFAULT_MAX_ITEM_SIZE, Item, Source, checked
from rightsmark.sources.listfile import ListSource
from rightsmark.sources.parquet import ParquetSource, is_parquet_name
from rightsmark.sources.paths import PathSource
from rightsmark.sources.remote import RemoteSource, is_url
from rightsmark.sources.tar import TarSource, is_tar_name


def expand(spec: str) -> list[str]:
    """``spec`` brace-expanded (``{a,b}``, ``{0..9}``, ``{000..099}``), or as given when it names a local path."""
    if "{" not in spec or "}" not in spec or os.path.lexists(spec):
        return [spec]
    from braceexpand import braceexpand

    try:
        return list(braceexpand(spec))
    except Exception:  # unbalanced braces: the spec is taken literally
        return [spec]


def open_source(
    spec: str,
    *,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Source:
    """The source for one spec, already brace-expanded (see the table in the module docstring)."""
    return _source_for(spec, column, key_column, storage_options, stdin, frozenset(), max_item_size)


def open_sources(
    specs: Sequence[str],
    *,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Iterator[Item]:
    """Every item of every spec, in order: specs as given, each brace-expanded, each dispatched lazily.

    ``column``/``key_column`` apply to Parquet inputs, ``storage_options`` to URLs (fsspec), ``stdin``
    is read for the spec ``-`` (default :data:`sys.stdin`). Never raises for a missing or damaged input:
    it yields an :class:`Item` with ``error`` set.
    """
    return _items(specs, column, key_column, storage_options, stdin, frozenset(), max_item_size)


def _source_for(
    spec: str,
    column: str | None,
    key_column: str | None,
    storage_options: Mapping[str, Any] | None,
    stdin: IO[str] | None,
    parents: frozenset[str],
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Source:
    """``parents``: the list files being read around this spec (a list naming itself must not loop)."""
    cap = max_item_size
    if spec == "-" or (spec.startswith("@") and len(spec) > 1):
        return ListSource(
            "-" if spec == "-" else spec[1:],
            column=column,
            key_column=key_column,
            storage_options=storage_options,
            stdin=stdin,
            max_item_size=cap,
            _parents=parents,
        )
    if is_url(spec):
        return RemoteSource(
            spec, column=column, key_column=key_column, storage_options=storage_options, max_item_size=cap
        )
    if os.path.isdir(spec):
        return PathSource([spec], column=column, key_column=key_column, max_item_size=cap)
    if is_tar_name(spec):
        return TarSource(spec, max_item_size=cap)
    if is_parquet_name(spec):
        return ParquetSource(spec, column, key_column, max_item_size=cap)
    return PathSource([spec], max_item_size=cap)


def _items(
    specs: Sequence[str],
    column: str | None,
    key_column: str | None,
    storage_options: Mapping[str, Any] | None,
    stdin: IO[str] | None,
    parents: frozenset[str],
    max_item_size: int | None = DEFAULT_MAX_ITEM_SIZE,
) -> Iterator[Item]:
    cap = DEFAULT_MAX_ITEM_SIZE if max_item_size is None else max_item_size
    for given in specs:
        for spec in expand(given):
            yield from checked(_source_for(spec, column, key_column, storage_options, stdin, parents, cap))


__all__ = [
    "Item",
    "ListSource",
    "ParquetSource",
    "PathSource",
    "RemoteSource",
    "Source",
    "TarSource",
    "expand",
    "open_source",
    "open_sources",
]
