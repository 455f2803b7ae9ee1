"""The invisible watermark: it carries its identifier through what platforms do to pictures, finds nothing
in pictures it never marked, costs little to the eye, and refuses what it cannot mark in one line."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFilter, PngImagePlugin

from rightsmark.errors import RightsmarkError
from rightsmark.softbinding import watermark as wm
from rightsmark.softbinding.model import WATERMARK_ALG, SoftBinding


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A generated photograph: sky gradient, hills, blobs, blur and sensor grain."""
    rng = np.random.default_rng(seed)
    w, h = size
    sw, sh = max(64, w // 4), max(64, h // 4)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, sh)[:, None, None]
    img = Image.fromarray(((top * (1 - t) + bottom * t) * np.ones((sh, sw, 3))).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for k in range(3):
        ridge = [(float(x), float(sh * (0.45 + 0.12 * k) + rng.normal(0, sh * 0.05))) for x in np.linspace(0, sw, 9)]
        draw.polygon([(0.0, float(sh)), *ridge, (float(sw), float(sh))], fill=tuple(rng.integers(0, 200, 3).tolist()))
    for _ in range(int(rng.integers(5, 30))):
        x, y, r = rng.uniform(0, sw), rng.uniform(0, sh), rng.uniform(0.01, 0.08) * sw
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.integers(0, 256, 3).tolist()))
    img = img.filter(ImageFilter.GaussianBlur(1.5)).resize((w, h), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 3, (h, w, 1))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float64) + grain, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255**2 / np.mean((x - y) ** 2)))


def social(data: bytes) -> bytes:
    """What a social network does: longer side to 1080 pixels, JPEG quality 80, metadata gone."""
    img = decoded(data).convert("RGB")
    scale = 1080 / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return encode(img, quality=80)


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A 3000 x 2000 camera JPEG with EXIF (orientation, camera) and an ICC profile."""
    exif = Image.Exif()
    exif[0x010F] = "Test Camera Co"
    exif[0x0112] = 1
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(1, (3000, 2000)), quality=92, exif=exif.tobytes(), icc_profile=icc)


@pytest.fixture(scope="module")
def marked_jpeg(camera_jpeg: bytes) -> tuple[bytes, bytes]:
    ident = wm.new_ident()
    return ident, wm.embed(camera_jpeg, "jpeg", ident)


def test_a_marked_jpeg_reads_back_its_identifier_and_keeps_its_metadata(
    camera_jpeg: bytes, marked_jpeg: tuple[bytes, bytes]
) -> None:
    ident, marked = marked_jpeg
    assert len(ident) == wm.IDENT_BYTES
    assert wm.detect(marked) == ident
    before, after = decoded(camera_jpeg), decoded(marked)
    assert after.format == "JPEG" and after.size == before.size
    assert after.getexif()[0x010F] == "Test Camera Co"
    assert after.info.get("icc_profile") == before.info.get("icc_profile")


def test_a_marked_jpeg_survives_the_social_network_chain(marked_jpeg: tuple[bytes, bytes]) -> None:
    ident, marked = marked_jpeg
    shared = social(marked)
    assert max(decoded(shared).size) == 1080 and "exif" not in decoded(shared).info
    assert wm.detect(shared) == ident


@pytest.mark.parametrize("quality", [90, 75, 50])
def test_a_marked_jpeg_survives_re_encoding_and_halving(marked_jpeg: tuple[bytes, bytes], quality: int) -> None:
    ident, marked = marked_jpeg
    img = decoded(marked)
    assert wm.detect(encode(img, quality=quality)) == ident
    half = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
    assert wm.detect(encode(half, quality=quality)) == ident


def test_quarter_turns_and_exif_orientation_do_not_hide_the_mark(marked_jpeg: tuple[bytes, bytes]) -> None:
    ident, marked = marked_jpeg
    img = decoded(marked)
    assert wm.detect(encode(img.transpose(Image.Transpose.ROTATE_90), "PNG")) == ident
    assert wm.detect(encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG")) == ident
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned: the reader applies it, then tries the turns
    assert wm.detect(encode(img, quality=90, exif=exif.tobytes())) == ident


def test_where_the_mark_is_lost_a_crop_or_a_small_rotation_reads_as_none(marked_jpeg: tuple[bytes, bytes]) -> None:
    """Documented limits (README, Watermark): no identifier, and never a wrong one."""
    _ident, marked = marked_jpeg
    img = decoded(marked)
    w, h = img.size
    assert wm.detect(encode(img.crop((w // 20, h // 20, w - w // 20, h - h // 20)), quality=95)) is None
    assert wm.detect(encode(img.rotate(2, resample=Image.Resampling.BICUBIC), quality=95)) is None


def test_the_mark_costs_little_to_the_eye(camera_jpeg: bytes, marked_jpeg: tuple[bytes, bytes]) -> None:
    ident, marked = marked_jpeg
    original = decoded(camera_jpeg).convert("RGB")
    assert psnr(original, wm.mark(original, ident)) >= 42.0  # the mark alone (lossless)
    assert psnr(original, decoded(marked).convert("RGB")) >= 38.0  # and encoded again at quality 95


def test_pictures_never_marked_read_as_none() -> None:
    rng = np.random.default_rng(7)
    pictures = [photo(100 + i, (int(rng.integers(300, 900)), int(rng.integers(300, 900)))) for i in range(24)]
    pictures += [Image.new("RGB", (640, 480), colour) for colour in ("white", "black", (128, 128, 128))]
    pictures.append(Image.fromarray(rng.integers(0, 256, (500, 700, 3), dtype=np.uint8)))
    for picture in pictures:
        ident, confidence = wm.read(encode(picture, quality=85))
        assert ident is None and confidence < 2.0


def test_a_second_mark_replaces_the_first(marked_jpeg: tuple[bytes, bytes]) -> None:
    first, marked = marked_jpeg
    second = wm.new_ident()
    assert second != first
    assert wm.detect(wm.embed(marked, "jpeg", second)) == second


def test_png_is_marked_losslessly_keeping_alpha_and_text(tmp_path: Path) -> None:
    rgba = photo(3, (800, 600)).convert("RGBA")
    alpha = np.full((600, 800), 255, dtype=np.uint8)
    alpha[:100] = 0
    rgba.putalpha(Image.fromarray(alpha))
    text = PngImagePlugin.PngInfo()
    text.add_text("Title", "harbour")
    ident = wm.new_ident()
    marked = wm.embed(encode(rgba, "PNG", pnginfo=text), "png", ident)
    out = decoded(marked)
    assert out.format == "PNG" and out.mode == "RGBA" and out.text == {"Title": "harbour"}
    assert np.array_equal(np.asarray(out)[:, :, 3], alpha)
    (tmp_path / "m.png").write_bytes(marked)
    assert wm.detect(tmp_path / "m.png") == ident
    grey = wm.embed(encode(photo(4, (600, 600)).convert("L"), "PNG"), "png", ident)
    assert decoded(grey).mode == "L" and wm.detect(grey) == ident


def test_binding_records_the_identifier() -> None:
    ident = wm.new_ident()
    assert wm.binding(ident) == SoftBinding(WATERMARK_ALG, ident)
    with pytest.raises(ValueError):
        wm.binding(b"short")


def test_what_cannot_be_marked_is_a_typed_error_in_one_line() -> None:
    ident = wm.new_ident()
    with pytest.raises(wm.TooSmallError) as small:
        wm.embed(encode(photo(5, (400, 200))), "jpeg", ident)
    assert "400 x 200" in small.value.one_line() and "\n" not in small.value.one_line()
    with pytest.raises(wm.WatermarkFormatError):
        wm.embed(encode(photo(5, (400, 400)), "WEBP"), "webp", ident)
    with pytest.raises(wm.WatermarkFormatError):
        wm.embed(encode(photo(5, (400, 400)), "PNG"), "jpeg", ident)  # bytes that are not what they claim
    with pytest.raises(wm.WatermarkFormatError):
        wm.embed(encode(photo(5, (400, 400)).convert("CMYK")), "jpeg", ident)
    truncated = encode(photo(5, (400, 400)))[:2000]
    for bad in (b"not an image", truncated):
        with pytest.raises(wm.WatermarkError) as err:
            wm.embed(bad, "jpeg", ident)
        assert isinstance(err.value, RightsmarkError) and isinstance(err.value, ValueError)
        assert "\n" not in err.value.one_line()


def test_detection_of_undecodable_or_tiny_input() -> None:
    with pytest.raises(wm.WatermarkError):
        wm.detect(b"\xff\xd8\xff\xe0 garbage")
    assert wm.detect(encode(photo(6, (200, 150)))) is None
