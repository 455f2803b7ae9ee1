"""The one small interface every source of images implements.

A source yields :class:`Item` objects in a stable order. An item carries either the bytes
(tar members, Parquet cells, objects from remote storage) or a local ``path`` the verifying
worker reads itself (cheaper than shipping bytes between processes). When the source cannot
produce an item (unreadable file, corrupt shard member) it yields the item with ``error`` set:
every input key appears in the report exactly once, never silently skipped.

Hostile inputs are refused item by item, never read blindly:

* only regular files are read (:func:`open_regular`): a FIFO, a device (``/dev/zero``), a socket,
  named directly, in a list or through a symbolic link, yields an error item instead of blocking or
  filling memory;
* no item is read past :data:`DEFAULT_MAX_ITEM_SIZE` bytes (or the ``max_item_size`` a source was
  given): sizes are checked before reading (file size, tar member size, Parquet cell length, object
  size) and a stream is read at most one byte past the cap;
* a key holding a control character (C0/C1 controls, DEL, U+2028/U+2029) or a lone surrogate (a
  file name that is not UTF-8) would write extra lines into a keep list: such an item is refused
  (:func:`checked`), and its key is shown with backslash escapes (:func:`escape_key`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import IO, Any, Protocol

#: The largest item read by default (bytes): anything bigger is an error item, read no further.
DEFAULT_MAX_ITEM_SIZE = 512 * 1024 * 1024

#: Reason code of items dropped because their key occurs more than once in one source.
DUPLICATE_KEY = "duplicate-key"


class ItemRefusedError(OSError):
    """An item that is not read on purpose (not a regular file, too large); ``str()`` is the whole message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "refused"


class ItemTooLargeError(ItemRefusedError):
    """An item over the size it may have (its message names ``--max-item-size``, the limit of verify)."""


def format_size(size: int) -> str:
    """``512 MiB``, ``64 KiB``, ``1.5 GiB``, ``100 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def too_large(size: int | None, limit: int) -> str:
    """The message of an item over ``limit`` bytes (``size`` when known)."""
    actual = f" ({format_size(size)})" if size is not None else ""
    return f"larger than --max-item-size {format_size(limit)}{actual}; not read (raise --max-item-size to verify it)"


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``64K``, ``64M``, ``1G``, ``2GiB``, ``512MB`` (binary multiples); ValueError else."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = 1
    if value and value[-1] in "KMGT":
        factor = 1 << (10 * ("KMGT".index(value[-1]) + 1))
        value = value[:-1]
    number = float(value.strip())  # ValueError for anything else
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError(text)
    return max(1, int(number * factor))


_FILE_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "directory"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, name in _FILE_KINDS:
        if test(mode):
            return name
    return "special file"


def not_regular(mode: int) -> str:
    return f"not a regular file ({file_kind(mode)}); only regular files are read"


def open_regular(path: str, max_size: int = DEFAULT_MAX_ITEM_SIZE) -> tuple[int, int]:
    """``(fd, size)`` of ``path`` opened for reading, once it is sure to be a regular file within ``max_size``.

    The type is checked before opening (a FIFO is never opened for a blocking read, a device never
    touched) and again on the open descriptor (``O_NONBLOCK``: something swapped in between cannot
    block). Raises :class:`ItemRefusedError` or the OSError of ``stat``/``open``.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ItemRefusedError(not_regular(st.st_mode))
    if st.st_size > max_size:
        raise ItemTooLargeError(too_large(st.st_size, max_size))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ItemRefusedError(not_regular(st.st_mode))
        if st.st_size > max_size:
            raise ItemTooLargeError(too_large(st.st_size, max_size))
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_capped(fh: IO[bytes], max_size: int, expected: int | None = None) -> bytes:
    """At most ``max_size`` bytes of ``fh``; raises :class:`ItemRefusedError` when there are more.

    Reads ``expected + 1`` bytes first when the size is known (one allocation, no copy), never more
    than ``max_size + 1`` in all.
    """
    want = max_size + 1 if expected is None else min(expected, max_size) + 1
    data = fh.read(want)
    if len(data) == want and len(data) <= max_size:  # longer than announced: read on, up to the cap
        data += fh.read(max_size + 1 - len(data))
    if len(data) > max_size:
        raise ItemTooLargeError(too_large(None, max_size))
    return data


def read_regular(path: str, max_size: int = DEFAULT_MAX_ITEM_SIZE) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_size`` (see :func:`open_regular`)."""
    fd, size = open_regular(path, max_size)
    with open(fd, "rb", buffering=0) as fh:
        return read_capped(fh, max_size, size)


def _needs_escape(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029) or 0xD800 <= o <= 0xDFFF


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_key(key: str) -> str:
    """``key`` with backslash escapes where it holds a character that :func:`checked` refuses.

    ``\\n``, ``\\r``, ``\\t``, ``\\xHH`` (other C0/C1 controls and DEL), ``\\uHHHH`` (U+2028, U+2029,
    a lone surrogate from an undecodable file name) and ``\\\\`` for a backslash: reversible (as a
    Python string literal). Keys without such characters are returned unchanged.
    """
    if not any(_needs_escape(ch) for ch in key):
        return key
    out = []
    for ch in key:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _needs_escape(ch):
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def checked(items: Iterable[Item]) -> Iterator[Item]:
    """``items``, each with a key that cannot spoof a line of a keep list or report (see :func:`escape_key`)."""
    for item in items:
        escaped = escape_key(item.key)
        if escaped == item.key:
            yield item
        else:
            error = item.error or (
                "the name contains a control character (shown escaped); refused, never kept: rename it"
            )
            yield replace(item, key=escaped, data=None, path=None, error=error)


@dataclass(frozen=True)
class Item:
    """One image to verify."""

    #: What reports show and keep lists contain: a path as given, ``shard.tar/member``, ``file.parquet#key``, a URL.
    key: str
    #: The bytes, when the source holds them.
    data: bytes | None = None
    #: A local file to read instead of ``data``.
    path: str | None = None
    #: Why the source could not produce this item (the report records it; it is never kept).
    error: str | None = None
    #: The reason code of an error item when it is not ``integrity-error`` (``duplicate-key``).
    reason: str | None = None

    def read(self, max_size: int = DEFAULT_MAX_ITEM_SIZE) -> bytes:
        """The item's bytes (reading ``path`` if needed, a regular file of at most ``max_size`` bytes);
        raises OSError for unreadable files (:class:`ItemRefusedError` for refused ones)."""
        if self.data is not None:
            if len(self.data) > max_size:
                raise ItemTooLargeError(too_large(len(self.data), max_size))
            return self.data
        if self.path is None:
            raise OSError(self.error or "item has neither data nor path")
        return read_regular(self.path, max_size)


class Source(Protocol):
    """Anything that yields items; see :mod:`rightsmark.sources` for the built-in ones."""

    def __iter__(self) -> Iterator[Item]: ...


def is_container_name(name: str) -> bool:
    """Whether a file or object name is a tar shard or a Parquet file (opened, not verified as an image)."""
    from rightsmark.sources.parquet import is_parquet_name
    from rightsmark.sources.tar import is_tar_name

    return is_tar_name(name) or is_parquet_name(name)


def open_container(
    name: str,
    column: str | None,
    key_column: str | None,
    storage_options: Mapping[str, Any],
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> Iterator[Item]:
    """The items of a tar shard or Parquet file, local or a URL (keys start with ``name``)."""
    from rightsmark.sources.parquet import ParquetSource, is_parquet_name
    from rightsmark.sources.tar import TarSource

    options = storage_options or None
    if is_parquet_name(name):
        yield from ParquetSource(name, column, key_column, storage_options=options, max_item_size=max_item_size)
    else:
        yield from TarSource(name, storage_options=options, max_item_size=max_item_size)
