"""A list of inputs, one per line, from a file or standard input (``-``).

Blank lines and lines starting with ``#`` are ignored; surrounding white space is stripped. Every
other line is dispatched exactly like a command-line spec by :func:`rightsmark.sources.open_sources`
(brace expansion, directories, tar shards, Parquet files, URLs, ``@other-list``), so relative paths
are relative to the current directory, not to the list file. The list is read lazily, line by line:
``find ... | rightsmark verify -`` starts before ``find`` ends. A list that names itself (directly or
through other lists) and ``-`` inside a list yield an error item instead of looping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any

from rightsmark.sources.base import Item


class ListSource:
    """The items of every spec named in ``file`` (a path, ``"-"`` for stdin, or an open text stream)."""

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
    ) -> None:
        self.file = file
        self.column = column
        self.key_column = key_column
        self.storage_options = dict(storage_options or {})
        self.stdin = stdin
        self._parents = _parents
        self.max_item_size = max_item_size

    def _name(self) -> str:
        if isinstance(self.file, str | os.PathLike):
            return os.fspath(self.file)
        return str(getattr(self.file, "name", "<list>"))

    def __iter__(self) -> Iterator[Item]:
        from rightsmark.sources import _items

        for spec, parents in self.specs():
            if isinstance(spec, Item):
                yield spec
            else:
                yield from _items(
                    [spec], self.column, self.key_column, self.storage_options, None, parents, self.max_item_size
                )

    def specs(self) -> Iterator[tuple[str | Item, frozenset[str]]]:
        """Each spec the list names, with the list files being read around it (for nested lists), or an
        error :class:`Item` where the list itself cannot be read. Iterating the source opens each spec."""
        name = self._name()
        parents = self._parents
        file = self.file
        owned = False
        if not isinstance(file, str | os.PathLike):
            stream: IO[str] = file
        elif name == "-":
            stream = self.stdin if self.stdin is not None else sys.stdin
        else:
            real = os.path.realpath(name)
            if real in parents:
                yield Item(key=name, error="the list includes itself (directly or through other lists)"), parents
                return
            parents = parents | {real}
            try:
                stream = _open_list(name)
            except FileNotFoundError:
                yield Item(key=name, error="no such list file"), parents
                return
            except OSError as exc:
                yield Item(key=name, error=f"cannot read list file: {exc.strerror or exc}"), parents
                return
            owned = True
        try:
            for raw in stream:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line == "-":
                    yield Item(key=line, error="'-' (standard input) cannot be named inside a list"), parents
                    continue
                yield line, parents
        except (OSError, UnicodeDecodeError) as exc:
            yield Item(key=name, error=f"cannot read list: {exc}"), parents
        finally:
            if owned:
                stream.close()


def _open_list(name: str) -> IO[str]:
    """A list file opened for reading: a regular file, or a FIFO (``@<(find ...)`` names one, written by
    another process); a device such as ``/dev/zero`` is refused (it would never end)."""
    import stat

    mode = os.stat(name).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        from rightsmark.sources.base import file_kind

        raise OSError(0, f"not a regular file ({file_kind(mode)})")
    return open(name, encoding="utf-8", errors="surrogateescape")
