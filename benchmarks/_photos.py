"""Generated photographs and what platforms do to them, for the soft-binding benchmarks.

:func:`photo` draws one of six kinds of scene (landscape, city, shapes, texture, portrait, night sky) at
a quarter of the size asked, with every position, colour and count drawn from the seed, then blurs it,
scales it up and adds sensor grain at full size: no two seeds give the same composition. Sizes are given
in megapixels (the aspect ratio comes from the seed too).

:data:`TRANSFORMS` maps a name to a function from a JPEG's bytes to the transformed copy's bytes.
Resized, cropped and rotated copies are encoded as JPEG quality 95 (a platform re-encodes them anyway);
``strip`` drops the metadata segments without touching the compressed pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("landscape", "city", "shapes", "texture", "portrait", "night")
ASPECTS = (1.0, 4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 9 / 16)


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return (r, g, b)


def _scene(rng: np.random.Generator, kind: str, sw: int, sh: int) -> Image.Image:
    top, bottom = np.array(_colour(rng)), np.array(_colour(rng))
    tilt = rng.uniform(-0.5, 0.5)
    t = np.clip(np.linspace(0, 1, sh)[:, None, None] + tilt * np.linspace(-0.5, 0.5, sw)[None, :, None], 0, 1)
    img = Image.fromarray((top * (1 - t) + bottom * t).astype(np.uint8))
    d = ImageDraw.Draw(img)
    if kind in ("landscape", "night"):
        if kind == "night":
            img = Image.fromarray((np.array(img) * 0.2).astype(np.uint8))
            d = ImageDraw.Draw(img)
            for _ in range(int(rng.integers(50, 400))):
                x, y = rng.uniform(0, sw), rng.uniform(0, sh * 0.6)
                d.point((x, y), fill=_colour(rng, 180))
        for k in range(int(rng.integers(2, 6))):
            base = sh * rng.uniform(0.3, 0.9)
            xs = np.linspace(0, sw, int(rng.integers(5, 20)))
            ridge = [(float(x), float(base + rng.normal(0, sh * 0.06))) for x in xs]
            d.polygon([(0.0, float(sh)), *ridge, (float(sw), float(sh))], fill=_colour(rng, 0, 160 - 20 * k))
        r = sw * rng.uniform(0.02, 0.08)
        cx, cy = rng.uniform(0.05, 0.95) * sw, rng.uniform(0.05, 0.4) * sh
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_colour(rng, 200))
        for _ in range(int(rng.integers(0, 60))):
            x, y, s = rng.uniform(0, sw), rng.uniform(0.4, 1) * sh, rng.uniform(0.005, 0.05) * sw
            d.ellipse([x - s, y - 2 * s, x + s, y], fill=_colour(rng, 0, 130))
    elif kind == "city":
        x = 0.0
        while x < sw:
            bw, bh = rng.uniform(0.04, 0.2) * sw, rng.uniform(0.2, 0.9) * sh
            d.rectangle([x, sh - bh, x + bw, sh], fill=_colour(rng, 30, 200))
            step = max(2.0, bw / rng.uniform(3, 9))
            lit = _colour(rng, 150)
            for wx in np.arange(x + step / 2, x + bw - step / 2, step):
                for wy in np.arange(sh - bh + step / 2, sh - step / 2, step * 1.5):
                    if rng.random() < 0.5:
                        d.rectangle([wx, wy, wx + step / 3, wy + step / 2], fill=lit)
            x += bw + rng.uniform(0, 0.03) * sw
    elif kind == "shapes":
        for _ in range(int(rng.integers(5, 80))):
            x0, y0 = rng.uniform(-0.1, 1) * sw, rng.uniform(-0.1, 1) * sh
            s = rng.uniform(0.02, 0.4) * min(sw, sh)
            box = [x0, y0, x0 + s, y0 + s * rng.uniform(0.3, 2.5)]
            (d.rectangle if rng.random() < 0.5 else d.ellipse)(box, fill=_colour(rng))
    elif kind == "texture":
        cells = int(rng.integers(4, 64))
        noise = rng.normal(0, 1, (max(2, sh // cells), max(2, sw // cells), 3))
        tex = Image.fromarray(np.clip(128 + 60 * noise, 0, 255).astype(np.uint8))
        img = Image.blend(img, tex.resize((sw, sh), Image.Resampling.BICUBIC), float(rng.uniform(0.3, 0.8)))
    else:  # portrait: a face and shoulders somewhere on a backdrop
        cx, cy, r = rng.uniform(0.25, 0.75) * sw, rng.uniform(0.3, 0.6) * sh, rng.uniform(0.1, 0.3) * min(sw, sh)
        d.ellipse([cx - 2.2 * r, cy + 1.1 * r, cx + 2.2 * r, cy + 4 * r], fill=_colour(rng))
        d.ellipse([cx - r, cy - 1.3 * r, cx + r, cy + 1.3 * r], fill=_colour(rng, 120, 240))
        d.chord([cx - 1.1 * r, cy - 1.5 * r, cx + 1.1 * r, cy + 0.2 * r], 180, 360, fill=_colour(rng, 0, 120))
        for ex in (-0.4, 0.4):
            d.ellipse([cx + (ex - 0.12) * r, cy - 0.38 * r, cx + (ex + 0.12) * r, cy - 0.22 * r], fill=(30, 25, 25))
    return img


def photo(seed: int, megapixels: float) -> Image.Image:
    """A generated RGB photograph of about ``megapixels`` million pixels."""
    rng = np.random.default_rng(seed)
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    w = max(64, round((megapixels * 1e6 * aspect) ** 0.5))
    h = max(64, round(megapixels * 1e6 / w))
    kind = KINDS[int(rng.integers(len(KINDS)))]
    img = _scene(rng, kind, max(64, w // 4), max(64, h // 4))
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 2.5))))
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    grain = rng.normal(0, float(rng.uniform(0.5, 6)), (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8))


def jpeg(img: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def strip(data: bytes) -> bytes:
    """The JPEG without its APP1-APP15 and comment segments (EXIF, XMP, C2PA), pixels untouched."""
    from rightsmark.media import jpeg as segments

    out, pos = bytearray(data[:2]), 2
    for marker, start, end in segments.segments(data):
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):
            out += data[start:end]
        pos = end
    return bytes(out + data[pos:])


def long_side(img: Image.Image, pixels: int) -> Image.Image:
    scale = pixels / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


def crop(img: Image.Image, share: float = 0.10) -> Image.Image:
    """The centre, ``share`` of each side cut (half from each edge)."""
    dx, dy = round(img.width * share / 2), round(img.height * share / 2)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=1)
    return out.getvalue()


TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "strip": strip,
    "jpeg-q90": lambda b: jpeg(_open(b), 90),
    "jpeg-q75": lambda b: jpeg(_open(b), 75),
    "jpeg-q50": lambda b: jpeg(_open(b), 50),
    "resize-50%": lambda b: jpeg((i := _open(b)).resize((i.width // 2, i.height // 2), Image.Resampling.LANCZOS)),
    "resize-1080": lambda b: jpeg(long_side(_open(b), 1080)),
    "crop-10%": lambda b: jpeg(crop(_open(b))),
    "png": lambda b: png(_open(b)),
    "social": lambda b: jpeg(long_side(_open(b), 1080), 80),
    "rotate-90": lambda b: jpeg(_open(b).transpose(Image.Transpose.ROTATE_90)),
    "rotate-2": lambda b: jpeg(_open(b).rotate(2, resample=Image.Resampling.BICUBIC)),
}
