"""Planning ``rightsmark verify --engine ray`` (in the driver, no Ray needed): the sources' work units, packed.

Each source says which work units cover its items (:func:`rightsmark.sources.dispatch.work_units`):
a tar shard or a Parquet file is one unit by itself; a file of a folder walk, a listed object, a
single object and an unreadable list are each a small unit, and neighbours of one kind (and, for
objects, one prefix) are packed here into units of at most :data:`UNIT_FILES` names. List files
(``@list``, ``-``) are read here. A worker opens each unit with the ordinary source plug-ins
(:func:`rightsmark.sources.dispatch.open_unit`), so keys, order and error records are the local
engine's; no image bytes pass through the driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import IO, Any

from rightsmark.sources.base import WorkUnit
from rightsmark.sources.dispatch import work_units
from rightsmark.sources.fs import skipping

#: Files (or objects) per work unit when a directory, a prefix or single files are verified.
UNIT_FILES = 256


def pack(units: Iterable[WorkUnit], size: int = UNIT_FILES) -> list[WorkUnit]:
    """``units`` with neighbours of one kind and base merged, at most ``size`` names each; a whole unit
    (a container) stays alone. The names keep their order."""
    packed: list[WorkUnit] = []
    group: tuple[str, str | None] | None = None
    names: list[str] = []
    extra: list[str] = []

    def flush() -> None:
        if group is not None and names:
            packed.append(WorkUnit(group[0], tuple(names), tuple(extra), group[1]))
        names.clear()
        extra.clear()

    for unit in units:
        if unit.whole:
            flush()
            group = None
            packed.append(unit)
            continue
        for index, name in enumerate(unit.names):
            if group != (unit.kind, unit.base) or len(names) >= size:
                flush()
                group = (unit.kind, unit.base)
            names.append(name)
            if unit.extra:
                extra.append(unit.extra[index])
    flush()
    return packed


def plan(
    specs: Sequence[str],
    *,
    storage_options: dict[str, Any] | None = None,
    stdin: IO[str] | None = None,
    exclude: Sequence[str | os.PathLike[str]] = (),
    unit_files: int = UNIT_FILES,
) -> list[WorkUnit]:
    """Work units covering every item :func:`rightsmark.sources.open_sources` would yield, in its order.

    ``exclude``: local files or directories never verified (the run's own outputs).
    """
    units = work_units(specs, storage_options=storage_options, stdin=stdin, skip=skipping(exclude))
    return pack(units, max(1, unit_files))


__all__ = ["UNIT_FILES", "pack", "plan"]
