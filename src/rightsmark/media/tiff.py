"""Classic TIFF directories: the header, the first IFD's entries and the one table of field type sizes.

Hand-written: reading IFD0's 12-byte entries is a few lines; TIFF libraries decode images or read every
directory and tag type, more than a structure check or an XMP lookup needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rightsmark.media import StructureError

ByteOrder = Literal["little", "big"]

CLASSIC = (b"II*\x00", b"MM\x00*")
BIG = (b"II+\x00", b"MM\x00+")

#: Bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT,
#: SLONG, SRATIONAL, FLOAT, DOUBLE, IFD); an unknown type counts one byte per value.
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


@dataclass(frozen=True)
class Entry:
    """One 12-byte IFD entry; :attr:`raw` is its bytes as the file has them."""

    tag: int
    type: int
    count: int
    raw: bytes
    order: ByteOrder

    @property
    def size(self) -> int:
        """How many bytes the value takes (it lies inside the entry when 4 or fewer)."""
        return self.count * TYPE_SIZES.get(self.type, 1)

    @property
    def offset(self) -> int:
        """The value's offset in the file (meaningful when :attr:`size` is over 4)."""
        return int.from_bytes(self.raw[8:12], self.order)


@dataclass(frozen=True)
class Ifd:
    """The first image file directory: where it lies, its entries and the raw next-IFD offset."""

    order: ByteOrder
    offset: int
    entries: tuple[Entry, ...]
    next_ifd: bytes


def is_bigtiff(data: bytes) -> bool:
    """Whether ``data`` starts with a BigTIFF header (64-bit offsets: not walked here)."""
    return data[:4] in BIG


def first_ifd(data: bytes) -> Ifd:
    """IFD0 of a classic TIFF; raises :class:`StructureError` for another header or a directory cut off."""
    if data[:4] not in CLASSIC:
        raise StructureError("not a TIFF (bad header)")
    order: ByteOrder = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    if ifd < 8 or ifd + 2 > len(data):
        raise StructureError("TIFF is truncated (its first directory lies past the end)")
    count = int.from_bytes(data[ifd : ifd + 2], order)
    end = ifd + 2 + 12 * count
    if end + 4 > len(data):
        raise StructureError("TIFF is truncated inside its first directory")
    entries = []
    for at in range(ifd + 2, end, 12):
        raw = data[at : at + 12]
        tag, kind, n = int.from_bytes(raw[0:2], order), int.from_bytes(raw[2:4], order), int.from_bytes(raw[4:8], order)
        entries.append(Entry(tag, kind, n, raw, order))
    return Ifd(order, ifd, tuple(entries), data[end : end + 4])
