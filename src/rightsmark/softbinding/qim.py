"""The watermark's signal processing: quantisation index modulation in the luminance's block DCT, at a fixed
working resolution (numpy only; imported on first use).

The picture's luminance is resized to a 512 x 512 *working image* whatever its size and aspect, so that any
later resize lands on the same grid. The working image is cut into 8 x 8 blocks; in each block ten
low-to-middle frequency DCT coefficients (``u + v`` from 2 to 4) carry the mark, 40,960 coefficients in all.
Each coefficient is assigned to one bit of an 80-bit codeword (a 48-bit identifier and a 32-bit check
value), 512 coefficients to each bit (a repetition code read with soft decisions), and is moved onto the
lattice ``DELTA * Z + dither + bit * DELTA / 2`` (dither modulation, Chen & Wornell 2001). The change is made
at working resolution, scaled up to the picture's size, and added to its red, green and blue alike (a pure
luminance change); two passes correct what the scaling loses.

Reading resizes the luminance to the working image again, measures each coefficient's position against the
two lattices (``cos`` of its phase: +1 on bit 0, -1 on bit 1, zero on average for an unmarked picture), sums
the 512 per bit, and takes the sign. The mark is reported only when the check value matches *and* the
mean bit confidence (a z-score, about 0.8 on unmarked pictures, about 20 on marked ones after a social
network's resize and JPEG) is above :data:`MIN_CONFIDENCE`. The eight turns and mirrors of the working image
are tried, so a picture turned by quarter turns (or by its EXIF orientation) is read too.

The assignment of coefficients to bits and the dither come from SHAKE-256 of a fixed label, never from a
random-number generator whose streams may change between numpy versions. The key is public: the mark only
*finds* a manifest, whose signature is checked as for any other; a forged or copied mark finds at most a
real manifest of someone else's picture.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]

#: side of the square working image, in pixels
WORK = 512
BLOCK = 8
#: the DCT coefficients (row, column) of each 8 x 8 block that carry the mark
COEFFICIENTS = ((0, 2), (1, 1), (2, 0), (0, 3), (1, 2), (2, 1), (3, 0), (1, 3), (2, 2), (3, 1))
#: the quantiser step (orthonormal DCT, 8-bit luminance scale): the mark's strength
DELTA = 12.0
IDENT_BYTES = 6
CHECK_BYTES = 4
BITS = 8 * (IDENT_BYTES + CHECK_BYTES)
#: the least mean bit z-score reported as a mark (unmarked pictures: 0.8 +- 0.1; the best of 8 tries ~ 1.1)
MIN_CONFIDENCE = 4.0
#: embedding passes (the second corrects what resizing the change up and down again loses)
PASSES = 2
_LABEL = b"io.rightsmark.watermark.1"


class _Tables:
    """The DCT matrix, the coefficient-to-bit assignment and the dither, computed once."""

    def __init__(self) -> None:
        import numpy as np

        n = np.arange(BLOCK)
        c = np.sqrt(2 / BLOCK) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * BLOCK))
        c[0] /= np.sqrt(2)
        self.dct = c
        self.rows = np.array([u for u, _ in COEFFICIENTS])
        self.cols = np.array([v for _, v in COEFFICIENTS])
        slots = (WORK // BLOCK) ** 2 * len(COEFFICIENTS)
        stream = hashlib.shake_256(_LABEL).digest(16 * slots)
        keys = np.frombuffer(stream[: 8 * slots], dtype=">u8")
        # a permutation of the slots, dealt round-robin to the bits: every bit gets slots // BITS of them
        self.bit_of = (np.argsort(keys, kind="stable") % BITS).astype(np.intp)
        self.dither = np.frombuffer(stream[8 * slots :], dtype=">u8").astype(np.float64) / 2.0**64 * DELTA
        self.per_bit = np.bincount(self.bit_of, minlength=BITS).astype(np.float64)


_tables: _Tables | None = None


def tables() -> _Tables:
    global _tables
    if _tables is None:
        _tables = _Tables()
    return _tables


def check_value(ident: bytes) -> bytes:
    """The check value carried beside ``ident`` (an unmarked picture matches it by chance 1 in 2**32)."""
    return hashlib.blake2b(ident, digest_size=CHECK_BYTES, person=b"rightsmark-wm1").digest()


def codeword(ident: bytes) -> Floats:
    import numpy as np

    payload = np.frombuffer(ident + check_value(ident), dtype=np.uint8)
    return np.unpackbits(payload).astype(np.float64)


def _coefficients(work: Floats) -> Floats:
    """The marked coefficients of the working image, one row of ten per block, flattened."""
    import numpy as np

    t = tables()
    nb = WORK // BLOCK
    blocks = work.reshape(nb, BLOCK, nb, BLOCK).transpose(0, 2, 1, 3)
    d = np.einsum("ij,abjk,lk->abil", t.dct, blocks, t.dct, optimize=True)
    return d[:, :, t.rows, t.cols].reshape(-1)  # type: ignore[no-any-return]


def working_change(work: Floats, bits: Floats) -> Floats:
    """The change of the working image that puts each marked coefficient on its bit's lattice."""
    import numpy as np

    t = tables()
    x = _coefficients(work)
    offset = t.dither + bits[t.bit_of] * (DELTA / 2)
    moved = np.round((x - offset) / DELTA) * DELTA + offset - x
    nb = WORK // BLOCK
    d = np.zeros((nb, nb, BLOCK, BLOCK))
    d[:, :, t.rows, t.cols] = moved.reshape(nb, nb, len(COEFFICIENTS))
    blocks = np.einsum("ji,abjk,kl->abil", t.dct, d, t.dct, optimize=True)
    return blocks.transpose(0, 2, 1, 3).reshape(WORK, WORK)  # type: ignore[no-any-return]


def bit_scores(work: Floats) -> Floats:
    """Each bit's z-score: positive for 0, negative for 1, near zero where nothing was marked."""
    import numpy as np

    t = tables()
    phase = np.cos((2 * np.pi / DELTA) * (_coefficients(work) - t.dither))
    return np.bincount(t.bit_of, weights=phase, minlength=BITS) / np.sqrt(t.per_bit / 2)


def read(work: Floats) -> tuple[bytes | None, float]:
    """The identifier in a working image, trying its eight turns and mirrors, and the best confidence seen.

    The identifier is None unless the check value matches and the confidence reaches MIN_CONFIDENCE."""
    import numpy as np

    best = 0.0
    for mirrored in (work, work[:, ::-1]):
        for turns in range(4):
            z = bit_scores(np.ascontiguousarray(np.rot90(mirrored, turns)))
            confidence = float(np.mean(np.abs(z)))
            best = max(best, confidence)
            if confidence < MIN_CONFIDENCE:
                continue
            payload = np.packbits((z < 0).astype(np.uint8)).tobytes()
            ident, check = payload[:IDENT_BYTES], payload[IDENT_BYTES:]
            if check == check_value(ident):
                return ident, confidence
    return None, best
