"""Soft bindings recorded at signing: the ISCC image code of the signed pixels, on by default, off on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import c2pa
import pytest
from PIL import Image

from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import SigningMaterial
from rightsmark.rights.manifest import Rights
from rightsmark.sign.signer import Signer
from rightsmark.softbinding import iscc
from rightsmark.softbinding.model import ISCC_ALG, SOFT_BINDING_LABEL, SoftBinding, read_bindings
from tests.conftest import one_error_line

Cli = Callable[..., Any]


def active_manifest(path: Path) -> dict[str, Any]:
    with c2pa.Reader(str(path)) as reader:
        store = json.loads(reader.json())
    manifest: dict[str, Any] = store["manifests"][store["active_manifest"]]
    return manifest


def test_a_signed_file_records_the_iscc_image_code_of_its_pixels(signed_jpeg: Path, jpeg: Path) -> None:
    bindings = read_bindings(active_manifest(signed_jpeg))
    assert [b.alg for b in bindings] == [ISCC_ALG]
    recorded = bindings[0]
    # the code is that of the signed file's pixels, which are the original's (XMP changes no pixel)
    assert recorded == iscc.fingerprint(signed_jpeg)
    assert recorded == iscc.fingerprint(jpeg)
    assert len(iscc.body(recorded.value)) == 32  # the 256-bit ISCC image code
    assert recorded.display.startswith("ISCC:EED")


def test_the_recorded_code_stays_near_after_the_file_is_reencoded(signed_jpeg: Path, tmp_path: Path) -> None:
    recorded = read_bindings(active_manifest(signed_jpeg))[0]
    with Image.open(signed_jpeg) as im:
        im.resize((im.width // 2, im.height // 2)).save(tmp_path / "small.jpg", quality=60)
    stripped = iscc.fingerprint(tmp_path / "small.jpg")
    assert iscc.distance(recorded.value, stripped.value) <= 8
    other = tmp_path / "other.png"
    Image.radial_gradient("L").resize((320, 240)).save(other)
    assert iscc.distance(recorded.value, iscc.fingerprint(other).value) > 16


def test_soft_binding_none_records_nothing(
    material: SigningMaterial, jpeg: Path, tmp_path: Path, rights: Rights
) -> None:
    with Signer(material, soft_binding=False) as signer:
        signer.sign_file(jpeg, tmp_path / "out.jpg", rights)
    labels = [a["label"] for a in active_manifest(tmp_path / "out.jpg")["assertions"]]
    assert not any(str(label).startswith(SOFT_BINDING_LABEL) for label in labels)


def test_an_image_that_cannot_be_decoded_here_is_signed_without_a_soft_binding_and_says_so(
    signer: Signer, tmp_path: Path, rights: Rights
) -> None:
    svg = tmp_path / "logo.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    result = signer.sign_file(svg, tmp_path / "out.svg", rights)
    assert any("no soft binding recorded" in note for note in result.notes)
    assert read_bindings(active_manifest(tmp_path / "out.svg")) == ()


def test_cli_soft_binding_flag_and_profile(cli: Cli, tmp_path: Path, keys: KeyFiles, jpeg: Path) -> None:
    common = ["--key", keys.key, "--cert", keys.chain, "--ai-training", "allowed", "--no-people"]
    run = cli
    done = run("sign", jpeg, "-o", "none/", "--soft-binding", "none", *common)
    assert done.returncode == 0, done.stderr
    assert read_bindings(active_manifest(tmp_path / "none" / jpeg.name)) == ()
    done = run("sign", jpeg, "-o", "iscc/", *common)
    assert done.returncode == 0, done.stderr
    assert [b.alg for b in read_bindings(active_manifest(tmp_path / "iscc" / jpeg.name))] == [ISCC_ALG]
    inspected = run("inspect", tmp_path / "iscc" / jpeg.name)
    assert "soft binding  io.iscc.v0 ISCC:" in inspected.stdout
    bad = run("sign", jpeg, "-o", "bad/", "--soft-binding", "phash", *common)
    line = one_error_line(bad, "--soft-binding", "iscc or none")
    assert "phash" in line
    profile = tmp_path / "p.toml"
    profile.write_text('[output]\nsoft_binding = "none"\n')
    done = run("sign", jpeg, "-o", "prof/", "--profile", profile, *common)
    assert done.returncode == 0, done.stderr
    assert read_bindings(active_manifest(tmp_path / "prof" / jpeg.name)) == ()


@pytest.mark.parametrize(
    "block",
    [
        {"scope": {}, "value": "not base64!"},
        {"scope": {}, "value": ""},
        {"scope": {}},
        "a string",
    ],
)
def test_unreadable_blocks_are_skipped_never_guessed(block: object) -> None:
    manifest = {
        "assertions": [
            {"label": SOFT_BINDING_LABEL, "data": {"alg": ISCC_ALG, "blocks": [block]}},
            {"label": SOFT_BINDING_LABEL + "__1", "data": {"alg": "x.y", "blocks": [{"scope": {}, "value": "AQID"}]}},
        ]
    }
    assert read_bindings(manifest) == (SoftBinding("x.y", b"\x01\x02\x03"),)


def test_the_match_rule_needs_near_prefixes_and_near_whole_codes(jpeg: Path, tmp_path: Path) -> None:
    from rightsmark.softbinding.iscc import PREFIX_RADIUS, image_code, normalised_pixels, within

    pixels = normalised_pixels(jpeg)
    full = image_code(pixels)
    short = image_code(pixels, bits=64)  # the standard 64-bit code of the same picture
    assert within(full, short, 28) == 0
    flipped = bytearray(short)
    for bit in range(3):  # three differing prefix bits: fine between whole codes, too many for a short one
        flipped[2 + bit] ^= 0x80
    assert within(full, bytes(flipped), 28) is None
    flipped_full = bytearray(full)
    for bit in range(3):  # the same three prefix bits between whole codes: within the prefix bound of 4
        flipped_full[2 + bit] ^= 0x80
    assert within(full, bytes(flipped_full), 28) == 3
    far = bytearray(full)
    for i in range(2 + 8, 2 + 8 + 4):  # the prefix intact, 32 other bits differ: the whole codes are too far
        far[i] ^= 0xFF
    assert within(full, bytes(far), 28) is None
    assert within(full, bytes(far), 32) == 32
    near_prefix = bytearray(full)
    for bit in range(PREFIX_RADIUS + 1):
        near_prefix[2 + bit] ^= 0x80
    assert within(full, bytes(near_prefix), 28) is None  # 5 of 64 prefix bits: another picture
