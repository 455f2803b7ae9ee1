"""PNG chunks: the one walk over a PNG's chunk list, and the chunk writer (length, type, body, CRC).

Hand-written: a chunk is a length, a type and a CRC; no library walks chunks without decoding the image.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from rightsmark.media import StructureError

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk up to and including IEND; ``data[start:end]`` is the whole chunk.

    Raises :class:`StructureError` for a bad signature, a chunk that runs past the end, or no IEND.
    CRCs are not checked (the image decoder and the C2PA engine judge the content).
    """
    if not data.startswith(SIGNATURE):
        raise StructureError("not a PNG (bad signature)")
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise StructureError("PNG is truncated inside a chunk")
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end
    raise StructureError("PNG is truncated (no IEND chunk)")


def chunk(kind: bytes, body: bytes) -> bytes:
    """A whole chunk of type ``kind`` holding ``body``, with its CRC."""
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
