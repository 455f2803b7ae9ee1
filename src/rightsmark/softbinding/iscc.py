"""The ISCC image code (ISO 24138, ``io.iscc.v0``) as a perceptual fingerprint, computed with ``iscc-core``.

The image is normalised as ISCC does (EXIF orientation applied, transparency on white, grey, 32 x 32
bicubic) and hashed by ``iscc_core.gen_image_code_v0`` into a Content-Code Image unit: a 2-byte ISCC
header and a 256-bit body. The body's first 64 bits are the standard 64-bit image code, so a value made
with 64 bits elsewhere compares with ours on that prefix.

The binding's value is the unit's bytes (header and body). Two values compare by the Hamming distance
of their bodies' common prefix, scaled to 256 bits (:func:`distance`). ``iscc_core`` is imported on first use (it costs
about 0.1 s).
"""

from __future__ import annotations

from pathlib import Path

from rightsmark.softbinding.model import ISCC_ALG, SoftBinding, SoftBindingError
from rightsmark.softbinding.pixels import open_image

#: bits of the body rightsmark computes (the most the ISCC image code has)
BITS = 256
#: bits of the prefix every ISCC image code has, indexed by the repository
PREFIX_BITS = 64
#: ISCC header fields of a Content-Code Image, version 0
_MAINTYPE_CONTENT = 2
_SUBTYPE_IMAGE = 1


def normalised_pixels(data: bytes | Path | str) -> list[int]:
    """The 1,024 grey pixels ISCC hashes: the image oriented, on white, grey, resized to 32 x 32."""
    from PIL import Image

    img = open_image(data, least=64, mode="L")
    small = img.resize((32, 32), Image.Resampling.BICUBIC)
    return list(small.tobytes())


def image_code(pixels: list[int], bits: int = BITS) -> bytes:
    """The ISCC Content-Code Image unit (header and body) of 1,024 normalised pixels."""
    import iscc_core

    code = iscc_core.gen_image_code_v0(pixels, bits=bits)["iscc"]
    return bytes(iscc_core.decode_base32(code.removeprefix("ISCC:")))


def fingerprint(data: bytes | Path | str) -> SoftBinding:
    """The ``io.iscc.v0`` soft binding of the image in ``data`` (bytes or a path).

    Raises :class:`~rightsmark.softbinding.pixels.PixelsError` where the image cannot be decoded."""
    return SoftBinding(ISCC_ALG, image_code(normalised_pixels(data)))


def body(value: bytes) -> bytes:
    """The hash body of an ISCC Content-Code Image unit; anything else is a :class:`SoftBindingError`."""
    import iscc_core

    try:
        maintype, subtype, version, length, rest = iscc_core.decode_header(value)
        declared = iscc_core.decode_length(maintype, length)
    except Exception:  # iscc_core raises assorted errors on malformed headers
        raise SoftBindingError("the value is not an ISCC code") from None
    if maintype != _MAINTYPE_CONTENT or subtype != _SUBTYPE_IMAGE or version != 0:
        raise SoftBindingError("the value is not an ISCC Content-Code Image (version 0)")
    if len(rest) < PREFIX_BITS // 8 or len(rest) > BITS // 8 or len(rest) * 8 != declared:
        raise SoftBindingError("the ISCC image code's length is not the one its header declares")
    return bytes(rest)


def prefix(value: bytes) -> int:
    """The first 64 bits of an ISCC image code's body, as an unsigned integer (what the repository indexes)."""
    return int.from_bytes(body(value)[: PREFIX_BITS // 8], "big")


#: the most bits the standard 64-bit prefixes of two codes of one picture may differ in; the prefix holds the
#: image's lowest frequencies, which survive re-encoding best (measured: benchmarks/bench_softbinding.py)
PREFIX_RADIUS = 4
#: the same where a code has only its 64-bit prefix: nothing else then tells pictures apart, so it is tighter
SHORT_PREFIX_RADIUS = 2


def prefix_distance(a: bytes, b: bytes) -> int:
    """The plain Hamming distance between the 64-bit prefixes of two ISCC image codes."""
    return _prefix_bits(body(a), body(b))


def _prefix_bits(x: bytes, y: bytes) -> int:
    n = PREFIX_BITS // 8
    return (int.from_bytes(x[:n], "big") ^ int.from_bytes(y[:n], "big")).bit_count()


def _scaled(x: bytes, y: bytes) -> int:
    n = min(len(x), len(y))
    differing = (int.from_bytes(x[:n], "big") ^ int.from_bytes(y[:n], "big")).bit_count()
    return -(-differing * BITS // (8 * n))


def within(a: bytes, b: bytes, max_distance: int) -> int | None:
    """The distance between two ISCC image codes (:func:`distance`) when they match, else None: the one rule
    of a fingerprint match. Both must hold: the 64-bit prefixes differ in at most :data:`PREFIX_RADIUS` bits
    (:data:`SHORT_PREFIX_RADIUS` where either code has no more than its prefix; never more than
    ``max_distance``), and the whole codes are at most ``max_distance`` apart over 256 bits."""
    x, y = body(a), body(b)  # each header read once: this runs for every candidate of a lookup
    d = _scaled(x, y)
    reach = PREFIX_RADIUS if min(len(x), len(y)) * 8 > PREFIX_BITS else SHORT_PREFIX_RADIUS
    if d > max_distance or _prefix_bits(x, y) > min(reach, max_distance):
        return None
    return d


def distance(a: bytes, b: bytes) -> int:
    """The Hamming distance between two ISCC image codes over the bits both bodies have, scaled to 256 bits.

    Two 256-bit codes: the plain count of differing bits. A shorter code (the standard 64-bit one) compares on
    its bits only, each differing bit counting 256/n times (rounded up), so that one threshold means the same
    share of differing bits whatever the length: 2 of 64 bits is as far as 8 of 256, never nearer."""
    return _scaled(body(a), body(b))
