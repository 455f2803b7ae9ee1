"""Where images to verify come from: plug-ins behind one small interface (:class:`Source` yielding :class:`Item`).

:func:`open_sources` takes what the user names (files, folders, ``@LIST``, ``-``, tar shards with brace
ranges, Parquet files, fsspec URLs of any of those) and yields every item in order; which plug-in
reads which spec is the one table in :mod:`rightsmark.sources.dispatch`. The interface is
:mod:`~rightsmark.sources.base`, the refusal of hostile inputs :mod:`~rightsmark.sources.guard`, the one
folder walker :mod:`~rightsmark.sources.fs`.

This package imports nothing heavy: pyarrow, fsspec and braceexpand are imported by the plug-ins
that need them, when they are iterated.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rightsmark.sources.base import Item, Source
from rightsmark.sources.dispatch import ListSource, expand, open_source, open_sources
from rightsmark.sources.fs import PathSource

if TYPE_CHECKING:
    from rightsmark.sources.parquet import ParquetSource
    from rightsmark.sources.remote import RemoteSource
    from rightsmark.sources.tar import TarSource

#: Plug-ins loaded on first use: a run over plain image files needs none of them.
_LAZY = {
    "ParquetSource": "rightsmark.sources.parquet",
    "RemoteSource": "rightsmark.sources.remote",
    "TarSource": "rightsmark.sources.tar",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rightsmark.sources' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
