"""ISO BMFF boxes (AVIF, HEIC, HEIF, and the JUMBF boxes of a C2PA manifest store): the one box walk.

Hand-written: a box is a size, a type and an optional 64-bit size; no library walks boxes without parsing
every box type it knows.
"""

from __future__ import annotations

from collections.abc import Iterator

from rightsmark.media import StructureError


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in ``data[start:end]`` (the whole of ``data`` by default).

    A 64-bit size (size 1) is read; size 0 means the box runs to ``end`` and is the last one.
    Raises :class:`StructureError` when a box header is cut off (also for 1 to 7 stray bytes at the
    end) or a box is smaller than its header or runs past ``end``.
    """
    stop = len(data) if end is None else end
    pos = start
    while pos < stop:
        if pos + 8 > stop:
            raise StructureError("file is truncated inside a box header")
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if pos + 16 > stop:
                raise StructureError("file is truncated inside a box header")
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            raise StructureError("file is truncated (a box runs past the end of the file)")
        yield kind, pos + header, pos + size
        pos += size
