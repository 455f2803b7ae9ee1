"""Format recognition from bytes, the media walkers, and the cheap structural walk that refuses truncated files
before signing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rightsmark.engine import jumbf
from rightsmark.errors import InputError
from rightsmark.media import StructureError, bmff, jpeg, png, riff, tiff
from rightsmark.media.formats import sniff, structural_problem
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, open_rights

SAMPLES = sorted(EXAMPLE_IMAGES.iterdir())
WALKED = {"jpeg", "png", "webp", "avif", "heic"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_are_recognised_from_their_bytes_whatever_their_name(path: Path) -> None:
    data = path.read_bytes()
    fmt = sniff(data[:64], path)
    assert fmt is not None
    assert sniff(data[:64], "renamed.bin") == fmt or fmt.name == "dng"
    assert structural_problem(data, fmt) is None


@pytest.mark.parametrize(
    "path", [p for p in SAMPLES if sniff(p.read_bytes()[:64], p).name in WALKED], ids=lambda p: p.name
)  # type: ignore[union-attr]
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, -1])
def test_truncation_anywhere_is_found_without_decoding(path: Path, keep: float) -> None:
    data = path.read_bytes()
    fmt = sniff(data[:64], path)
    assert fmt is not None
    cut = data[: len(data) - 1] if keep == -1 else data[: int(len(data) * keep)]
    assert structural_problem(cut, fmt) is not None


@pytest.mark.parametrize("name", ["dunes.avif", "garden.heic", "street.webp", "market.png"])
def test_sign_refuses_a_truncated_file_and_writes_nothing(tmp_path: Path, signer: Signer, name: str) -> None:
    src = tmp_path / name
    src.write_bytes((EXAMPLE_IMAGES / name).read_bytes()[:-40])
    out = tmp_path / "out" / name
    with pytest.raises(InputError) as err:
        signer.sign_file(src, out, open_rights())
    assert "truncated" in err.value.one_line() and name in err.value.one_line()
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


Walk = Callable[[bytes], list[tuple[object, int, int]]]
WALKS: dict[str, Walk] = {
    "jpeg": lambda data: list(jpeg.segments(data)),
    "png": lambda data: list(png.chunks(data)),
    "webp": lambda data: list(riff.chunks(data)),
    "avif": lambda data: list(bmff.boxes(data)),
    "heic": lambda data: list(bmff.boxes(data)),
}


@pytest.mark.parametrize("path", [p for p in SAMPLES if p.suffix in (".jpg", ".png", ".webp", ".avif", ".heic")])
def test_a_walker_yields_only_whole_pieces_and_fails_closed_wherever_the_file_is_cut(path: Path) -> None:
    data = path.read_bytes()
    fmt = sniff(data[:64], path)
    assert fmt is not None
    walk = WALKS[fmt.name]
    whole = walk(data)
    assert whole and all(0 <= start < end <= len(data) for _, start, end in whole)
    for cut in range(len(data)):
        try:
            pieces = walk(data[:cut])
        except StructureError as exc:
            assert "\n" not in str(exc)
            continue
        # a cut the walk cannot see (between two boxes, or after a JPEG's scan header): the same pieces
        assert pieces == whole[: len(pieces)] and all(end <= cut for _, _, end in pieces)


def test_tiff_directory_entries_size_their_values_with_the_type_table() -> None:
    data = (EXAMPLE_IMAGES / "studio.tiff").read_bytes()
    ifd = tiff.first_ifd(data)
    width = next(e for e in ifd.entries if e.tag == 256)  # ImageWidth, SHORT or LONG, one value
    assert width.size == tiff.TYPE_SIZES[width.type] and width.size <= 4
    outside = [e for e in ifd.entries if e.size > 4]
    assert outside and all(e.offset + e.size <= len(data) for e in outside)
    with pytest.raises(StructureError, match="first directory"):
        tiff.first_ifd(data[: ifd.offset + 10])
    fmt = sniff(data[:64], "studio.tiff")
    assert fmt is not None
    cut = data[: max(e.offset for e in outside) + 1]  # the directory whole, a value it points at cut off
    assert structural_problem(cut, fmt) == "TIFF is truncated (a directory entry points past the end)"


def test_jumbf_lookups_stop_quietly_where_the_box_walk_fails_closed() -> None:
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    store = box(b"free", b"x" * 4) + box(b"jumb", b"") + (400).to_bytes(4, "big") + b"jumb"  # the last is cut off
    with pytest.raises(StructureError, match="runs past the end"):
        list(bmff.boxes(store))
    assert [kind for kind, _, _ in jumbf._boxes(store, 0, len(store))] == [b"free", b"jumb"]
    assert jumbf.signature_box(store, "urn:c2pa:x") is None
