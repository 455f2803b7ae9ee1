"""Round trips, tampering, trust, algorithms, EKUs, thumbnails, chain of custody, an independent verifier.

Everything here is real: keys made by rightsmark's own code, the bundled sample images, the C2PA
engine, and encypher-c2pa's separate Rust verifier. Nothing is mocked; every test runs offline.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier
from PIL import Image, ImageDraw

from rightsmark.engine import adapter as engine
from rightsmark.errors import InputError
from rightsmark.keys.checks import EKU_C2PA_CLAIM_SIGNING, EKU_DOCUMENT_SIGNING, EKU_MS_C2PA_SIGNING
from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.models import Algorithm, Decision, Integrity, Trust, VerifyRecord
from rightsmark.sign.signer import Signer
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.inspection import inspect_file
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import Verifier

from .conftest import EXAMPLE_IMAGES, open_rights

#: Format name (as rightsmark reports it) -> bundled sample image.
SAMPLES = {
    "jpeg": "harbour.jpg",
    "png": "market.png",
    "webp": "street.webp",
    "tiff": "studio.tiff",
    "gif": "sketch.gif",
    "avif": "dunes.avif",
    "heic": "garden.heic",
}
FORMATS = list(SAMPLES)

DATA_HASH_MISMATCH = "assertion.dataHash.mismatch"
HASHED_URI_MISMATCH = "assertion.hashedURI.mismatch"

#: A manifest without a thumbnail adds about 14.3 KB to any of the samples; an (upscaled) thumbnail
#: adds another ~40 KB. Anything above this bound means something big was embedded.
MAX_MANIFEST_GROWTH = 20_000

#: JUMBF content-type UUID of a JSON box (ISO 19566-5), as it appears after "jumd".
JUMBF_JSON_TYPE = bytes.fromhex("6A736F6E00110010800000AA00389B71")


# ---------------------------------------------------------------------------------------------
# Helpers: bytes of real files


@dataclass(frozen=True)
class SignedSample:
    fmt: str
    source: Path
    original: bytes
    output: Path

    @property
    def data(self) -> bytes:
        return self.output.read_bytes()


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset, length including the 0xFF marker bytes) of each JPEG segment up to SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out = []
    i = 2
    while i < len(data):
        assert data[i] == 0xFF, f"no marker at {i}"
        marker = data[i + 1]
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        out.append((marker, i, length + 2))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        i += length + 2
    return out


def jpeg_app11(data: bytes) -> tuple[bytes, int]:
    """All APP11 (0xFFEB, JUMBF/C2PA) segments concatenated, and the offset where the last one ends."""
    segs = [(start, length) for marker, start, length in jpeg_segments(data) if marker == 0xEB]
    assert segs, "no APP11 segment: the file carries no C2PA manifest"
    return b"".join(data[s : s + n] for s, n in segs), max(s + n for s, n in segs)


def jpeg_scan_range(data: bytes) -> tuple[int, int]:
    """Offsets of the entropy-coded data: after the SOS header, up to the EOI marker."""
    marker, start, length = jpeg_segments(data)[-1]
    assert marker == 0xDA
    eoi = data.rfind(b"\xff\xd9")
    assert eoi == len(data) - 2, "EOI is not the last thing in the file"
    return start + length, eoi


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset of the chunk data, data length) of each PNG chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    out = []
    i = 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        out.append((data[i + 4 : i + 8], i + 8, length))
        i += 12 + length
    return out


def flip_byte(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)


def small_jpeg(color: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    im = Image.new("RGB", size, color)
    ImageDraw.Draw(im).ellipse((40, 30, 200, 190), fill=(255 - color[0], 128, color[2] // 2))
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def resave(fmt: str, data: bytes) -> bytes:
    """What a user's image tool does: decode and encode again (Pillow, or libheif for HEIC)."""
    buf = io.BytesIO()
    if fmt == "heic":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.open_heif(io.BytesIO(data)).save(buf)
        return buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        pil_format = im.format
        # A plain TIFF re-save copies every IFD tag, the C2PA tag included (see the test below);
        # copy() keeps only the pixels, which is what "stripped" means here.
        (im.copy() if fmt == "tiff" else im).save(buf, pil_format)
    return buf.getvalue()


def active_manifest(store: dict[str, Any] | None) -> dict[str, Any]:
    assert store, "the engine returned no manifest store"
    manifest: dict[str, Any] = store["manifests"][store["active_manifest"]]
    return manifest


def assert_tamper_caught(record: VerifyRecord, expected_codes: set[str] | None) -> None:
    """A tampered file: invalid, dropped for exactly that reason, and none of its claims believed."""
    assert record.integrity is Integrity.INVALID, record
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["integrity-invalid"], record.reasons
    assert record.trust is Trust.UNTRUSTED
    # Content of a manifest that fails validation is never reported as what the file says.
    assert record.author == ()
    assert record.license is None
    if expected_codes is not None:
        assert set(record.engine_codes) == expected_codes, record.engine_codes


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def verifier(keys: KeyFiles) -> Iterator[Verifier]:
    with Verifier([keys.ca]) as v:
        yield v


@pytest.fixture(scope="module")
def signed_samples(tmp_path_factory: pytest.TempPathFactory, material: SigningMaterial) -> dict[str, SignedSample]:
    """Every sample signed once (copies as input, never the repo files). Without the XMP mirror: these
    tests place their tampering by the layout of the manifest alone (tests/test_xmp.py signs with XMP)."""
    src_dir = tmp_path_factory.mktemp("originals")
    out_dir = tmp_path_factory.mktemp("signed")
    out = {}
    signer = Signer(material, xmp=False)
    for fmt, name in SAMPLES.items():
        source = src_dir / name
        shutil.copyfile(EXAMPLE_IMAGES / name, source)
        original = source.read_bytes()
        result = signer.sign_file(source, out_dir / name, open_rights())
        assert result.format == fmt
        out[fmt] = SignedSample(fmt, source, original, Path(result.output))
    return out


@pytest.fixture(scope="module")
def encypher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """encypher_c2pa with its saved preferences kept in a temporary directory, telemetry off."""
    module = pytest.importorskip("encypher_c2pa")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENCYPHER_C2PA_CONFIG_DIR", str(tmp_path_factory.mktemp("encypher-config")))
        mp.setenv("ENCYPHER_C2PA_TELEMETRY", "off")
        mp.delenv("ENCYPHER_C2PA_ONLINE", raising=False)
        yield module


def encypher_report(encypher: ModuleType, path: Path, ca: Path) -> dict[str, Any]:
    report: dict[str, Any] = encypher.verify(
        path, trust_pem=ca.read_text(), no_default_trust=True, telemetry=False, online=False
    )
    assert report["network"]["requests"] == [], "the independent verifier went online"
    return report


# ---------------------------------------------------------------------------------------------
# 1. Round trip in every format


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(fmt: str, signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    sample = signed_samples[fmt]
    rights = open_rights()

    # Signing never touches the input; the output is a new, complete file (no temp file left beside it).
    assert sample.source.read_bytes() == sample.original
    assert sample.original == (EXAMPLE_IMAGES / SAMPLES[fmt]).read_bytes()
    assert [p.name for p in sample.output.parent.iterdir() if p.name.startswith(".")] == []
    assert sample.data != sample.original

    record = verifier.verify_file(sample.output)
    assert record.integrity is Integrity.VALID, record
    assert record.trust is Trust.TRUSTED
    assert record.decision is Decision.KEEP, record.reasons
    assert record.reasons == ()
    assert record.engine_codes == ()
    assert record.format == fmt
    assert record.author == rights.authors == ("Jane Doe",)
    assert record.license == rights.license
    assert record.license is not None and record.license.id == "CC-BY-4.0"
    assert record.training == rights.training
    assert record.signer is not None
    assert record.signer.common_name == "rightsmark development signer"
    assert record.signer.algorithm == "ES256"


# ---------------------------------------------------------------------------------------------
# 2. Tampering is caught


def test_flipped_byte_in_jpeg_scan_data_is_caught(signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    data = signed_samples["jpeg"].data
    _, manifest_end = jpeg_app11(data)
    scan_start, eoi = jpeg_scan_range(data)
    offset = eoi - 64  # entropy-coded image data near the end, well after the manifest, before EOI
    assert manifest_end < scan_start < offset < eoi
    tampered = flip_byte(data, offset)
    assert len(tampered) == len(data) and tampered != data
    assert_tamper_caught(verifier.verify_bytes(tampered, "photo.jpg"), {DATA_HASH_MISMATCH})


def test_flipped_byte_in_png_idat_is_caught(signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    data = signed_samples["png"].data
    chunks = png_chunks(data)
    manifest = [(start, length) for kind, start, length in chunks if kind == b"caBX"]
    idat = [(start, length) for kind, start, length in chunks if kind == b"IDAT"]
    assert len(manifest) == 1 and idat
    start, length = idat[-1]
    offset = start + length // 2
    assert offset > manifest[0][0] + manifest[0][1]
    assert_tamper_caught(verifier.verify_bytes(flip_byte(data, offset), "image.png"), {DATA_HASH_MISMATCH})


def test_truncated_jpeg_is_caught(signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    data = signed_samples["jpeg"].data
    _, manifest_end = jpeg_app11(data)
    cut = int(len(data) * 0.7)
    assert cut > manifest_end  # the manifest survives, only image data is lost
    assert_tamper_caught(verifier.verify_bytes(data[:cut], "photo.jpg"), {DATA_HASH_MISMATCH})


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file_is_never_kept(fmt: str, signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    data = signed_samples[fmt].data
    record = verifier.verify_bytes(data[: int(len(data) * 0.7)], SAMPLES[fmt])
    # Depending on where the cut falls the file fails validation or cannot be parsed at all
    # (a TIFF whose IFD is cut off); it is never "valid" and never "unsigned".
    assert record.integrity in (Integrity.INVALID, Integrity.ERROR), record
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == [f"integrity-{record.integrity.value}"]
    assert record.author == ()


@pytest.mark.parametrize("fmt", FORMATS)
def test_edited_assertion_is_caught(fmt: str, signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    data = signed_samples[fmt].data
    needle = b"Jane Doe"  # the author, in dc:creator and plus:LicensorName of cawg.metadata
    assert data.count(needle) == 2
    at = data.find(needle)
    if fmt == "jpeg":
        app11, _ = jpeg_app11(data)
        assert app11.count(needle) == 2  # both inside the embedded manifest
    tampered = data[:at] + b"Jane Doa" + data[at + len(needle) :]
    assert len(tampered) == len(data)
    record = verifier.verify_bytes(tampered, SAMPLES[fmt])
    assert_tamper_caught(record, {HASHED_URI_MISMATCH})
    assert "Jane Doa" not in record.author


def test_manifest_transplanted_onto_another_jpeg_is_caught(
    signed_samples: dict[str, SignedSample], verifier: Verifier
) -> None:
    app11, _ = jpeg_app11(signed_samples["jpeg"].data)
    other = small_jpeg((10, 200, 30))
    assert b"\xff\xeb" not in other[:64]
    forged = other[:2] + app11 + other[2:]
    with Image.open(io.BytesIO(forged)) as im:  # still a perfectly good JPEG to any viewer
        im.load()
    assert verifier.verify_bytes(other, "other.jpg").integrity is Integrity.ABSENT
    assert_tamper_caught(verifier.verify_bytes(forged, "other.jpg"), {DATA_HASH_MISMATCH})


# ---------------------------------------------------------------------------------------------
# 3. A stripped manifest


@pytest.mark.parametrize("fmt", FORMATS)
def test_resaved_image_has_no_manifest(fmt: str, signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    stripped = resave(fmt, signed_samples[fmt].data)
    record = verifier.verify_bytes(stripped, SAMPLES[fmt])
    assert record.integrity is Integrity.ABSENT, record
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["integrity-absent"]
    assert record.engine_codes == ()
    assert record.author == ()


def test_plain_pillow_tiff_resave_keeps_a_broken_manifest_and_is_dropped(
    signed_samples: dict[str, SignedSample], verifier: Verifier
) -> None:
    """Pillow copies the C2PA TIFF tag into the re-encoded file: not stripped, but no longer valid."""
    buf = io.BytesIO()
    with Image.open(io.BytesIO(signed_samples["tiff"].data)) as im:
        im.save(buf, "TIFF")
    record = verifier.verify_bytes(buf.getvalue(), "studio.tiff")
    assert record.integrity is Integrity.INVALID
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["integrity-invalid"]


# ---------------------------------------------------------------------------------------------
# 4. Trust


def test_unrelated_root_verifies_intact_but_untrusted(
    signed_samples: dict[str, SignedSample], other_keys: KeyFiles
) -> None:
    with Verifier([other_keys.ca]) as v:
        record = v.verify_file(signed_samples["jpeg"].output)
    assert record.integrity is Integrity.VALID
    assert record.trust is Trust.UNTRUSTED
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["untrusted"]
    assert "signingCredential.untrusted" in record.engine_codes


def test_no_trust_anchors_cannot_trust_anyone(signed_samples: dict[str, SignedSample]) -> None:
    with Verifier(policy=Policy(trust_lists=())) as v:
        record = v.verify_file(signed_samples["jpeg"].output)
    assert record.integrity is Integrity.VALID
    assert record.trust is Trust.UNTRUSTED
    assert record.decision is Decision.DROP
    assert [r.code for r in record.reasons] == ["no-trust-anchors"]


def test_right_root_among_several_anchors_is_trusted(
    signed_samples: dict[str, SignedSample], keys: KeyFiles, other_keys: KeyFiles
) -> None:
    with Verifier([other_keys.ca, keys.ca]) as v:
        record = v.verify_file(signed_samples["jpeg"].output)
    assert record.trust is Trust.TRUSTED
    assert record.decision is Decision.KEEP, record.reasons


# ---------------------------------------------------------------------------------------------
# 5. Every algorithm


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.value)
def test_every_algorithm_signs_and_verifies_trusted(algorithm: Algorithm, tmp_path: Path) -> None:
    files = init_keys(tmp_path / "keys", algorithm=algorithm)
    material = load_signing_material(files.key, files.chain)
    assert material.algorithm is algorithm
    out = tmp_path / "signed.jpg"
    with Signer(material) as signer:
        signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out, open_rights())
    with Verifier([files.ca]) as v:
        record = v.verify_file(out)
    assert record.integrity is Integrity.VALID, record
    assert record.trust is Trust.TRUSTED
    assert record.decision is Decision.KEEP, record.reasons
    assert record.signer is not None
    assert record.signer.algorithm == algorithm.name


# ---------------------------------------------------------------------------------------------
# 6. Signing certificates with the other C2PA EKUs (needs engine setting trust.trust_config)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EKU test CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca_and_leaf(directory: Path, eku: ObjectIdentifier) -> tuple[Path, Path, Path]:
    """A root CA and a leaf issued by it carrying only ``eku`` (as keys._issue makes a leaf, other EKU); PEM paths."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("EKU test root"))
        .issuer_name(_name("EKU test root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("EKU test signer"))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca, chain, key = directory / "ca.pem", directory / "signer.pem", directory / "signer.key"
    ca.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca, chain, key


@pytest.mark.parametrize(
    "eku",
    [EKU_DOCUMENT_SIGNING, EKU_C2PA_CLAIM_SIGNING, EKU_MS_C2PA_SIGNING],
    ids=["documentSigning", "c2paClaimSigning", "msC2paSigning"],
)
def test_certificate_with_other_c2pa_eku_verifies_trusted(eku: ObjectIdentifier, tmp_path: Path) -> None:
    ca, chain, key = make_ca_and_leaf(tmp_path / "pki", eku)
    material: SigningMaterial = load_signing_material(key, chain)  # rightsmark's own checks accept it
    out = tmp_path / "signed.jpg"
    with Signer(material) as signer:
        signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", out, open_rights())
    with Verifier([ca]) as v:
        record = v.verify_file(out)
    assert record.integrity is Integrity.VALID, record
    assert record.trust is Trust.TRUSTED
    assert record.decision is Decision.KEEP, record.reasons

    # Control: the very same reading settings minus trust.trust_config reject this certificate.
    # So it is that setting (not an unknown key the engine silently ignores) that made it trusted.
    c2pa = engine.c2pa()
    settings = engine.reading_settings(TrustSources(claim_pem=ca.read_text()))
    del settings["trust"]["trust_config"]
    with c2pa.Reader("image/jpeg", io.BytesIO(out.read_bytes()), None, c2pa.Context.from_dict(settings)) as reader:
        store = json.loads(reader.json())
    failures = {f["code"] for f in store["validation_results"]["activeManifest"].get("failure", [])}
    assert store["validation_state"] != "Trusted"
    assert "signingCredential.invalid" in failures


# ---------------------------------------------------------------------------------------------
# 7. No thumbnail unless asked for


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_thumbnail_by_default(fmt: str, signed_samples: dict[str, SignedSample], verifier: Verifier) -> None:
    sample = signed_samples[fmt]
    data = sample.data
    _, reading = verifier.examine(data, SAMPLES[fmt])
    store = reading.store
    assert store is not None
    for manifest in store["manifests"].values():
        assert "thumbnail" not in manifest
        assert not [a for a in manifest.get("assertions", []) if str(a.get("label", "")).startswith("c2pa.thumbnail")]
    assert b"c2pa.thumbnail" not in data
    assert 0 < len(data) - len(sample.original) < MAX_MANIFEST_GROWTH


def test_thumbnail_when_asked_is_detected(material: SigningMaterial, verifier: Verifier, tmp_path: Path) -> None:
    """Control for the test above: the same inspection does see a thumbnail when there is one."""
    source = EXAMPLE_IMAGES / "harbour.jpg"
    out = tmp_path / "thumb.jpg"
    with Signer(material, thumbnail=True) as signer:
        signer.sign_file(source, out, open_rights())
    data = out.read_bytes()
    record, reading = verifier.examine(data, str(out))
    assert record.decision is Decision.KEEP
    assert "thumbnail" in active_manifest(reading.store)
    assert b"c2pa.thumbnail" in data
    assert len(data) - source.stat().st_size > MAX_MANIFEST_GROWTH


# ---------------------------------------------------------------------------------------------
# 8. Chain of custody


def test_signed_edit_records_its_parent(
    signed_samples: dict[str, SignedSample], signer: Signer, verifier: Verifier, keys: KeyFiles, tmp_path: Path
) -> None:
    parent = tmp_path / "parent-signed.jpg"
    parent.write_bytes(signed_samples["jpeg"].data)
    parent_before = parent.read_bytes()
    parent_label = active_manifest(verifier.examine(parent_before, str(parent))[1].store)["label"]

    # The edit: different pixels, re-encoded by Pillow (which drops the parent's manifest).
    edited = tmp_path / "edited.jpg"
    with Image.open(parent) as im:
        changed = im.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ImageDraw.Draw(changed).rectangle((10, 10, 90, 60), fill=(255, 0, 0))
    changed.save(edited, "JPEG", quality=90)
    assert verifier.verify_file(edited).integrity is Integrity.ABSENT

    child = tmp_path / "out" / "child.jpg"
    signer.sign_file(edited, child, open_rights(), parent=parent)
    assert parent.read_bytes() == parent_before  # the parent is only read

    record, reading = verifier.examine(child.read_bytes(), str(child))
    assert record.integrity is Integrity.VALID, record
    assert record.trust is Trust.TRUSTED
    assert record.decision is Decision.KEEP, record.reasons
    assert record.ingredient_codes == ()
    assert record.author == ("Jane Doe",)

    store = reading.store
    assert store is not None
    active = active_manifest(store)
    assert store["active_manifest"] != parent_label
    parents = [i for i in active.get("ingredients", []) if i.get("relationship") == "parentOf"]
    assert len(parents) == 1
    assert parents[0]["title"] == parent.name
    assert parents[0]["active_manifest"] == parent_label
    assert parent_label in store["manifests"]  # the parent's own manifest travels with the child
    assert store["manifests"][parent_label]["title"] == "harbour.jpg"
    actions_assertion = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))
    actions = [a["action"] for a in actions_assertion["data"]["actions"]]
    assert actions[0] == "c2pa.opened"
    assert "c2pa.edited" in actions

    report = inspect_file(child, [keys.ca])
    assert report["integrity"] == "valid"
    assert report["decision"] == "keep"
    assert len(report["manifests"]) == 2
    shown = report["manifests"][0]
    assert shown["active"] is True
    assert [(i["title"], i["relationship"], i["manifest"]) for i in shown["ingredients"]] == [
        (parent.name, "parentOf", parent_label)
    ]
    assert shown["ingredients"][0]["validation_failures"] == []  # an intact parent shows no failure
    assert report["manifests"][1]["label"] == parent_label
    assert report["manifests"][1]["active"] is False


def test_edit_of_a_tampered_or_unsigned_parent_is_refused(
    signed_samples: dict[str, SignedSample], signer: Signer, tmp_path: Path
) -> None:
    """A chain cannot continue from a broken file: signing refuses, and writes nothing."""
    data = signed_samples["jpeg"].data
    _, eoi = jpeg_scan_range(data)
    tampered = tmp_path / "tampered-parent.jpg"
    tampered.write_bytes(flip_byte(data, eoi - 64))
    unsigned = tmp_path / "unsigned-parent.jpg"
    unsigned.write_bytes(small_jpeg((9, 9, 9)))
    edited = tmp_path / "edited.jpg"
    edited.write_bytes(small_jpeg((1, 2, 3)))
    for parent, words in ((tampered, "does not validate"), (unsigned, "no C2PA manifest")):
        child = tmp_path / "out" / f"child-of-{parent.stem}.jpg"
        with pytest.raises(InputError) as err:
            signer.sign_file(edited, child, open_rights(), parent=parent)
        assert words in err.value.one_line()
        assert str(parent) in err.value.one_line()
        assert not child.exists()
    leftovers = list((tmp_path / "out").glob(".*")) if (tmp_path / "out").exists() else []
    assert leftovers == []


# ---------------------------------------------------------------------------------------------
# 9. An independent implementation (encypher-c2pa, its own Rust verifier)


@pytest.mark.parametrize("fmt", FORMATS)
def test_independent_verifier_accepts_our_files(
    fmt: str, signed_samples: dict[str, SignedSample], keys: KeyFiles, encypher: ModuleType
) -> None:
    report = encypher_report(encypher, signed_samples[fmt].output, keys.ca)
    assert report["present"] is True
    assert report["integrity"] == "valid"
    assert report["signature"] == "valid"
    assert report["hard_binding"] == "match"
    assert report["validation_state"] == "Trusted"
    assert report["trust"]["status"] == "valid_for_supplied_material"
    verdict = report["manifest_report"]["provenance_verdict"]
    assert verdict["integrity"] == "valid"
    assert verdict["trust"] == "trusted"
    manifests = report["manifest_report"]["manifests"]
    active = manifests[report["manifest_report"]["active_manifest"]]
    assert active["title"] == SAMPLES[fmt]
    assert active["signature_info"]["common_name"] == "rightsmark development signer"


def test_metadata_assertion_is_stored_as_json_as_cawg_requires(
    signed_samples: dict[str, SignedSample], keys: KeyFiles, encypher: ModuleType
) -> None:
    sample = signed_samples["jpeg"]
    report = encypher_report(encypher, sample.output, keys.ca)
    failures = report["manifest_report"]["validation_results"]["activeManifest"]["failure"]
    assert [f["code"] for f in failures] == []
    # The same fact read straight from the bytes: the description box of cawg.metadata declares JSON.
    assert re.search(rb"jumd" + re.escape(JUMBF_JSON_TYPE) + rb".cawg\.metadata\x00", sample.data, re.DOTALL)


def _tampered(kind: str, signed_samples: dict[str, SignedSample]) -> bytes:
    jpeg = signed_samples["jpeg"].data
    if kind == "jpeg-flipped-byte":
        return flip_byte(jpeg, jpeg_scan_range(jpeg)[1] - 64)
    if kind == "jpeg-truncated":
        return jpeg[: int(len(jpeg) * 0.7)]
    if kind == "jpeg-edited-assertion":
        return jpeg.replace(b"Jane Doe", b"Jane Doa", 1)
    if kind == "jpeg-transplanted":
        other = small_jpeg((10, 200, 30))
        return other[:2] + jpeg_app11(jpeg)[0] + other[2:]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["jpeg-flipped-byte", "jpeg-truncated", "jpeg-edited-assertion", "jpeg-transplanted"])
def test_independent_verifier_rejects_tampered_files(
    kind: str, signed_samples: dict[str, SignedSample], keys: KeyFiles, encypher: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "tampered.jpg"
    path.write_bytes(_tampered(kind, signed_samples))
    report = encypher_report(encypher, path, keys.ca)
    assert report["present"] is True
    assert report["integrity"] == "invalid"
    assert report["validation_state"] == "Invalid"
    assert report["manifest_report"]["provenance_verdict"]["integrity"] == "invalid"
    assert report["manifest_report"]["provenance_verdict"]["trust"] != "trusted"


def test_independent_verifier_does_not_trust_an_unrelated_root(
    signed_samples: dict[str, SignedSample], other_keys: KeyFiles, encypher: ModuleType
) -> None:
    """Control: encypher's "trusted" above depends on the anchor we gave it."""
    report = encypher_report(encypher, signed_samples["jpeg"].output, other_keys.ca)
    assert report["integrity"] == "valid"
    assert report["validation_state"] == "Valid"
    assert report["manifest_report"]["provenance_verdict"]["trust"] == "untrusted"
