"""Where the XMP packet lies in each container: find it (JPEG APP1, PNG iTXt, WebP ``XMP `` chunk, TIFF tag 700).

Apart from :mod:`~rightsmark.rights.xmp.embedding`, which writes a packet in its place, so that looking for a packet
(every verified file's declared signals, :mod:`rightsmark.rights.signals_xmp`) imports neither the XML parser
nor the writing of packets. The containers are walked with :mod:`rightsmark.media`'s walkers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rightsmark.errors import InputError
from rightsmark.media import StructureError, jpeg, png, riff

if TYPE_CHECKING:
    from rightsmark.media import tiff
    from rightsmark.media.formats import ImageFormat


class XmpError(InputError):
    """The XMP packet cannot be written into this file without damaging it."""


@dataclass(frozen=True)
class _Found:
    """Where a packet lies (``start:end`` holds the whole segment/chunk) and its bytes."""

    packet: bytes
    start: int
    end: int


# -- JPEG

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"


def _jpeg_find(data: bytes) -> _Found | None:
    for marker, start, end in jpeg.segments(data):
        if marker == jpeg.APP1 and data.startswith(_JPEG_XMP, start + 4):
            return _Found(data[start + 4 + len(_JPEG_XMP) : end], start, end)
    return None


# -- PNG

_PNG_KEY = b"XML:com.adobe.xmp"
_MAX_INFLATE = 16 * 1024 * 1024


def _png_itxt_text(body: bytes, *, strict: bool = False) -> bytes | None:
    """The text of an XMP iTXt chunk body, or None when it is another iTXt. A damaged one (cut short, not
    inflatable, inflating past 16 MiB) reads as empty text, or with ``strict`` raises :class:`XmpError`."""
    if not body.startswith(_PNG_KEY + b"\x00"):
        return None
    rest = body[len(_PNG_KEY) + 1 :]
    if len(rest) < 2:
        return _damaged("its XMP chunk is cut short", strict)
    compressed = rest[0] == 1
    rest = rest[2:]
    lang_end = rest.find(b"\x00")
    key_end = rest.find(b"\x00", lang_end + 1) if lang_end != -1 else -1
    if key_end == -1:
        return _damaged("its XMP chunk is cut short", strict)
    text = rest[key_end + 1 :]
    if compressed:
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text, _MAX_INFLATE)
        except zlib.error:
            return _damaged("its compressed XMP cannot be inflated", strict)
        if inflater.unconsumed_tail or not inflater.eof:
            return _damaged("its compressed XMP is cut short or inflates past 16 MiB", strict)
    return text


def _damaged(why: str, strict: bool) -> bytes:
    if strict:
        raise XmpError(why)
    return b""


def _png_find(data: bytes, *, strict: bool = False) -> _Found | None:
    for kind, start, end in png.chunks(data):
        if kind == b"iTXt":
            text = _png_itxt_text(data[start + 8 : end - 4], strict=strict)
            if text is not None:
                return _Found(text, start, end)
    return None


# -- WebP


def _webp_find(data: bytes) -> _Found | None:
    for kind, start, end in riff.chunks(data):
        if kind == b"XMP ":
            size = int.from_bytes(data[start + 4 : start + 8], "little")
            return _Found(data[start + 8 : start + 8 + size], start, end)
    return None


# -- TIFF

_TIFF_XMP_TAG = 700


def _tiff_ifd0(data: bytes) -> tiff.Ifd:
    from rightsmark.media import tiff  # (only for a TIFF)

    if tiff.is_bigtiff(data):
        raise XmpError("BigTIFF is not supported for XMP")
    return tiff.first_ifd(data)


def _tiff_find(data: bytes) -> _Found | None:
    for entry in _tiff_ifd0(data).entries:
        if entry.tag == _TIFF_XMP_TAG:
            n = entry.size
            at = entry.offset if n > 4 else -1
            value = entry.raw[8 : 8 + n] if n <= 4 else data[at : at + n]
            if len(value) != n:
                raise XmpError("TIFF is truncated (its XMP lies past the end)")
            return _Found(value, at, at + n)
    return None


_FINDERS = {"jpeg": _jpeg_find, "png": _png_find, "webp": _webp_find, "tiff": _tiff_find, "dng": _tiff_find}
#: Bytes a container's XMP packet is marked by (TIFF's tag is binary: any damage there may hide one).
_MARKS = {"jpeg": _JPEG_XMP, "png": _PNG_KEY, "webp": b"XMP "}


def find_packet(data: bytes, fmt: ImageFormat, *, before: int | None = None) -> bytes | None:
    """The raw XMP packet of a JPEG, PNG, WebP or TIFF file, or None (also for damaged files).

    ``before``: a JPEG's scan start when the caller knows it; a header without the XMP identifier is then
    ruled out by one search instead of a walk (the walk still decides where a packet is: an identifier
    inside another segment is no packet)."""
    find = _FINDERS.get(fmt.name)
    if find is None or (fmt.name == "jpeg" and before is not None and data.find(_JPEG_XMP, 0, before) == -1):
        return None
    try:
        found = find(data)
    except (StructureError, XmpError):
        return None
    return found.packet if found else None


def read_packet(data: bytes, fmt: ImageFormat, *, before: int | None = None) -> bytes | None:
    """:func:`find_packet` for reading what a file declares, failing closed: None only where the file holds
    no packet; :class:`XmpError` where it may hold one that cannot be read (an XMP chunk cut short or not
    inflatable, a TIFF's packet past its end, a container that does not walk around an XMP mark)."""
    find = _FINDERS.get(fmt.name)
    if find is None or (fmt.name == "jpeg" and before is not None and data.find(_JPEG_XMP, 0, before) == -1):
        return None
    try:
        found = _png_find(data, strict=True) if fmt.name == "png" else find(data)
    except StructureError as exc:
        mark = _MARKS.get(fmt.name)
        if mark is not None and mark not in (data if before is None else data[:before]):
            return None  # damaged, but nowhere near a packet: the engine judges the damage
        raise XmpError(f"the file does not walk where its XMP may lie: {exc}") from None
    return found.packet if found else None
