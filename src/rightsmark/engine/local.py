"""A local file the engine reads itself, through a window that never reaches past the size that was checked.

Apart from :mod:`~rightsmark.engine.reading` (which hands it to the engine) so that the files of a folder are
read with it without importing the engine's modules: most files carry no manifest and never reach the engine.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LocalFile:
    """A local file the engine reads itself: the first ``size`` bytes of the open descriptor ``fd``.

    The caller has checked the descriptor (a regular file within the size cap,
    :func:`rightsmark.sources.guard.open_regular`) and keeps it open while this is used. Reads go through
    ``os.pread``: they never move the descriptor's offset and never reach past ``size``, so a file that
    grows while it is read still yields at most the size that was checked (and one that shrinks, fewer
    bytes: the engine then reports the file cut off).
    """

    fd: int
    size: int

    def pread(self, count: int, offset: int = 0) -> bytes:
        """Up to ``count`` bytes from ``offset`` (fewer at the end of the checked size, or of a file that shrank)."""
        count = min(count, self.size - offset)
        return os.pread(self.fd, count, offset) if count > 0 else b""

    def stream(self) -> io.RawIOBase:
        """A fresh read-only stream over the file, at its start, for one engine reading."""
        return _FileWindow(self)


class _FileWindow(io.RawIOBase):
    """The stream the engine reads a :class:`LocalFile` through: the engine's reads land in its own buffer
    (``readinto``, one copy from the kernel), never past the checked size."""

    def __init__(self, file: LocalFile) -> None:
        super().__init__()
        self._fd = file.fd
        self._size = file.size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = self._size - self._pos
        if want <= 0:
            return 0
        if want >= len(buffer):
            got = _pread_into(self._fd, buffer, self._pos)
        else:  # the last read: a view of the part the file fills, released before the engine takes its buffer back
            with memoryview(buffer) as view, view.cast("B") as flat, flat[:want] as part:
                got = _pread_into(self._fd, part, self._pos)
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}.get(whence)
        if base is None or base + offset < 0:
            raise OSError(f"invalid seek ({offset}, {whence})")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def _pread_into(fd: int, buffer: Any, offset: int) -> int:
    """Read into ``buffer`` (one copy from the kernel) from ``offset``; the number of bytes read."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    with memoryview(buffer) as view, view.cast("B") as flat:  # pragma: no cover - no preadv on this platform
        chunk = os.pread(fd, len(flat), offset)
        flat[: len(chunk)] = chunk
        return len(chunk)
