"""Hostile inputs refused item by item: only regular files are read, nothing past a size cap, unsafe keys escaped.

Shared by every place that reads a file it was handed (the sources, the verifier, signing, the audit,
format sniffing):

* only regular files are read (:func:`open_regular`): a FIFO, a device (``/dev/zero``), a socket,
  named directly, in a list or through a symbolic link, is refused instead of blocking or filling memory;
  the type is checked before opening and again on the open descriptor;
* no item is read past :data:`DEFAULT_MAX_ITEM_SIZE` bytes (or the ``max_item_size`` a source was
  given): sizes are checked before reading (file size, tar member size, Parquet cell length, object
  size) and a stream is read at most one byte past the cap (:func:`read_capped`);
* a key holding a control character (C0/C1 controls, DEL, U+2028/U+2029) or a lone surrogate (a
  file name that is not UTF-8) would write extra lines into a keep list: :func:`escape_key` shows it
  with backslash escapes (:func:`rightsmark.sources.base.checked` refuses such items).
"""

from __future__ import annotations

import os
import re
import stat
from typing import IO

#: The largest item read by default (bytes): anything bigger is an error item, read no further.
DEFAULT_MAX_ITEM_SIZE = 512 * 1024 * 1024


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


#: The characters :func:`escape_key` escapes (besides the backslash): C0/C1 controls and DEL, the Unicode
#: line and paragraph separators, lone surrogates. One regular expression: keys are checked once per item.
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _needs_escape(ch: str) -> bool:
    return _NEEDS_ESCAPE.match(ch) is not None


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_key(key: str) -> str:
    """``key`` with backslash escapes where it holds a character that :func:`~rightsmark.sources.base.checked` refuses.

    ``\\n``, ``\\r``, ``\\t``, ``\\xHH`` (other C0/C1 controls and DEL), ``\\uHHHH`` (U+2028, U+2029,
    a lone surrogate from an undecodable file name) and ``\\\\`` for a backslash: reversible (as a
    Python string literal). Keys without such characters are returned unchanged.
    """
    if _NEEDS_ESCAPE.search(key) is None:
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
