"""How the watermark was chosen: each candidate marked into generated photographs, then read back after what
platforms do to pictures. Run in a separate virtual environment holding the candidates (they are not
rightsmark dependencies):

    python3 -m venv /tmp/wmvenv && /tmp/wmvenv/bin/pip install invisible-watermark blind-watermark onnxruntime
    /tmp/wmvenv/bin/python benchmarks/watermark_candidates.py own --photos 10 --mp 2
    /tmp/wmvenv/bin/python benchmarks/watermark_candidates.py dwtDctSvd --photos 10 --mp 2 [--wrap 512]
    (candidates: own, dwtDct, dwtDctSvd, rivaGan (the ONNX models in invisible-watermark's wheel), blind)

A candidate marks the decoded photograph (_photos.photo, JPEG q95) and the result is encoded as JPEG q95, as
rightsmark does; each of _photos.TRANSFORMS is applied to that file and the candidate reads it. A library
candidate is used as published (reading the picture it is given: its block grid follows the picture's size),
or with --wrap N through the same fixed working resolution rightsmark's own mark uses: marked at N x N, the
change scaled up and added to the photograph, read from the picture scaled to N x N. Library candidates carry
32 bits (RivaGAN's only length); rightsmark's own 48 bits and a 32-bit check value. Reported: PSNR of the
marked pixels against the photograph's, recoveries per transformation (the exact payload), CPU seconds to
embed and to read scaled to 12 MP (process time), and how many unmarked photographs yield a payload (a
library decodes bits from any picture: it has no "no mark" answer).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _photos import TRANSFORMS, jpeg, photo  # noqa: E402

Embed = Callable[[Image.Image, bytes], Image.Image]
ReadImage = Callable[[Image.Image], bytes | None]
Read = Callable[[bytes], bytes | None]


def bgr(img: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])


def from_bgr(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(np.clip(a, 0, 255).astype(np.uint8)[:, :, ::-1]))


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def imwatermark(method: str) -> tuple[Embed, ReadImage, int]:
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    if method == "rivaGan":
        WatermarkEncoder.loadModel()

    def embed(img: Image.Image, payload: bytes) -> Image.Image:
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", payload)
        return from_bgr(enc.encode(bgr(img), method))

    def read(img: Image.Image) -> bytes | None:
        return bytes(WatermarkDecoder("bytes", 32).decode(bgr(img), method))

    return embed, read, 4


def blind() -> tuple[Embed, ReadImage, int]:
    from blind_watermark import WaterMark

    def embed(img: Image.Image, payload: bytes) -> Image.Image:
        with contextlib.redirect_stdout(io.StringIO()):
            mark = WaterMark(password_img=1, password_wm=1)
            mark.read_img(img=bgr(img))
            mark.read_wm(np.unpackbits(np.frombuffer(payload, np.uint8)).astype(bool), mode="bit")
            return from_bgr(mark.embed())

    def read(img: Image.Image) -> bytes | None:
        with contextlib.redirect_stdout(io.StringIO()):
            found = WaterMark(password_img=1, password_wm=1).extract(
                embed_img=bgr(img).astype(np.float32), wm_shape=32, mode="bit"
            )
        return np.packbits((np.asarray(found) > 0.5).astype(np.uint8)).tobytes()

    return embed, read, 4


def own() -> tuple[Embed, Read, int]:
    from rightsmark.softbinding import watermark as wm

    return (lambda img, payload: wm.mark(img, payload)), wm.detect, wm.IDENT_BYTES


def wrapped(embed0: Embed, read0: ReadImage, size: int) -> tuple[Embed, Read]:
    """A candidate used at a fixed working resolution, as rightsmark's own mark is."""

    def read(data: bytes) -> bytes | None:
        return read0(decoded(data).resize((size, size), Image.Resampling.BILINEAR))

    def embed(img: Image.Image, payload: bytes) -> Image.Image:
        work = img.resize((size, size), Image.Resampling.BILINEAR)
        change = np.asarray(embed0(work, payload), np.float32) - np.asarray(work, np.float32)
        up = [Image.fromarray(change[:, :, c], "F").resize(img.size, Image.Resampling.BILINEAR) for c in range(3)]
        marked = np.asarray(img, np.float32) + np.stack([np.asarray(u) for u in up], -1)
        return Image.fromarray(np.clip(np.rint(marked), 0, 255).astype(np.uint8))

    return embed, read


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / np.mean((x - y) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", choices=("own", "dwtDct", "dwtDctSvd", "rivaGan", "blind"))
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--mp", type=float, default=2.0, help="megapixels of each photograph")
    parser.add_argument("--wrap", type=int, help="use a library candidate at this fixed working resolution")
    args = parser.parse_args()
    if args.candidate == "own":
        embed, read, size = own()
    else:
        embed, read_image, size = blind() if args.candidate == "blind" else imwatermark(args.candidate)
        if args.wrap:
            embed, read = wrapped(embed, read_image, args.wrap)
        else:
            read = lambda data: read_image(decoded(data))  # noqa: E731
    recovered = dict.fromkeys(TRANSFORMS, 0)
    psnrs, embed_s, read_s = [], [], []
    unmarked_payloads = 0
    for i in range(args.photos):
        original = Image.open(io.BytesIO(jpeg(photo(500_000 + i, args.mp)))).convert("RGB")
        payload = np.random.default_rng(i).bytes(size)
        t = time.process_time()
        marked = embed(original, payload)
        embed_s.append((time.process_time() - t) * 12 / args.mp)
        psnrs.append(psnr(original, marked))
        data = jpeg(marked, 95)
        for name, transform in TRANSFORMS.items():
            copy = transform(data)
            pixels = Image.open(io.BytesIO(copy)).size
            t = time.process_time()
            try:
                found = read(copy)
            except Exception:  # a library that cannot read a picture (too small, say) finds nothing
                found = None
            read_s.append((time.process_time() - t) * 12e6 / (pixels[0] * pixels[1]))
            recovered[name] += found == payload
        try:
            unmarked_payloads += read(jpeg(photo(600_000 + i, args.mp))) is not None
        except Exception:
            pass
    label = args.candidate + (f" (at {args.wrap} x {args.wrap})" if args.wrap else "")
    print(
        f"{label}: {args.photos} photographs of {args.mp} MP; PSNR median {statistics.median(psnrs):.1f} dB,"
        f" min {min(psnrs):.1f}; CPU s per 12 MP: embed {statistics.median(embed_s):.2f},"
        f" read {statistics.median(read_s):.2f}; unmarked photographs yielding a payload: {unmarked_payloads}"
    )
    print("  " + " ".join(f"{name} {n}/{args.photos}" for name, n in recovered.items()))


if __name__ == "__main__":
    main()
