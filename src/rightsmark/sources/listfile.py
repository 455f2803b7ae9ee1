"""Reading a list of inputs, one per line, from a file or standard input (``-``).

Blank lines and lines starting with ``#`` are ignored; surrounding white space is stripped. Every
other line is a spec that :class:`rightsmark.sources.ListSource` dispatches exactly like one given on
the command line (brace expansion, directories, tar shards, Parquet files, URLs, ``@other-list``), so
relative paths are relative to the current directory, not to the list file. The list is read lazily, line by line:
``find ... | rightsmark verify -`` starts before ``find`` ends. A list that names itself (directly or
through other lists) and ``-`` inside a list yield an error item instead of looping.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import IO

from rightsmark.sources.base import Item
from rightsmark.sources.guard import file_kind


def list_name(file: str | os.PathLike[str] | IO[str]) -> str:
    """How a list is named in keys and messages: its path, ``-``, or an open stream's name."""
    if isinstance(file, str | os.PathLike):
        return os.fspath(file)
    return str(getattr(file, "name", "<list>"))


def read_list(
    file: str | os.PathLike[str] | IO[str],
    *,
    stdin: IO[str] | None = None,
    parents: frozenset[str] = frozenset(),
) -> Iterator[tuple[str | Item, frozenset[str]]]:
    """Each spec ``file`` names, with the list files being read around it (``parents``, for nested lists),
    or an error :class:`Item` where the list itself cannot be read or a line cannot be taken.

    ``file`` is a path, ``"-"`` for ``stdin`` (default :data:`sys.stdin`), or an open text stream."""
    name = list_name(file)
    owned = False
    if not isinstance(file, str | os.PathLike):
        stream: IO[str] = file
    elif name == "-":
        stream = stdin if stdin is not None else sys.stdin
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
    mode = os.stat(name).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise OSError(0, f"not a regular file ({file_kind(mode)})")
    return open(name, encoding="utf-8", errors="surrogateescape")
