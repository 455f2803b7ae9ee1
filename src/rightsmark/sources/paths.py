"""Plain files and directories on the local file system.

Files are yielded as given; directories are walked recursively in sorted order, hidden entries
(names starting with ``.``) skipped, exactly like :func:`rightsmark.verify.verifier.iter_directory`.
Every file is yielded, image or not: deciding what is an image is the verifier's job. Items
carry ``path`` (the worker reads the file itself), never ``data``; whether a path is a regular file
of acceptable size is checked when it is read (:func:`rightsmark.sources.base.open_regular`), so a FIFO
or a device gets an error record instead of blocking. A name holding a control character is refused
(:func:`rightsmark.sources.base.checked`). A tar shard or Parquet file
met in a directory walk is a container, not an image: its members are yielded (keys
``DIR/shard.tar/member``, ``DIR/file.parquet#key``), as when it is named on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from rightsmark.sources.base import DEFAULT_MAX_ITEM_SIZE, Item, checked, is_container_name, open_container


class PathSource:
    """Local files and directories; the key of a file is its path exactly as given or walked."""

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

    def _items(self) -> Iterator[Item]:
        from rightsmark.verify.verifier import iter_directory  # imported here: keeps `import rightsmark.sources` light

        for given in self.paths:
            if os.path.isdir(given):
                for file in iter_directory(given):
                    if is_container_name(file):
                        yield from open_container(file, self.column, self.key_column, {}, self.max_item_size)
                    else:
                        yield Item(key=file, path=file)
            elif os.path.exists(given):
                yield Item(key=given, path=given)
            else:
                yield Item(key=given, error="no such file")  # also a dangling symbolic link
