"""Local files and folders: the one folder walker (:func:`walk`), and :class:`PathSource`.

The walk is the one definition of which entries below a folder are its files, used by every command
that takes folders (verify, its Ray planner, sign, watch, audit):

* recursive and sorted by name, each folder's files before its subfolders (depth first), every path
  joined to the folder exactly as given;
* hidden entries (names starting with ``.``), files and folders alike, are skipped;
* a symbolic link to a folder is never followed; every other entry that is not a folder counts as a
  file: regular files, symbolic links to files (dangling ones too), FIFOs, devices, sockets. Whoever
  reads one checks that it is a regular file within the size cap
  (:func:`rightsmark.sources.guard.open_regular`), so a FIFO or a device gets an error record instead
  of a hang; watch takes regular files only, sign applies its own symlink policy;
* a folder that cannot be listed contributes nothing.

:class:`PathSource` yields files as given and walks folders. Every file is yielded, with its role
(:func:`rightsmark.sources.samples.classify`): a file with a non-image extension (``.json``, ``.txt``, ...)
is a *sidecar* of the image of its folder with the same stem, or an *other* file; every other file is an
image, and deciding whether it really is one stays the verifier's job (a file named directly is always an
image). Each item names its sample (the folder as given, the file's path relative to it without the
extension) and carries the values of its ``STEM.json`` sidecar, read here (at most 1 MiB; see
:mod:`rightsmark.sources.sidecars`). Items carry ``path`` (the worker reads the file itself), never
``data``. A name holding a control character is refused (:func:`rightsmark.sources.base.checked`). A tar
shard or Parquet file met in a walk is a container, not an image: its members are yielded (keys
``DIR/shard.tar/member``, ``DIR/file.parquet#key``), as when it is named on the command line
(:mod:`rightsmark.sources.containers`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from rightsmark.models import Sample
from rightsmark.sources.base import IMAGE, PATHS, Item, SidecarValue, Skip, WorkUnit, checked
from rightsmark.sources.containers import is_container_name, open_container, reads_as_member
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, ItemTooLargeError, read_regular
from rightsmark.sources.samples import classify, file_key


def walk(directory: str) -> Iterator[os.DirEntry[str]]:
    """The entries of the files below ``directory``, in walk order (see the module docstring)."""
    for _folder, files in walk_folders(directory):
        yield from files


def walk_folders(directory: str) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """:func:`walk` a folder at a time: each folder met (as joined to ``directory``) and its files, sorted."""
    stack = [(directory, True)]
    while stack:
        top, given = stack.pop()
        if not given and os.path.islink(top):  # a link to a folder: never followed
            continue
        try:
            with os.scandir(top) as listing:
                entries = list(listing)
        except OSError:
            continue
        folders: list[os.DirEntry[str]] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir()
            except OSError:
                is_folder = False
            (folders if is_folder else files).append(entry)
        files.sort(key=lambda e: e.name)
        if files:
            yield top, files
        stack.extend((entry.path, False) for entry in sorted(folders, key=lambda e: e.name, reverse=True))


def walk_files(directory: str) -> Iterator[str]:
    """The paths of the files below ``directory``, in walk order, joined to it as given (see :func:`walk`)."""
    for entry in walk(directory):
        yield entry.path


def skipping(paths: Iterable[str | os.PathLike[str]]) -> Skip:
    """Whether a local path is one of ``paths`` or lies inside one that is a folder (compared by real
    path): a run's own outputs, never verified. Names matching none of them cost no ``realpath``."""
    reals = frozenset(os.path.realpath(p) for p in paths)
    names = frozenset(os.path.basename(r) for r in reals)
    folders = tuple(r + os.sep for r in reals if os.path.isdir(r))

    def skip(path: str) -> bool:
        if not folders and os.path.basename(path) not in names:
            return False
        real = os.path.realpath(path)
        return real in reals or real.startswith(folders)

    return skip


def _sidecars(paths: Sequence[str]) -> tuple[str | None, tuple[SidecarValue, ...]]:
    """The URL and values of an image's ``.json`` sidecar files (read here, at most 1 MiB each)."""
    from rightsmark.sources.sidecars import MAX_SIDECAR_BYTES, from_json, merged

    parts = []
    for path in paths:
        where = f"sidecar {path}"
        try:
            parts.append(from_json(read_regular(path, MAX_SIDECAR_BYTES), where))
        except ItemTooLargeError:
            parts.append(from_json(None, where, error=f"larger than {MAX_SIDECAR_BYTES} bytes"))
        except OSError as exc:
            parts.append(from_json(None, where, error=f"cannot be read: {exc.strerror or exc}"))
    return merged(parts)


def file_item(
    given: str,
    path: str,
    role: str = IMAGE,
    jsons: Sequence[str] = (),
    key: str | None = None,
    *,
    defer: bool = False,
) -> Item:
    """The item of the local file ``path``, walked in the folder ``given`` (or ``path`` itself, named
    directly), with its sample (the spec as given, the key relative to it: ``key`` when the walk knows
    it) and its sidecars' values; with ``defer``, the sidecar files named for whoever judges the item to
    read (:func:`take_sidecars`)."""
    if key is None:
        relative = path[len(given) :].lstrip(os.sep) if path != given else os.path.basename(path)
        key = file_key(relative)
    member = reads_as_member(path)
    later = defer and not member and bool(jsons)
    url, values = _sidecars(jsons) if jsons and not later else (None, ())
    sample = Sample(given, key, "path", None, url)
    if member:
        error = "the name reads as an item inside a container (a shard member, a Parquet row); refused: rename it"
        return Item(key=path, error=error, role=role, sample=sample)
    files = tuple(jsons) if later else ()
    return Item(key=path, path=path, role=role, sample=sample, sidecar=values, sidecar_files=files)


def take_sidecars(item: Item) -> Item:
    """``item`` with the values and URL of the sidecar files it still names (:func:`file_item`'s ``defer``)
    read in; any other item as it is. An item refused for its name keeps no URL, as when read at once."""
    if not item.sidecar_files:
        return item
    url, values = _sidecars(item.sidecar_files)
    sample = item.sample
    if sample is not None and item.path is not None:
        sample = replace(sample, url=url)
    return replace(item, sidecar=(*item.sidecar, *values), sample=sample, sidecar_files=())


def _named_file(path: str, *, defer: bool = False) -> Item:
    """A file named directly: always an image to verify; a ``STEM.json`` beside it is its sidecar."""
    beside = os.path.splitext(path)[0] + ".json"
    found = beside != path and os.path.lexists(beside) and not os.path.isdir(beside)  # a FIFO too: refused, unreadable
    return file_item(path, path, IMAGE, [beside] if found else [], defer=defer)


def _tag(role: str, jsons: Sequence[str]) -> str:
    """What a work unit says of a walked file besides its path (see :func:`unit_items`)."""
    return "" if role == IMAGE and not jsons else json.dumps([role, list(jsons)])


def unit_items(names: Sequence[str], tags: Sequence[str], base: str | None) -> Iterator[Item]:
    """The items of a ``paths`` work unit: files walked in the folder ``base`` (``tags`` from the walk),
    or files named directly (``base`` None)."""
    if base is None:
        for name in names:
            yield _named_file(name) if os.path.exists(name) else Item(key=name, error="no such file")
        return
    for name, tag in zip(names, tags, strict=True):
        role, jsons = json.loads(tag) if tag else (IMAGE, ())
        yield file_item(base, name, role, jsons)


def _walked(given: str) -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    """``(path, role, json sidecars, sample key)`` of every file below the folder ``given``, in walk order."""
    for folder, files in walk_folders(given):
        below = folder[len(given) :].strip(os.sep).replace(os.sep, "/")
        prefix = f"{below}/" if below else ""
        for entry, (role, jsons, stem) in zip(files, classify([e.name for e in files]), strict=True):
            yield entry.path, role, tuple(files[i].path for i in jsons) if jsons else (), prefix + stem


class PathSource:
    """Local files and folders; the key of a file is its path exactly as given or walked.

    Every file of a walked folder is yielded with its :attr:`~rightsmark.sources.base.Item.role`
    (:func:`rightsmark.sources.samples.classify`); a file named directly is always an image."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        column: str | None = None,
        key_column: str | None = None,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
        defer_sidecars: bool = False,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.column = column
        self.key_column = key_column
        self.max_item_size = max_item_size
        #: leave JSON sidecars unread, named in each item (:attr:`Item.sidecar_files`) for its judge
        self.defer_sidecars = defer_sidecars

    def __iter__(self) -> Iterator[Item]:
        yield from checked(self._items())

    def _container(self, name: str) -> Iterable[Item]:
        return open_container(name, self.column, self.key_column, None, self.max_item_size)

    def _items(self) -> Iterator[Item]:
        for given in self.paths:
            if os.path.isdir(given):
                for file, role, jsons, key in _walked(given):
                    if is_container_name(file):
                        yield from self._container(file)
                    else:
                        yield file_item(given, file, role, jsons, key, defer=self.defer_sidecars)
            elif os.path.exists(given):
                yield _named_file(given, defer=self.defer_sidecars)
            else:
                yield Item(key=given, error="no such file")  # also a dangling symbolic link

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """One unit per file (packed by the planner), a walked container's own units in its place."""
        for given in self.paths:
            if os.path.isdir(given):
                for file, role, jsons, _key in _walked(given):
                    if skip is not None and skip(file):
                        continue
                    if is_container_name(file):
                        yield from open_container(file, self.column, self.key_column).work_units(skip)
                    else:
                        yield WorkUnit(PATHS, (file,), (_tag(role, jsons),), base=given)
            elif skip is None or not skip(given):
                yield WorkUnit(PATHS, (given,))  # a missing file too: the worker reports it
