"""RIFF chunks (WebP): the one walk over a RIFF file's chunks, and the chunk writer (fourcc, size, body, pad).

Hand-written: a chunk is a fourcc, a little-endian size and a pad byte; no library walks them without decoding.
"""

from __future__ import annotations

from rightsmark.media import StructureError


def riff_end(data: bytes, form: bytes = b"WEBP", name: str = "WebP") -> int:
    """Where the chunks end by the RIFF header (8 + its declared size).

    Raises :class:`StructureError` when the header is not ``RIFF....<form>`` or the file is shorter
    than the header says.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != form:
        raise StructureError(f"not a {name} (bad RIFF header)")
    total = int.from_bytes(data[4:8], "little") + 8
    if total > len(data):
        raise StructureError(f"{name} is truncated (shorter than its RIFF header says)")
    return total


def chunks(data: bytes, form: bytes = b"WEBP", name: str = "WebP") -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end) of every chunk; ``end`` includes the pad byte of an odd-sized chunk.

    Raises :class:`StructureError` (see :func:`riff_end`), also when a chunk runs past the declared
    end or there is no chunk at all. A last chunk whose pad byte is missing ends at the declared end.
    """
    total = riff_end(data, form, name)
    found: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos + 8 <= total:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > total:
            raise StructureError(f"{name} is truncated inside a chunk")
        found.append((data[pos : pos + 4], pos, min(end, total)))
        pos = end
    if not found:
        raise StructureError(f"{name} holds no chunk")
    return found


def chunk(kind: bytes, body: bytes) -> bytes:
    """A whole chunk of type ``kind`` holding ``body``, padded to an even length."""
    return kind + len(body).to_bytes(4, "little") + body + (b"\x00" if len(body) & 1 else b"")
