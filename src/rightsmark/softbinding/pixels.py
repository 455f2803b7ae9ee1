"""Decoding an image for a soft binding: bounded, oriented, and as small as the method allows.

A fingerprint needs a 32 x 32 grey image, so a JPEG is decoded at the smallest scale its decoder offers
that is still at least ``least`` pixels on each side (``draft``: about 1/8 of the pixels of a large photo).
Any decoding failure is a :class:`PixelsError` naming the file; a picture over the pixel cap is refused
before it is decoded.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

#: the most pixels a soft binding decodes (24 MP photographs and some margin; Pillow's own bomb limit is 89 MP)
MAX_PIXELS = 200_000_000


class PixelsError(ValueError):
    """The image cannot be decoded for a soft binding; the message says why, in a user's words."""


def open_image(data: bytes | Path | str, *, least: int | None = None, mode: str = "RGB") -> Image.Image:
    """The decoded image in ``data`` (bytes or a path), oriented by its EXIF tag, transparency on white,
    converted to ``mode``. ``least``: decode at a reduced scale that keeps both sides at least this many
    pixels (JPEG only; other formats are decoded whole)."""
    from PIL import Image, ImageOps

    source = io.BytesIO(data) if isinstance(data, bytes) else Path(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # raised: a bomb is refused
            img: Image.Image = Image.open(source)
            if img.width * img.height > MAX_PIXELS:
                raise PixelsError(
                    f"the image has {img.width} x {img.height} pixels, over the {MAX_PIXELS:,} decoded here"
                )
            if least is not None and img.format == "JPEG":
                img.draft("RGB" if mode != "L" else "L", (least, least))
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            return img.convert(mode)
    except PixelsError:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        MemoryError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise PixelsError(f"the image cannot be decoded: {exc}") from None
