"""Containers: names that are opened rather than verified as images (tar shards, Parquet files), and their plug-ins.

The container rows of the dispatch table (:mod:`rightsmark.sources.dispatch`), kept apart because the
walks need them too: a container named on the command line, met in a walked folder
(:mod:`~rightsmark.sources.fs`) or in an object-store listing (:mod:`~rightsmark.sources.remote`) is
opened by the same plug-in, local or behind a URL, with keys that start with its name as given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rightsmark.sources.base import PlannableSource
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE

if TYPE_CHECKING:
    from rightsmark.sources.parquet import ParquetSource
    from rightsmark.sources.tar import TarSource

#: Names of tar shards, compressed or not.
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def is_parquet_name(name: str) -> bool:
    return name.lower().endswith(".parquet")


#: A path component named like a container and followed by more (``d/s.tar/x.jpg``, ``d/f.parquet#a.jpg``).
_INSIDE = re.compile(
    "(?:" + "|".join(re.escape(s) for s in (*TAR_SUFFIXES, ".parquet")) + r")(?:#|/|\\)", re.IGNORECASE
)


def reads_as_member(path: str) -> bool:
    """Whether a file's path reads as the key of an item inside a container (a tar member, a Parquet row):
    such a file would share its key, in reports and keep lists, with that item."""
    return _INSIDE.search(path) is not None


# The plug-ins are imported when a container is opened: a run over plain image files never loads them.


def _tar(
    name: str, column: str | None, key_column: str | None, options: Mapping[str, Any] | None, cap: int
) -> TarSource:
    from rightsmark.sources.tar import TarSource

    return TarSource(name, storage_options=options, max_item_size=cap)


def _parquet(
    name: str, column: str | None, key_column: str | None, options: Mapping[str, Any] | None, cap: int
) -> ParquetSource:
    from rightsmark.sources.parquet import ParquetSource

    return ParquetSource(name, column, key_column, storage_options=options, max_item_size=cap)


Opener = Callable[[str, str | None, str | None, Mapping[str, Any] | None, int], PlannableSource]

#: Which names are containers, and the plug-in that opens each (first match wins).
CONTAINERS: tuple[tuple[Callable[[str], bool], Opener], ...] = (
    (is_tar_name, _tar),  # .tar, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz
    (is_parquet_name, _parquet),  # .parquet
)


#: Every container's suffixes: a name ending in none of them is no container (one test per walked file).
_SUFFIXES = (*TAR_SUFFIXES, ".parquet")


def is_container_name(name: str) -> bool:
    """Whether a file or object name is a tar shard or a Parquet file (opened, not verified as an image)."""
    return name.lower().endswith(_SUFFIXES) and any(claims(name) for claims, _ in CONTAINERS)


def open_container(
    name: str,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> PlannableSource:
    """The source of the container ``name`` (local or a URL; ``column``/``key_column`` for Parquet);
    ValueError when no container plug-in claims the name."""
    for claims, opener in CONTAINERS:
        if claims(name):
            return opener(name, column, key_column, storage_options or None, max_item_size)
    raise ValueError(f"not a container name: {name}")
