"""What an input is: the one table from a spec to its source plug-in, and the work units the sources split into.

=================================  ==========================================================
spec (first row that matches)      source
=================================  ==========================================================
``-``                              :class:`ListSource` reading standard input
``@FILE``                          :class:`ListSource` reading FILE (one spec per line)
``scheme://...``                   :class:`~rightsmark.sources.remote.RemoteSource` (fsspec: s3, gs,
                                   memory, file, http...): one object, a prefix, or a container
local directory                    :class:`~rightsmark.sources.fs.PathSource`, walked recursively
``*.tar``, ``*.tar.gz``, ``*.tgz``  :class:`~rightsmark.sources.tar.TarSource` (WebDataset shards)
``*.parquet``                      :class:`~rightsmark.sources.parquet.ParquetSource` (image bytes column)
any other path                     :class:`~rightsmark.sources.fs.PathSource`
=================================  ==========================================================

The two container rows (:mod:`rightsmark.sources.containers`) also decide what a name met in a walked
folder or an object-store listing is. Specs are brace-expanded first (:func:`expand`), so a quoted
``'shards/{00000..00099}.tar'`` or ``'s3://bucket/{train,val}/'`` names many inputs (a spec that exists
literally as a local path is not expanded; ``\\{`` escapes a brace). A local file whose name starts
with ``@`` is named ``./@name``.

For a cluster, :func:`work_units` says which picklable :class:`~rightsmark.sources.base.WorkUnit` s
cover every item :func:`open_sources` would yield, in its order, each source splitting itself;
:func:`open_unit` opens one again (on a worker) with the same plug-ins, keys and checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from rightsmark.sources.base import (
    ERRORS,
    OBJECTS,
    PATHS,
    SPECS,
    Item,
    PlannableSource,
    Skip,
    WorkUnit,
    checked,
    images_only,
)
from rightsmark.sources.containers import is_container_name, open_container
from rightsmark.sources.fs import PathSource
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE
from rightsmark.sources.storage import is_url


def expand(spec: str) -> list[str]:
    """``spec`` brace-expanded (``{a,b}``, ``{0..9}``, ``{000..099}``), or as given when it names a local path."""
    if "{" not in spec or "}" not in spec or os.path.lexists(spec):
        return [spec]
    from braceexpand import braceexpand

    try:
        return list(braceexpand(spec))
    except Exception:  # unbalanced braces: the spec is taken literally
        return [spec]


@dataclass(frozen=True)
class _Options:
    """What every source is opened with; ``parents``: the list files being read around a spec."""

    column: str | None = None
    key_column: str | None = None
    storage_options: Mapping[str, Any] | None = None
    stdin: IO[str] | None = None
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE
    parents: frozenset[str] = frozenset()
    #: local files' JSON sidecars left for whoever judges each item (:attr:`Item.sidecar_files`)
    defer_sidecars: bool = False


def _is_list(spec: str) -> bool:
    return spec == "-" or (spec.startswith("@") and len(spec) > 1)


def _list(spec: str, o: _Options) -> PlannableSource:
    name = "-" if spec == "-" else spec[1:]
    return ListSource(
        name,
        column=o.column,
        key_column=o.key_column,
        storage_options=o.storage_options,
        stdin=o.stdin,
        max_item_size=o.max_item_size,
        _parents=o.parents,
        defer_sidecars=o.defer_sidecars,
    )


def _url(spec: str, o: _Options) -> PlannableSource:
    from rightsmark.sources.remote import RemoteSource

    return RemoteSource(
        spec,
        column=o.column,
        key_column=o.key_column,
        storage_options=o.storage_options,
        max_item_size=o.max_item_size,
    )


def _folder(spec: str, o: _Options) -> PlannableSource:
    return PathSource(
        [spec],
        column=o.column,
        key_column=o.key_column,
        max_item_size=o.max_item_size,
        defer_sidecars=o.defer_sidecars,
    )


def _container(spec: str, o: _Options) -> PlannableSource:
    return open_container(spec, o.column, o.key_column, None, o.max_item_size)


def _file(spec: str, o: _Options) -> PlannableSource:
    return PathSource([spec], max_item_size=o.max_item_size, defer_sidecars=o.defer_sidecars)


#: What a spec is (the table in the module docstring): ``(name, test, plug-in)``, the first match wins.
SPEC_KINDS: tuple[tuple[str, Callable[[str], bool], Callable[[str, _Options], PlannableSource]], ...] = (
    ("list", _is_list, _list),
    ("url", is_url, _url),
    ("folder", os.path.isdir, _folder),
    ("container", is_container_name, _container),
    ("file", lambda spec: True, _file),
)


def _source_for(spec: str, o: _Options) -> PlannableSource:
    for _name, matches, plugin in SPEC_KINDS:
        if matches(spec):
            return plugin(spec, o)
    raise AssertionError("the last row matches every spec")  # pragma: no cover


def _items(specs: Sequence[str], o: _Options) -> Iterator[Item]:
    for given in specs:
        for spec in expand(given):
            yield from checked(_source_for(spec, o))


def open_source(
    spec: str,
    *,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> PlannableSource:
    """The source for one spec, already brace-expanded (see the table in the module docstring)."""
    return _source_for(spec, _Options(column, key_column, storage_options, stdin, max_item_size))


def open_sources(
    specs: Sequence[str],
    *,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    non_images: bool = False,
    defer_sidecars: bool = False,
) -> Iterator[Item]:
    """Every item of every spec, in order: specs as given, each brace-expanded, each dispatched lazily.

    ``column``/``key_column`` apply to Parquet inputs, ``storage_options`` to URLs (fsspec), ``stdin``
    is read for the spec ``-`` (default :data:`sys.stdin`). ``max_item_size`` (default 512 MiB) caps
    every item: tar members, Parquet cells and objects larger than it become error items, unread; local
    files are checked by whoever reads them (:meth:`Item.read`, :class:`rightsmark.verify.bulk.BulkVerifier`).
    Never raises for a missing or damaged input: it yields an :class:`Item` with ``error`` set.

    Items that are not images (the sidecars of an image, other files of a folder, the non-image members
    of a shard: :attr:`Item.role` other than ``image``) are left out, unless ``non_images`` (then the
    caller decides: :func:`~rightsmark.sources.base.images_only` counts and drops them). ``defer_sidecars``:
    local files' JSON sidecars are named in their items, not read (:attr:`Item.sidecar_files`: a bulk run's
    workers read them).
    """
    options = _Options(column, key_column, storage_options, stdin, max_item_size, defer_sidecars=defer_sidecars)
    items = _items(specs, options)
    return items if non_images else images_only(items)


class ListSource:
    """The items of every spec named in ``file`` (a path, ``"-"`` for stdin, or an open text stream),
    each dispatched like a spec on the command line (see :mod:`rightsmark.sources.listfile`)."""

    def __init__(
        self,
        file: str | os.PathLike[str] | IO[str],
        *,
        column: str | None = None,
        key_column: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        stdin: IO[str] | None = None,
        max_item_size: int | None = None,
        _parents: frozenset[str] = frozenset(),
        defer_sidecars: bool = False,
    ) -> None:
        self.file = file
        self.defer_sidecars = defer_sidecars
        self.column = column
        self.key_column = key_column
        self.storage_options = dict(storage_options or {})
        self.stdin = stdin
        self._parents = _parents
        self.max_item_size = max_item_size

    def specs(self) -> Iterator[tuple[str | Item, frozenset[str]]]:
        """Each spec the list names, with the list files being read around it (for nested lists), or an
        error :class:`Item` where the list itself cannot be read. Iterating the source opens each spec."""
        from rightsmark.sources.listfile import read_list

        return read_list(self.file, stdin=self.stdin, parents=self._parents)

    def _options(self, parents: frozenset[str]) -> _Options:
        cap = DEFAULT_MAX_ITEM_SIZE if self.max_item_size is None else self.max_item_size
        return _Options(self.column, self.key_column, self.storage_options, None, cap, parents, self.defer_sidecars)

    def __iter__(self) -> Iterator[Item]:
        for spec, parents in self.specs():
            if isinstance(spec, Item):
                yield spec
            else:
                yield from _items([spec], self._options(parents))

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """The units of every spec the list names, in order; what cannot be read is an ``errors`` unit."""
        for spec, parents in self.specs():
            if isinstance(spec, Item):
                yield WorkUnit(ERRORS, (spec.key,), (spec.error or "",))
            else:
                for one in expand(spec):
                    yield from _source_for(one, self._options(parents)).work_units(skip)


def work_units(
    specs: Sequence[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
    skip: Skip | None = None,
) -> Iterator[WorkUnit]:
    """Work units covering every item :func:`open_sources` would yield for ``specs``, in its order, each
    source saying how it splits (folders and prefixes are listed here; no image is read). ``skip``: local
    files never verified (a run's own outputs)."""
    options = _Options(storage_options=storage_options, stdin=stdin)
    for given in specs:
        for spec in expand(given):
            yield from _source_for(spec, options).work_units(skip)


def open_unit(
    unit: WorkUnit,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    non_images: bool = False,
    defer_sidecars: bool = False,
) -> Iterator[Item]:
    """The items of one work unit (from :func:`work_units`), opened by the same plug-ins and checked as
    locally; those that are not images only with ``non_images`` (as :func:`open_sources`)."""
    items = checked(_unit_items(unit, _Options(column, key_column, storage_options, None, max_item_size)))
    return items if non_images else images_only(items)


def _unit_items(unit: WorkUnit, o: _Options) -> Iterator[Item]:
    if unit.kind == PATHS:
        from rightsmark.sources.fs import unit_items

        yield from unit_items(unit.names, unit.extra, unit.base)
    elif unit.kind == SPECS:
        for spec in unit.names:
            yield from _source_for(spec, o)
    elif unit.kind == OBJECTS:
        entries = list(zip(unit.extra, unit.names, strict=True))
        from rightsmark.sources.remote import listed_objects

        yield from listed_objects(unit.base or "", entries, o.storage_options, o.max_item_size)
    elif unit.kind == ERRORS:
        for key, message in zip(unit.names, unit.extra, strict=True):
            yield Item(key=key, error=message)
    else:  # pragma: no cover - a driver and workers of different versions
        raise ValueError(f"unknown work unit kind {unit.kind!r}")


__all__ = ["SPEC_KINDS", "ListSource", "expand", "open_source", "open_sources", "open_unit", "work_units"]
