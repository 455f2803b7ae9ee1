"""Where the XMP packet lives in each container: find it, and write a merged one in its place.

Hand-written, because no library fits: no maintained pure-Python library writes XMP into JPEG, PNG, WebP
and TIFF (python-xmp-toolkit wraps the Exempi C library, pyexiv2 wraps Exiv2). The containers are walked
with :mod:`rightsmark.media`'s walkers; pixels are never re-encoded: the file's other segments or
chunks are copied byte for byte, and a JPEG's extended-XMP segments are kept.

Formats: JPEG (APP1), PNG (iTXt ``XML:com.adobe.xmp``), WebP (``XMP `` chunk, a simple
VP8/VP8L file is converted to the extended VP8X layout) and classic TIFF (tag 700). For any
other format :func:`embed` returns :class:`NotEmbedded` and leaves the bytes alone. Extended
XMP (a JPEG packet over 64 KB split across several segments) is not written.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from rightsmark.media import StructureError, jpeg, png, riff
from rightsmark.media.formats import ImageFormat
from rightsmark.rights.xmp.fields import XmpFields
from rightsmark.rights.xmp.locate import (
    _JPEG_XMP,
    _PNG_KEY,
    _TIFF_XMP_TAG,
    XmpError,
    _jpeg_find,
    _png_find,
    _tiff_find,
    _tiff_ifd0,
    _webp_find,
    find_packet,
)
from rightsmark.rights.xmp.packet import MalformedError, merge
from rightsmark.rights.xmp.reading import packet_fields

#: A file with its XMP written, as parts to be written one after another (see :func:`embed_parts`).
Parts = tuple[bytes | memoryview, ...]


@dataclass(frozen=True)
class NotEmbedded:
    """:func:`embed` wrote nothing: the bytes are unchanged, ``reason`` says why (one sentence)."""

    format: str
    reason: str


# -- JPEG

_JPEG_MAX_PACKET = 0xFFFF - 2 - len(_JPEG_XMP)


def _jpeg_embed(data: bytes, fields: XmpFields) -> Parts:
    found = _jpeg_find(data)
    packet = merge(found.packet if found else None, fields)
    if len(packet) > _JPEG_MAX_PACKET:
        packet = merge(found.packet if found else None, fields, padding=0)
    if len(packet) > _JPEG_MAX_PACKET:
        raise XmpError(
            f"the merged XMP packet ({len(packet)} bytes) does not fit one JPEG segment ({_JPEG_MAX_PACKET} bytes)",
            hint="extended XMP is not written; shorten the file's existing XMP (e.g. exiftool -XMP-crs:all=)",
        )
    segment = b"\xff\xe1" + (2 + len(_JPEG_XMP) + len(packet)).to_bytes(2, "big") + _JPEG_XMP + packet
    view = memoryview(data)  # the image data is not copied: the parts are views of it
    if found is not None:
        return (view[: found.start], segment, view[found.end :])
    at = 2
    for marker, start, end in jpeg.segments(data):
        if marker == 0xE0 or (marker == jpeg.APP1 and data.startswith(b"Exif\x00", start + 4)):
            at = end
        else:
            break
    return (view[:at], segment, view[at:])


# -- PNG


def _png_embed(data: bytes, fields: XmpFields) -> bytes:
    found = _png_find(data)
    packet = merge(found.packet if found else None, fields)
    chunk = png.chunk(b"iTXt", _PNG_KEY + b"\x00\x00\x00\x00\x00" + packet)
    if found is not None:
        return data[: found.start] + chunk + data[found.end :]
    for kind, start, _ in png.chunks(data):
        if kind in (b"IDAT", b"IEND"):
            return data[:start] + chunk + data[start:]
    raise XmpError("PNG has no image data")  # pragma: no cover - png.chunks ends at IEND or raises


# -- WebP

_WEBP_BEFORE_XMP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}
_VP8X_XMP, _VP8X_ALPHA = 0x04, 0x10


def _vp8x_for(data: bytes, kind: bytes, start: int) -> bytes:
    """A VP8X chunk for a simple-format file whose image chunk ``kind`` starts at ``start``."""
    body = data[start + 8 : start + 18]
    flags = _VP8X_XMP
    if kind == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a" or body[0] & 1:
            raise XmpError("WebP lossy bitstream has no key frame header")
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
    elif kind == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise XmpError("WebP lossless bitstream has a bad signature")
        bits = int.from_bytes(body[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if bits >> 28 & 1:
            flags |= _VP8X_ALPHA
    else:
        raise XmpError(f"WebP starts with an unknown chunk {kind!r}")
    if not width or not height:
        raise XmpError("WebP bitstream declares an empty canvas")
    payload = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff.chunk(b"VP8X", payload)


def _webp_embed(data: bytes, fields: XmpFields) -> bytes:
    chunks = riff.chunks(data)
    found = _webp_find(data)
    packet = merge(found.packet if found else None, fields)
    xmp_chunk = riff.chunk(b"XMP ", packet)
    first, first_start, _ = chunks[0]
    body = bytearray(data)
    if found is not None:
        body[found.start : found.end] = xmp_chunk
    else:
        at = max(end for kind, _, end in chunks if kind in _WEBP_BEFORE_XMP or end == chunks[0][2])
        body[at:at] = (b"\x00" if at & 1 else b"") + xmp_chunk  # (a writer that left out a pad byte)
    if first == b"VP8X":
        body[first_start + 8] |= _VP8X_XMP
    else:
        body[first_start:first_start] = _vp8x_for(data, first, first_start)
    size = int.from_bytes(data[4:8], "little") + len(body) - len(data)
    body[4:8] = size.to_bytes(4, "little")
    return bytes(body)


# -- TIFF (classic, not BigTIFF): IFD0 tag 700. The new XMP bytes and a copy of IFD0 holding tag 700
#    are appended; the header then points at the copy. Every offset in the file stays valid, and
#    the old IFD0 is left unreferenced.


def _tiff_embed(data: bytes, fields: XmpFields) -> bytes:
    ifd = _tiff_ifd0(data)
    order = ifd.order
    found = _tiff_find(data)
    packet = merge(found.packet if found else None, fields)
    out = bytearray(data)
    if len(out) & 1:
        out.append(0)
    xmp_at = len(out)
    out += packet
    if len(out) & 1:
        out.append(0)
    if len(out) + 2 + 12 * (len(ifd.entries) + 1) + 4 > 0xFFFFFFFF:
        raise XmpError("TIFF would grow past 4 GiB (BigTIFF is not written)")
    entry = struct.pack(("<" if order == "little" else ">") + "HHII", _TIFF_XMP_TAG, 1, len(packet), xmp_at)
    kept = [e.raw for e in ifd.entries if e.tag != _TIFF_XMP_TAG]
    new = sorted([*kept, entry], key=lambda e: int.from_bytes(e[0:2], order))
    ifd_at = len(out)
    out += len(new).to_bytes(2, order) + b"".join(new) + ifd.next_ifd
    out[4:8] = ifd_at.to_bytes(4, order)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Public entry points

_EMBEDDERS: dict[str, Callable[[bytes, XmpFields], bytes | Parts]] = {
    "jpeg": _jpeg_embed,
    "png": _png_embed,
    "webp": _webp_embed,
    "tiff": _tiff_embed,
}

#: Format names :func:`embed` writes into.
SUPPORTED = frozenset(_EMBEDDERS)

_BMFF = "its XMP is an item of the meta box, and rewriting item locations is not supported"
_UNSUPPORTED = {
    "gif": "XMP is not written into GIF files (the application-extension packet is not supported)",
    "dng": "XMP is not written into DNG files (raw files are left to raw converters)",
    "avif": f"XMP is not written into AVIF files ({_BMFF})",
    "heic": f"XMP is not written into HEIC files ({_BMFF})",
    "heif": f"XMP is not written into HEIF files ({_BMFF})",
}


def embed(data: bytes, fmt: ImageFormat, fields: XmpFields) -> bytes | NotEmbedded:
    """``data`` with ``fields`` merged into its XMP packet (pixels and other metadata untouched);
    see :func:`embed_parts`."""
    parts = embed_parts(data, fmt, fields)
    return parts if isinstance(parts, NotEmbedded) else b"".join(parts)


def embed_parts(data: bytes, fmt: ImageFormat, fields: XmpFields) -> Parts | NotEmbedded:
    """:func:`embed` as the parts of the new file in order (a JPEG's: views of ``data`` before and after
    the new packet's segment, so a large image is never copied), to be written one after another.

    Returns :class:`NotEmbedded` (nothing written; sign on and say ``reason`` once) for a format
    outside :data:`SUPPORTED`, or when the file's own packet cannot be merged into (not
    well-formed XML, a DTD, no ``rdf:RDF``, nested beyond reason): another tool's packet is never
    overwritten. Raises :class:`XmpError` (an :class:`~rightsmark.errors.InputError`) when the
    file is damaged, a value holds a character XML cannot carry, or a JPEG packet cannot fit
    one segment. Nothing is ever half-written: the input bytes are not modified in any case.
    """
    write = _EMBEDDERS.get(fmt.name)
    if write is None:
        reason = _UNSUPPORTED.get(fmt.name, f"XMP is not written into {fmt.name.upper()} files")
        return NotEmbedded(fmt.name, reason)
    try:
        written = write(data, fields)
    except StructureError as exc:
        raise XmpError(str(exc)) from None
    except MalformedError as exc:
        return NotEmbedded(fmt.name, f"the file's XMP packet cannot be merged into ({exc}); left unchanged")
    return (written,) if isinstance(written, bytes) else written


def read(data: bytes, fmt: ImageFormat) -> XmpFields | None:
    """The rightsmark fields in the file's XMP packet; None when there is none or it is unreadable.

    Cheap: only header segments (JPEG, up to the scan), the chunk list (PNG, WebP) or IFD0 (TIFF)
    are walked; no pixel is decoded. Never raises for bad input.
    """
    raw = find_packet(data, fmt)
    return packet_fields(raw) if raw is not None else None
