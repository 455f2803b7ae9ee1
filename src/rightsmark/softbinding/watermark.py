"""rightsmark's invisible watermark (``io.rightsmark.watermark.1``): a 48-bit identifier of the manifest,
carried in the picture's luminance so that it survives a metadata strip, JPEG re-encoding and resizing.

The signal processing is in :mod:`.qim` (why this method: README, "Watermark"). Here are the plug-in's
entry points: :func:`new_ident`, :func:`embed` (decode, mark, encode again in the same format), :func:`detect`
and :func:`binding`. numpy and Pillow are imported on first use.

Only JPEG and PNG are marked: a JPEG is encoded again at quality :data:`JPEG_QUALITY` with its own chroma
subsampling, keeping its EXIF, ICC profile and XMP; a PNG losslessly, keeping its ICC profile, EXIF, text
and resolution. Other metadata (a previous C2PA manifest among it) is not carried over: the marked picture
is a new asset, to be signed afterwards. The pixels are marked as stored; a reader applies the EXIF
orientation and tries every quarter turn and mirror, so the orientation never matters.

A picture whose shorter side is under :data:`MIN_SIDE` pixels cannot carry the mark (:class:`TooSmallError`
at embedding, None at detection).
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.errors import RightsmarkError
from rightsmark.softbinding import qim
from rightsmark.softbinding.model import WATERMARK_ALG, SoftBinding
from rightsmark.softbinding.pixels import MAX_PIXELS, PixelsError, open_image

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

#: bytes of the identifier the mark carries (a check value of qim.CHECK_BYTES travels beside it)
IDENT_BYTES = qim.IDENT_BYTES
#: the shortest side, in pixels, of a picture that can carry the mark
MIN_SIDE = 256
#: the JPEG quality a marked JPEG is encoded at
JPEG_QUALITY = 95
#: the formats (media.formats names) that are marked
FORMATS = ("jpeg", "png")
_MODES = {"jpeg": ("L", "RGB"), "png": ("L", "LA", "RGB", "RGBA", "P")}


class WatermarkError(RightsmarkError, ValueError):
    """A picture that cannot be marked or read for a mark (undecodable, unsupported, too small); a ValueError
    too, as every refusal of a soft binding's input is."""

    exit_code = 1


class WatermarkFormatError(WatermarkError):
    """The picture's format (or its pixel layout) cannot be encoded again with a mark."""


class TooSmallError(WatermarkError):
    """The picture is too small to carry the mark."""


def new_ident() -> bytes:
    """A fresh random identifier for a manifest's mark."""
    return secrets.token_bytes(IDENT_BYTES)


def binding(ident: bytes) -> SoftBinding:
    """The soft binding that records ``ident`` in a manifest and indexes it in a repository."""
    _check_ident(ident)
    return SoftBinding(WATERMARK_ALG, bytes(ident))


def embed(data: bytes, fmt_name: str, ident: bytes) -> bytes:
    """``data`` (an image in format ``fmt_name``) with ``ident`` marked into its pixels, in the same format.

    Raises :class:`WatermarkFormatError` for a format or pixel layout that is not marked,
    :class:`TooSmallError` for a picture under :data:`MIN_SIDE`, :class:`WatermarkError` if undecodable."""
    _check_ident(ident)
    if fmt_name not in FORMATS:
        raise WatermarkFormatError(
            f"a {fmt_name.upper()} picture cannot be watermarked",
            hint=f"the watermark is applied to {' and '.join(f.upper() for f in FORMATS)} pictures only",
        )
    img = _decode(data, fmt_name)
    if img.mode not in _MODES[fmt_name]:
        raise WatermarkFormatError(
            f"a {fmt_name.upper()} picture in {img.mode} mode cannot be watermarked",
            hint="convert it to 8-bit RGB or greyscale first",
        )
    if min(img.size) < MIN_SIDE:
        raise TooSmallError(
            f"the picture is {img.width} x {img.height} pixels, too small for the watermark",
            hint=f"both sides must be at least {MIN_SIDE} pixels",
        )
    marked = mark(img, ident)
    return _encode(marked, img, fmt_name)


def detect(data: bytes | Path | str) -> bytes | None:
    """The identifier marked in the picture ``data`` (bytes or a path), or None where no mark is found.

    A picture under :data:`MIN_SIDE` has no readable mark (None); an undecodable one is a
    :class:`WatermarkError`."""
    return read(data)[0]


def read(data: bytes | Path | str) -> tuple[bytes | None, float]:
    """The identifier (or None) and the reading's confidence (mean bit z-score of the best try)."""
    try:
        img = open_image(data, least=qim.WORK, mode="L")
    except PixelsError as exc:
        raise WatermarkError(str(exc), path=None if isinstance(data, bytes) else data) from None
    if min(img.size) < MIN_SIDE:
        return None, 0.0
    import numpy as np

    return qim.read(_resize(np.asarray(img, dtype=np.float32), (qim.WORK, qim.WORK)).astype(np.float64))


def mark(img: Image.Image, ident: bytes) -> Image.Image:
    """``img`` (mode L, LA, RGB, RGBA or P) with ``ident`` marked: one luminance change added to each
    colour channel, alpha kept. A P picture comes back as RGB or RGBA."""
    import numpy as np
    from PIL import Image

    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    pixels = np.asarray(img)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    luma = np.asarray(img.convert("L"), dtype=np.float32)
    change = luminance_change(luma, ident)
    colours = 1 if img.mode in ("L", "LA") else 3
    out = pixels.copy()
    for c in range(colours):
        out[:, :, c] = np.clip(np.rint(pixels[:, :, c] + change), 0, 255).astype(np.uint8)
    return Image.fromarray(out[:, :, 0] if out.shape[2] == 1 else out, img.mode)


def luminance_change(luma: NDArray[np.float32], ident: bytes) -> NDArray[np.float32]:
    """The change of a luminance image (float, 0-255) that marks ``ident``.

    Resizing is linear, so the working image of the marked picture is the working image of the picture
    plus the working image of the change scaled up: each pass measures that sum and corrects it."""
    import numpy as np

    size = (luma.shape[1], luma.shape[0])
    work = _resize(luma, (qim.WORK, qim.WORK)).astype(np.float64)
    bits = qim.codeword(ident)
    change = np.zeros((qim.WORK, qim.WORK))
    for step in range(qim.PASSES):
        seen = work if step == 0 else work + _resize(_resize(change.astype(np.float32), size), (qim.WORK, qim.WORK))
        change += qim.working_change(seen, bits)
    return _resize(change.astype(np.float32), size)


def _resize(plane: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    """A float plane resized with Pillow's bilinear filter (area-weighted when shrinking)."""
    import numpy as np
    from PIL import Image

    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    resized = Image.fromarray(plane.astype(np.float32, copy=False), "F").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _check_ident(ident: bytes) -> None:
    if not isinstance(ident, bytes) or len(ident) != IDENT_BYTES:
        raise ValueError(f"a watermark identifier is {IDENT_BYTES} bytes")


def _decode(data: bytes, fmt_name: str) -> Image.Image:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if (img.format or "").lower() != fmt_name:
                raise WatermarkFormatError(f"the picture is not a {fmt_name.upper()} file", hint="check its format")
            if img.width * img.height > MAX_PIXELS:
                raise WatermarkError(
                    f"the picture has {img.width} x {img.height} pixels, over the {MAX_PIXELS:,} watermarked here"
                )
            if getattr(img, "is_animated", False):
                raise WatermarkFormatError("an animated picture cannot be watermarked")
            img.load()
            return img
    except WatermarkError:
        raise
    except (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError, Warning) as exc:
        raise WatermarkError(f"the picture cannot be decoded: {exc}", hint="is the file complete?") from None


def _encode(marked: Image.Image, source: Image.Image, fmt_name: str) -> bytes:
    """``marked`` encoded as ``fmt_name`` with the metadata of ``source`` that describes its pixels."""
    info = source.info
    options: dict[str, Any] = {k: info[k] for k in ("icc_profile", "exif", "dpi") if k in info and info[k] is not None}
    if fmt_name == "jpeg":
        from PIL import JpegImagePlugin

        if isinstance(info.get("xmp"), bytes):
            options["xmp"] = info["xmp"]
        sampling = JpegImagePlugin.get_sampling(source)
        options.update(quality=JPEG_QUALITY, subsampling=sampling if sampling >= 0 else 2)
        fmt = "JPEG"
    else:
        from PIL import PngImagePlugin

        text = getattr(source, "text", {})
        if text:
            chunks = PngImagePlugin.PngInfo()
            for key, value in text.items():
                chunks.add_itxt(key, value)
            options["pnginfo"] = chunks
        fmt = "PNG"
    out = io.BytesIO()
    marked.save(out, fmt, **options)
    return out.getvalue()
