"""Recognise image formats from their first bytes (never from the name alone), and check their structure.

Sniffing is hand-written: it compares a few magic bytes, which no library does with less code or without
reading more of the file. The structural checks walk each container with the walkers of
:mod:`rightsmark.media` (``jpeg``, ``png``, ``riff``, ``bmff``, ``tiff``).

The C2PA engine wants a MIME type; guessing it from an extension signs a PNG named
``.jpg`` as JPEG and fails deep inside the engine. The magic bytes decide here, the
extension only separates TIFF from its raw cousin DNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rightsmark.media import StructureError, bmff, jpeg, png, riff

HEADER_BYTES = 64


@dataclass(frozen=True)
class ImageFormat:
    name: str
    mime: str


JPEG = ImageFormat("jpeg", "image/jpeg")
PNG = ImageFormat("png", "image/png")
GIF = ImageFormat("gif", "image/gif")
WEBP = ImageFormat("webp", "image/webp")
TIFF = ImageFormat("tiff", "image/tiff")
DNG = ImageFormat("dng", "image/x-adobe-dng")
AVIF = ImageFormat("avif", "image/avif")
HEIC = ImageFormat("heic", "image/heic")
HEIF = ImageFormat("heif", "image/heif")
JXL = ImageFormat("jxl", "image/jxl")
SVG = ImageFormat("svg", "image/svg+xml")

#: Every format rightsmark signs (all are signed and verified by the engine's own tests and ours).
SIGNABLE = (JPEG, PNG, GIF, WEBP, TIFF, DNG, AVIF, HEIC, HEIF, JXL, SVG)

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _bmff_brands(head: bytes) -> set[bytes]:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[0:4], "big")
    end = min(max(size, 16), len(head))
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def sniff(head: bytes, name: str | Path = "") -> ImageFormat | None:
    """The image format of a file from its first :data:`HEADER_BYTES` bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return DNG if str(name).lower().endswith(".dng") else TIFF
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return JXL
    brands = _bmff_brands(head)
    if brands:
        major = head[8:12]
        if major in _AVIF_BRANDS or (major not in _HEIC_BRANDS and brands & _AVIF_BRANDS):
            return AVIF
        if brands & _HEIC_BRANDS:
            return HEIC
        if brands & _HEIF_BRANDS:
            return HEIF
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and str(name).lower().endswith(".svg")):
        return SVG
    return None


def sniff_file(path: str | Path) -> ImageFormat | None:
    """The format of the file at ``path`` from its first bytes; None for anything else, a FIFO or a device
    included (their type is checked before they are opened, so nothing blocks or reads without end)."""
    from rightsmark.sources.guard import ItemRefusedError, open_regular

    try:
        fd, _ = open_regular(str(path), max_size=1 << 62)
    except ItemRefusedError:
        return None
    with open(fd, "rb", buffering=0) as fh:
        return sniff(fh.read(HEADER_BYTES), path)


# ---------------------------------------------------------------------------------------------
# Cheap structural checks: catch truncated or damaged files before signing, without decoding pixels
# (a full decode of a 12 MP JPEG costs more than signing it). The walks are the media walkers'.


def jpeg_scan_start(data: bytes) -> int | str:
    """Where a JPEG's entropy-coded data starts (after the first SOS header), or why it cannot be found.

    Everything C2PA and XMP put in a JPEG (APP11 and APP1 segments) lies before this offset.
    """
    try:
        return jpeg.scan_start(data)
    except StructureError as exc:
        return str(exc)


def _jpeg_problem(data: bytes) -> str | None:
    start = jpeg_scan_start(data)
    if isinstance(start, str):
        return start
    # entropy-coded data holds no 0xFFD9 (0xFF is always stuffed or a restart marker), so the
    # last one found after the scan header is the end-of-image marker of a complete file
    return None if data.rfind(b"\xff\xd9", start) != -1 else "JPEG is truncated (no end-of-image marker)"


def _png_problem(data: bytes) -> str | None:
    try:
        for _ in png.chunks(data):
            pass
    except StructureError as exc:
        return str(exc)
    return None


def _riff_problem(data: bytes) -> str | None:
    try:
        riff.riff_end(data)
    except StructureError as exc:
        return str(exc)
    return None


def _bmff_problem(data: bytes) -> str | None:
    try:
        for _ in bmff.boxes(data):
            pass
    except StructureError as exc:
        return str(exc)
    return None


def _tiff_problem(data: bytes) -> str | None:
    """The first IFD and the out-of-line values it points at must lie inside the file."""
    from rightsmark.media import tiff  # (TIFF's walker only for a TIFF: a folder of JPEGs never needs it)

    if tiff.is_bigtiff(data):
        return None  # BigTIFF: not walked
    try:
        ifd = tiff.first_ifd(data)
    except StructureError as exc:
        return str(exc)
    for entry in ifd.entries:
        if entry.size > 4 and entry.offset + entry.size > len(data):
            return "TIFF is truncated (a directory entry points past the end)"
    return None


_STRUCTURE = {"jpeg": _jpeg_problem, "png": _png_problem, "webp": _riff_problem, "avif": _bmff_problem}
_STRUCTURE.update(heic=_bmff_problem, heif=_bmff_problem, tiff=_tiff_problem)

#: Formats whose absence of a manifest rightsmark decides without the engine (their walk is simple
#: enough to agree with the engine on damaged files too; TIFF's directory chains are not).
PRESCANNED = frozenset({"jpeg", "png", "webp", "avif", "heic", "heif"})


def structural_problem(data: bytes, fmt: ImageFormat) -> str | None:
    """Why ``data`` is not a complete ``fmt`` file, or None when its structure is whole.

    Formats without a cheap structural walk (TIFF, GIF) return None here; callers decode those.
    """
    check = _STRUCTURE.get(fmt.name)
    return check(data) if check else None
