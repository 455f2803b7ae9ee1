"""JPEG header segments: the one walk over a JPEG's markers, from start of image to its first scan.

Hand-written: no library walks JPEG markers without decoding the image, and this walk is a dozen lines.
"""

from __future__ import annotations

from collections.abc import Iterator

from rightsmark.media import StructureError

SOI = b"\xff\xd8"
SOS = 0xDA
APP1 = 0xE1


def segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each header segment up to and including the first scan header (SOS).

    ``data[start:end]`` holds the whole segment (marker, length and payload). Fill bytes and
    stand-alone markers are stepped over. Raises :class:`StructureError` when the file does not
    start like a JPEG, its segment structure breaks, it ends (or reaches end-of-image) before a
    scan, or a segment runs past the end.
    """
    if not data.startswith(SOI):
        raise StructureError("not a JPEG (no start-of-image marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise StructureError("JPEG segment structure is broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # SOI, TEM, RSTn: no length
            pos += 2
            continue
        if marker == 0xD9:  # end of image before any scan
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise StructureError("JPEG is truncated inside a segment")
        yield marker, pos, pos + 2 + length
        if marker == SOS:
            return
        pos += 2 + length
    raise StructureError("JPEG is truncated before its image data")


def scan_start(data: bytes) -> int:
    """Where the entropy-coded data starts (the end of the first scan header); raises :class:`StructureError`.

    Everything C2PA and XMP put in a JPEG (APP11 and APP1 segments) lies before this offset.
    """
    for marker, _, end in segments(data):
        if marker == SOS:
            return end
    raise StructureError("JPEG is truncated before its image data")  # pragma: no cover - segments() raises first
