"""Format recognition from bytes, and the cheap structural walk that refuses truncated files before signing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rightsmark.errors import InputError
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
