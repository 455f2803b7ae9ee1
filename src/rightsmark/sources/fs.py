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

:class:`PathSource` yields files as given and walks folders. Every file is yielded, image or not:
deciding what is an image is the verifier's job. Items carry ``path`` (the worker reads the file
itself), never ``data``. A name holding a control character is refused
(:func:`rightsmark.sources.base.checked`). A tar shard or Parquet file met in a walk is a container,
not an image: its members are yielded (keys ``DIR/shard.tar/member``, ``DIR/file.parquet#key``), as
when it is named on the command line (:mod:`rightsmark.sources.containers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from rightsmark.sources.base import PATHS, Item, Skip, WorkUnit, checked
from rightsmark.sources.containers import is_container_name, open_container
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE


def walk(directory: str) -> Iterator[os.DirEntry[str]]:
    """The entries of the files below ``directory``, in walk order (see the module docstring)."""
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
        yield from files
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


class PathSource:
    """Local files and folders; the key of a file is its path exactly as given or walked."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        column: str | None = None,
        key_column: str | None = None,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.column = column
        self.key_column = key_column
        self.max_item_size = max_item_size

    def __iter__(self) -> Iterator[Item]:
        yield from checked(self._items())

    def _container(self, name: str) -> Iterable[Item]:
        return open_container(name, self.column, self.key_column, None, self.max_item_size)

    def _items(self) -> Iterator[Item]:
        for given in self.paths:
            if os.path.isdir(given):
                for file in walk_files(given):
                    if is_container_name(file):
                        yield from self._container(file)
                    else:
                        yield Item(key=file, path=file)
            elif os.path.exists(given):
                yield Item(key=given, path=given)
            else:
                yield Item(key=given, error="no such file")  # also a dangling symbolic link

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """One unit per file (packed by the planner), a walked container's own units in its place."""
        for given in self.paths:
            if os.path.isdir(given):
                for file in walk_files(given):
                    if skip is not None and skip(file):
                        continue
                    if is_container_name(file):
                        yield from open_container(file, self.column, self.key_column).work_units(skip)
                    else:
                        yield WorkUnit(PATHS, (file,))
            elif skip is None or not skip(given):
                yield WorkUnit(PATHS, (given,))  # a missing file too: the worker reports it
