"""The IPTC/XMP mirror: written into real files, read back by the real ExifTool and by rightsmark,
merged into packets made by ExifTool and Adobe tools, and compared with signed manifests (drift)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from rightsmark import schemas
from rightsmark.engine import adapter as engine
from rightsmark.errors import InputError
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import SigningMaterial
from rightsmark.media.formats import AVIF, GIF, HEIC, JPEG, PNG, TIFF, WEBP, ImageFormat, sniff
from rightsmark.models import Drift, Integrity, Training, Use
from rightsmark.reports.formats import flat, verify_text
from rightsmark.reports.summary import Summary
from rightsmark.rights import xmp
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import Rights, manifest_definition, metadata_assertion
from rightsmark.sign.signer import Signer
from rightsmark.verify.facts import Facts
from rightsmark.verify.verifier import Verifier

from .conftest import EXAMPLE_IMAGES, open_rights

# ---------------------------------------------------------------------------------------------
# ExifTool


@pytest.fixture(scope="session")
def exiftool() -> str:
    found = shutil.which("exiftool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no exiftool was found: .ci/run installs Debian libimage-exiftool-perl first")
    pytest.skip("ExifTool not found (Debian: apt-get install libimage-exiftool-perl); CI installs it and runs this")


def run_exiftool(tool: str, *args: str | Path) -> str:
    proc = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def tags(tool: str, path: Path, *selection: str) -> dict[str, Any]:
    """ExifTool's reading of ``path`` (raw values, -n), group names as prefixes."""
    out = json.loads(run_exiftool(tool, "-j", "-n", "-G1", "-struct", *selection, path))
    assert len(out) == 1
    return {k: v for k, v in out[0].items() if k != "SourceFile"}


def warnings(tool: str, path: Path) -> set[str]:
    """ExifTool -validate's warnings for ``path`` (one per line, duplicates kept apart by -a)."""
    text = run_exiftool(tool, "-validate", "-warning", "-a", path)
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Warning")}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------
# Fixture images made with Pillow: noisy pixels, EXIF (Make, Model, DateTimeOriginal), an ICC profile

MAKE, MODEL, TAKEN = "Rightsmark Test Camera", "RX-100 Mk VII", "2026:01:02 03:04:05"
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def picture(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, size, random.Random(7).randbytes(size[0] * size[1] * bands))


def exif_bytes(*, sub_ifd: bool = True) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x0110] = MODEL
    if sub_ifd:
        exif.get_ifd(0x8769)[0x9003] = TAKEN
    return exif.tobytes()


#: name -> (format, Pillow save options, whether EXIF and ICC are in the file)
KINDS: dict[str, tuple[ImageFormat, dict[str, Any], bool]] = {
    "jpeg": (JPEG, {"format": "JPEG", "quality": 90}, True),
    "png": (PNG, {"format": "PNG"}, True),
    "webp-extended": (WEBP, {"format": "WEBP", "quality": 80}, True),  # EXIF/ICC: VP8X layout
    "webp-simple-lossy": (WEBP, {"format": "WEBP", "quality": 80}, False),  # plain VP8
    "webp-simple-lossless": (WEBP, {"format": "WEBP", "lossless": True}, False),  # plain VP8L (RGBA)
    "tiff": (TIFF, {"format": "TIFF", "compression": "tiff_lzw", "dpi": (72, 72)}, True),
}


def make_image_bytes(kind: str) -> bytes:
    fmt, options, metadata = KINDS[kind]
    image = picture("RGBA" if kind == "webp-simple-lossless" else "RGB")
    extra: dict[str, Any] = {"exif": exif_bytes(sub_ifd=fmt is not TIFF), "icc_profile": ICC} if metadata else {}
    buf = io.BytesIO()
    image.save(buf, **options, **extra)
    return buf.getvalue()


def make_image(tmp: Path, kind: str, exiftool: str | None = None) -> Path:
    """A fixture image; a TIFF gets its DateTimeOriginal from ``exiftool`` when given (Pillow's TIFF
    writer cannot write an EXIF sub-directory)."""
    fmt = KINDS[kind][0]
    path = tmp / f"{kind}.{fmt.name}"
    path.write_bytes(make_image_bytes(kind))
    if fmt is TIFF and exiftool:
        run_exiftool(exiftool, "-overwrite_original", f"-EXIF:DateTimeOriginal={TAKEN}", path)
    return path


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as im:
        return im.mode, im.size, im.tobytes()


def icc_of(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as im:
        value = im.info.get("icc_profile")
        return value if isinstance(value, bytes) else None


def people(*release_ids: str) -> ConsentDeclaration:
    subject = {"purposes": {"ai_training": "allowed"}, "commercial": True, "granted": "2025-01-01"}
    return ConsentDeclaration(
        identifiable_people=True,
        subjects=tuple({"ref": f"subject-{i}", "release_id": r, **subject} for i, r in enumerate(release_ids, 1)),
    )


RIGHTS = open_rights(
    authors=("Jane Doe", "Kai Müller"),
    copyright="© 2026 Jane Doe",
    consent=people("MR-2026-0042", "MR-2026-0043"),
)
FIELDS = xmp.fields_for(RIGHTS)
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"


def embedded(data: bytes, fmt: ImageFormat, fields: xmp.XmpFields = FIELDS) -> bytes:
    out = xmp.embed(data, fmt, fields)
    assert isinstance(out, bytes), out
    return out


# ---------------------------------------------------------------------------------------------
# The values: exactly what is signed


def test_fields_are_the_signed_cawg_metadata_values() -> None:
    meta = metadata_assertion(RIGHTS)
    assert FIELDS.creators == tuple(meta["dc:creator"]) == ("Jane Doe", "Kai Müller")
    assert FIELDS.rights == meta["dc:rights"] == "© 2026 Jane Doe"
    assert FIELDS.web_statement == meta["xmpRights:WebStatement"] == "https://creativecommons.org/licenses/by/4.0/"
    assert FIELDS.usage_terms == meta["xmpRights:UsageTerms"]
    assert FIELDS.marked is True
    assert FIELDS.data_mining == meta["plus:DataMining"]
    assert FIELDS.model_release_status == meta["plus:ModelReleaseStatus"] == PLUS_VOCAB + "MR-LMR"
    assert FIELDS.model_release_ids == ("MR-2026-0042", "MR-2026-0043")
    assert FIELDS.digital_source_type == meta["Iptc4xmpExt:DigitalSourceType"]
    # and what a signed manifest states is read back to the same fields
    assert xmp.signed_fields({"cawg.metadata": meta}) == FIELDS


# ---------------------------------------------------------------------------------------------
# Writing, as ExifTool sees it


@pytest.mark.parametrize("kind", list(KINDS))
def test_embed_is_read_by_exiftool_and_leaves_pixels_exif_and_icc_alone(
    tmp_path: Path, exiftool: str, kind: str
) -> None:
    fmt, _, metadata = KINDS[kind]
    src = make_image(tmp_path, kind, exiftool)
    before = src.read_bytes()
    out = tmp_path / f"out-{src.name}"
    out.write_bytes(embedded(before, fmt))

    found = tags(exiftool, out, "-XMP:all")
    assert as_list(found["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"]
    assert found["XMP-dc:Rights"] == "© 2026 Jane Doe"
    assert found["XMP-xmpRights:WebStatement"] == "https://creativecommons.org/licenses/by/4.0/"
    assert found["XMP-xmpRights:Marked"] in (True, "True", 1)
    assert found["XMP-plus:DataMining"] == FIELDS.data_mining
    # ExifTool's raw value of ModelReleaseStatus drops the vocabulary prefix
    assert PLUS_VOCAB + str(found["XMP-plus:ModelReleaseStatus"]).removeprefix(PLUS_VOCAB) == PLUS_VOCAB + "MR-LMR"
    assert as_list(found["XMP-plus:ModelReleaseID"]) == ["MR-2026-0042", "MR-2026-0043"]
    assert found["XMP-iptcExt:DigitalSourceType"].endswith("/digitalCapture")
    assert xmp.read(out.read_bytes(), fmt) == FIELDS

    assert pixels(out.read_bytes()) == pixels(before)
    if metadata:
        exif = tags(exiftool, out, "-EXIF:Make", "-EXIF:Model", "-EXIF:DateTimeOriginal")
        assert exif == {"IFD0:Make": MAKE, "IFD0:Model": MODEL, "ExifIFD:DateTimeOriginal": TAKEN}
        assert icc_of(out.read_bytes()) == icc_of(before) == ICC
    assert warnings(exiftool, out) <= warnings(exiftool, src)


def test_jpeg_segment_goes_after_jfif_and_exif_before_icc(tmp_path: Path) -> None:
    src = make_image(tmp_path, "jpeg")
    out = embedded(src.read_bytes(), JPEG)
    order = []
    pos = 2
    while out[pos + 1] != 0xDA:
        length = int.from_bytes(out[pos + 2 : pos + 4], "big")
        body = out[pos + 4 : pos + 4 + 30]
        order.append((out[pos + 1], body.split(b"\x00", 1)[0][:28]))
        pos += 2 + length
    assert order[:4] == [
        (0xE0, b"JFIF"),
        (0xE1, b"Exif"),
        (0xE1, b"http://ns.adobe.com/xap/1.0/"),
        (0xE2, b"ICC_PROFILE"),
    ]


def test_png_chunk_goes_before_idat_with_a_correct_crc(tmp_path: Path) -> None:
    out = embedded(make_image(tmp_path, "png").read_bytes(), PNG)
    kinds = []
    pos = 8
    while pos < len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        kind, body = out[pos + 4 : pos + 8], out[pos + 8 : pos + 8 + length]
        assert int.from_bytes(out[pos + 8 + length : pos + 12 + length], "big") == zlib.crc32(kind + body), kind
        kinds.append((kind, body.startswith(b"XML:com.adobe.xmp\x00")))
        pos += 12 + length
    assert kinds.index((b"iTXt", True)) < kinds.index((b"IDAT", False))
    assert kinds.count((b"iTXt", True)) == 1


@pytest.mark.parametrize("kind", ["webp-simple-lossy", "webp-simple-lossless", "webp-extended"])
def test_webp_becomes_extended_with_the_xmp_flag_and_canvas(tmp_path: Path, kind: str) -> None:
    src = make_image(tmp_path, kind).read_bytes()
    out = embedded(src, WEBP)
    assert out[12:16] == b"VP8X"
    flags = out[20]
    assert flags & 0x04, "XMP flag"
    assert bool(flags & 0x10) == (kind == "webp-simple-lossless"), "alpha flag follows the bitstream"
    width = int.from_bytes(out[24:27], "little") + 1
    height = int.from_bytes(out[27:30], "little") + 1
    assert (width, height) == (96, 64)
    assert int.from_bytes(out[4:8], "little") + 8 == len(out)
    assert out.count(b"XMP ") == 1
    # a second embed replaces the chunk instead of adding one
    other = xmp.fields_for(open_rights(authors=("Other",), copyright="© Other"))
    again = embedded(out, WEBP, other)
    assert again.count(b"XMP ") == 1 and xmp.read(again, WEBP) == other


@pytest.mark.parametrize("kind", list(KINDS))
def test_embedding_twice_changes_nothing_more(tmp_path: Path, kind: str) -> None:
    fmt = KINDS[kind][0]
    once = embedded(make_image(tmp_path, kind).read_bytes(), fmt)
    if fmt is TIFF:  # the TIFF writer appends a fresh directory each time; the reading is what must not move
        twice = embedded(once, fmt)
        assert xmp.find_packet(twice, fmt) == xmp.find_packet(once, fmt)
    else:
        assert embedded(once, fmt) == once


@pytest.mark.parametrize("name", ["harbour.jpg", "market.png", "street.webp", "studio.tiff"])
def test_bundled_examples(tmp_path: Path, exiftool: str, name: str) -> None:
    src = EXAMPLE_IMAGES / name
    data = src.read_bytes()
    fmt = sniff(data[:64], src)
    assert fmt is not None
    out = tmp_path / name
    out.write_bytes(embedded(data, fmt))
    assert pixels(out.read_bytes()) == pixels(data)
    assert as_list(tags(exiftool, out, "-XMP-dc:Creator")["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"]
    assert warnings(exiftool, out) <= warnings(exiftool, src)


# ---------------------------------------------------------------------------------------------
# Merging into packets other tools wrote

NOT_OURS = {
    "Creator",
    "Rights",
    "WebStatement",
    "UsageTerms",
    "Marked",
    "DataMining",
    "ModelReleaseStatus",
    "ModelReleaseID",
    "DigitalSourceType",
}


def others(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if k.split(":", 1)[-1] not in NOT_OURS}


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-extended", "tiff"])
def test_merge_keeps_what_exiftool_wrote(tmp_path: Path, exiftool: str, kind: str) -> None:
    fmt = KINDS[kind][0]
    src = make_image(tmp_path, kind)
    run_exiftool(
        exiftool,
        "-overwrite_original",
        "-XMP-xmp:CreatorTool=Lightroom",
        "-XMP-dc:Subject=cat",
        "-XMP-dc:Subject=harbour",
        "-XMP-dc:Creator=Old Name",
        "-XMP-photoshop:City=Lisbon",
        "-XMP-plus:DataMining=DMI-ALLOWED",
        src,
    )
    before = tags(exiftool, src, "-XMP:all")
    out = tmp_path / f"out-{src.name}"
    out.write_bytes(embedded(src.read_bytes(), fmt))
    after = tags(exiftool, out, "-XMP:all")
    assert after["XMP-xmp:CreatorTool"] == "Lightroom"
    assert as_list(after["XMP-dc:Subject"]) == ["cat", "harbour"]
    assert after["XMP-photoshop:City"] == "Lisbon"
    assert others(after) == others(before)
    assert as_list(after["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"]  # replaced, not appended
    assert after["XMP-plus:DataMining"] == FIELDS.data_mining
    assert xmp.read(out.read_bytes(), fmt) == FIELDS
    assert pixels(out.read_bytes()) == pixels(src.read_bytes())
    assert warnings(exiftool, out) <= warnings(exiftool, src)


LIGHTROOM = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 9.1-c002 79.a6a6396, 2024/03/12-07:48:23        ">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"
    xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"
   xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.2 (Windows)"
   xmp:ModifyDate="2026-01-02T03:04:05+01:00"
   photoshop:DateCreated="2026-01-02T03:04:05"
   crs:Version="16.2"
   crs:Exposure2012="+0.35"
   crs:WhiteBalance="As Shot"
   xmpRights:Marked="False"
   plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-UNSPECIFIED"
   xmpMM:DocumentID="xmp.did:5f1c2e7a-0000-4a5b-9c7d-000000000001">
   <dc:creator>
    <rdf:Seq>
     <rdf:li>Old Name</rdf:li>
    </rdf:Seq>
   </dc:creator>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>harbour</rdf:li>
     <rdf:li>boats &amp; nets</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <dc:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Harbour at dawn</rdf:li>
     <rdf:li xml:lang="pt-PT">Porto ao amanhecer</rdf:li>
    </rdf:Alt>
   </dc:title>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="derived" stEvt:parameters="converted from image/x-canon-cr3 to image/jpeg"/>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>saved</stEvt:action>
      <stEvt:when>2026-01-02T03:04:05+01:00</stEvt:when>
      <stEvt:softwareAgent>Adobe Photoshop Lightroom Classic 13.2 (Windows)</stEvt:softwareAgent>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
   <crs:ToneCurvePV2012>
    <rdf:Seq>
     <rdf:li>0, 0</rdf:li>
     <rdf:li>255, 255</rdf:li>
    </rdf:Seq>
   </crs:ToneCurvePV2012>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">
   <Iptc4xmpCore:Location>Ribeira</Iptc4xmpCore:Location>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-extended"])
def test_merge_into_an_adobe_packet(tmp_path: Path, exiftool: str, kind: str) -> None:
    """Attribute-form properties, structures, several descriptions, our own properties already there."""
    fmt = KINDS[kind][0]
    src = make_image(tmp_path, kind)
    packet = tmp_path / "lightroom.xmp"
    packet.write_text(LIGHTROOM, encoding="utf-8")
    run_exiftool(exiftool, "-overwrite_original", f"-xmp<={packet}", src)
    before = tags(exiftool, src, "-XMP:all")
    assert before["XMP-crs:Exposure2012"] == "+0.35" and before["XMP-plus:DataMining"].endswith("UNSPECIFIED")

    out = tmp_path / f"out-{src.name}"
    out.write_bytes(embedded(src.read_bytes(), fmt))
    after = tags(exiftool, out, "-XMP:all")
    assert others(after) == others(before)
    assert after["XMP-xmpMM:History"][1]["SoftwareAgent"] == "Adobe Photoshop Lightroom Classic 13.2 (Windows)"
    assert after["XMP-dc:Title"] == "Harbour at dawn" and after["XMP-dc:Title-pt-PT"] == "Porto ao amanhecer"
    assert as_list(after["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"]
    assert after["XMP-xmpRights:Marked"] in (True, "True", 1)
    assert after["XMP-plus:DataMining"] == FIELDS.data_mining
    raw = xmp.find_packet(out.read_bytes(), fmt)
    assert raw is not None
    for name in (b"plus:DataMining", b"xmpRights:Marked", b"dc:creator"):
        assert raw.count(name) == 2, name  # one element (open and close tag), the old attribute gone
    assert b'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"' in raw  # prefixes kept
    assert warnings(exiftool, out) <= warnings(exiftool, src)


def test_corpus_packets_are_read_and_merged_without_losing_a_property(
    tmp_path: Path, exiftool: str, corpus: Path
) -> None:
    """Every corpus file carrying XMP (Adobe tools, cameras, c2pa test suites): read() copes, and after
    embed ExifTool sees every one of their properties unchanged and no new warning."""
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    adobe = 0
    for i, path in enumerate(sorted(p for p in (corpus / "files").rglob("*") if p.is_file())):
        data = path.read_bytes()
        fmt = sniff(data[:64], path)
        raw = xmp.find_packet(data, fmt) if fmt else None
        if fmt is None or raw is None:
            continue
        assert xmp.read(data, fmt) is not None, path
        adobe += b"adobe" in raw.lower()
        out = xmp.embed(data, fmt, FIELDS)
        if isinstance(out, xmp.NotEmbedded):
            assert fmt.name == "dng"
            continue
        (before / f"{i}{path.suffix}").write_bytes(data)
        (after / f"{i}{path.suffix}").write_bytes(out)
    assert adobe >= 10

    def read_all(directory: Path) -> dict[str, dict[str, Any]]:
        found = json.loads(run_exiftool(exiftool, "-j", "-n", "-G1", "-struct", "-XMP:all", directory))
        return {Path(x.pop("SourceFile")).name: x for x in found}

    def warnings_all(directory: Path) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        current = ""
        for line in run_exiftool(exiftool, "-validate", "-warning", "-a", directory).splitlines():
            if line.startswith("========"):
                current = Path(line.split(" ", 1)[1]).name
                out[current] = set()
            elif line.startswith("Warning"):
                out[current].add(line.split(":", 1)[1].strip())
        return out

    old, new = read_all(before), read_all(after)
    assert len(old) >= 40
    for name, found in old.items():
        kept = {k: v for k, v in others(found).items() if k != "XMP-x:XMPToolkit"}
        assert {k: v for k, v in others(new[name]).items() if k in kept} == kept, name
        assert as_list(new[name]["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"], name
    old_warnings, new_warnings = warnings_all(before), warnings_all(after)
    for name in old:
        assert new_warnings[name] <= old_warnings[name], name


# ---------------------------------------------------------------------------------------------
# Formats not written, damaged input, limits


@pytest.mark.parametrize("fmt", [GIF, AVIF, HEIC])
def test_formats_not_written_say_so(fmt: ImageFormat) -> None:
    name = {"gif": "sketch.gif", "avif": "dunes.avif", "heic": "garden.heic"}[fmt.name]
    data = (EXAMPLE_IMAGES / name).read_bytes()
    result = xmp.embed(data, fmt, FIELDS)
    assert isinstance(result, xmp.NotEmbedded)
    assert result.format == fmt.name and fmt.name.upper() in result.reason and "\n" not in result.reason
    assert xmp.read(data, fmt) is None


def truncated(data: bytes, fmt: ImageFormat) -> bytes:
    if fmt is JPEG:
        return data[:300]  # inside the header segments
    if fmt is WEBP:
        return data[: len(data) // 2]
    return data[: len(data) - 20]  # PNG: IEND lost


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-extended", "webp-simple-lossy"])
def test_damaged_files_raise_a_one_line_input_error(tmp_path: Path, kind: str) -> None:
    fmt = KINDS[kind][0]
    data = truncated(make_image(tmp_path, kind).read_bytes(), fmt)
    with pytest.raises(InputError) as caught:
        xmp.embed(data, fmt, FIELDS)
    assert isinstance(caught.value, xmp.XmpError)
    assert "truncated" in caught.value.one_line() and "\n" not in caught.value.one_line()
    assert xmp.read(data, fmt) is None  # reading never raises


def jpeg_with_packet(packet: bytes) -> bytes:
    """A JPEG whose XMP segment holds ``packet`` as is (built by hand: ExifTool refuses bad XML)."""
    data = (EXAMPLE_IMAGES / "harbour.jpg").read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",  # cut off
        b"not xml at all",
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><nordf/></x:xmpmeta>',
        b'<?xml version="1.0" encoding="no-such-encoding"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        + b"<rdf:Description>" * 1500
        + b"</rdf:Description>" * 1500
        + b"</rdf:RDF></x:xmpmeta>",
    ],
    ids=["cut-off", "not-xml", "entities", "no-rdf", "unknown-encoding", "nested-1500-deep"],
)
def test_a_malformed_existing_packet_is_never_overwritten(packet: bytes) -> None:
    data = jpeg_with_packet(packet)
    result = xmp.embed(data, JPEG, FIELDS)
    assert isinstance(result, xmp.NotEmbedded)
    assert result.reason.startswith("the file's XMP packet cannot be merged into (")
    assert xmp.read(data, JPEG) in (None, xmp.XmpFields())  # (the deep one is well-formed, and states nothing)


def test_a_hostile_value_chain_is_not_read() -> None:
    deep = b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:rights>'
    deep += b"<rdf:value>" * 2000 + b"x" + b"</rdf:value>" * 2000 + b"</dc:rights></rdf:Description>"
    packet = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' + deep + b"</rdf:RDF>"
    assert xmp.read(jpeg_with_packet(packet), JPEG) is None


# A packet in each encoding XMP allows, plain and with a document type declaration. XMP never has a
# DTD, and the parser (defusedxml) refuses any, whatever the encoding: no entity is ever expanded.

PLAIN = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{dtd}\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Darkroom 7" dc:rights="{rights}">'
    "<dc:creator><rdf:Seq><rdf:li>Zoë 山田</rdf:li></rdf:Seq></dc:creator>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    '<?xpacket end="w"?>'
)
STATED = xmp.XmpFields(creators=("Zoë 山田",), rights="© Zoë")

LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
ATTACKS = {
    "dtd-only": ("<!DOCTYPE x:xmpmeta>", "© Zoë"),
    "internal-entity": ('<!DOCTYPE x:xmpmeta [<!ENTITY e "© Zoë">]>', "&e;"),
    "external-entity": ('<!DOCTYPE x:xmpmeta [<!ENTITY e SYSTEM "{secret}">]>', "&e;"),
    "billion-laughs": (f'<!DOCTYPE x:xmpmeta [<!ENTITY lol0 "lol">{LAUGHS}]>', "&lol9;"),
}

#: (codec, byte order mark, text before the first "<")
ENCODINGS = {
    "utf-8": ("utf-8", b"", ""),
    "utf-8-bom": ("utf-8", b"\xef\xbb\xbf", ""),
    "utf-16-le": ("utf-16-le", b"", ""),
    "utf-16-le-bom": ("utf-16-le", b"\xff\xfe", ""),
    "utf-16-le-blank-first": ("utf-16-le", b"", " \n"),
    "utf-16-be": ("utf-16-be", b"", ""),
    "utf-16-be-bom": ("utf-16-be", b"\xfe\xff", ""),
    "utf-16-be-blank-first": ("utf-16-be", b"", " \n"),
    "utf-32-le": ("utf-32-le", b"", ""),
    "utf-32-be-bom": ("utf-32-be", b"\x00\x00\xfe\xff", ""),
}


def encoded(encoding: str, dtd: str = "", rights: str = "© Zoë") -> bytes:
    codec, bom, lead = ENCODINGS[encoding]
    return bom + (lead + PLAIN.format(dtd=dtd, rights=rights)).encode(codec)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_packet_is_read_and_merged_in_every_encoding_xmp_allows(encoding: str) -> None:
    data = jpeg_with_packet(encoded(encoding))
    assert xmp.read(data, JPEG) == STATED
    out = embedded(data, JPEG)
    assert xmp.read(out, JPEG) == FIELDS
    raw = xmp.find_packet(out, JPEG)
    assert raw is not None and b'xmp:CreatorTool="Darkroom 7"' in raw  # written back as UTF-8, nothing lost


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_packet_with_a_dtd_is_refused_in_every_encoding(tmp_path: Path, encoding: str, attack: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7731")
    dtd, rights = ATTACKS[attack]
    packet = encoded(encoding, dtd.format(secret=secret.as_uri()), rights)
    data = jpeg_with_packet(packet)
    assert xmp.packet_fields(packet) is None
    assert xmp.read(data, JPEG) is None  # read as no XMP: nothing drifts, nothing is trusted
    result = xmp.embed(data, JPEG, FIELDS)
    assert isinstance(result, xmp.NotEmbedded)  # the file's packet is never overwritten either
    assert (
        result.reason
        == "the file's XMP packet cannot be merged into (it has a DTD, which XMP never has); left unchanged"
    )


SAMPLES = {kind: embedded(make_image_bytes(kind), KINDS[kind][0]) for kind in KINDS}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(KINDS)),
    cut=st.integers(min_value=0, max_value=4096),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), max_size=4),
)
def test_damaged_bytes_never_crash_read_or_embed(kind: str, cut: int, flips: list[tuple[int, int]]) -> None:
    """Flipped bytes and cut files: read() answers or says None, embed() writes, declines or raises XmpError."""
    fmt = KINDS[kind][0]
    data = bytearray(SAMPLES[kind][: len(SAMPLES[kind]) - cut])
    for at, mask in flips:
        if data:
            data[at % len(data)] ^= mask
    xmp.read(bytes(data), fmt)
    try:
        xmp.embed(bytes(data), fmt, FIELDS)
    except xmp.XmpError:
        pass


def big_packet(description: int) -> bytes:
    """A packet whose dc:description is ``description`` bytes long."""
    head = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        b'<rdf:li xml:lang="x-default">'
    )
    tail = b"</rdf:li></rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    return head + b"x" * description + tail


def test_jpeg_packet_limit_drops_padding_then_refuses(tmp_path: Path, exiftool: str) -> None:
    # fits only without the padding: written, and ExifTool reads the long description in full
    near = jpeg_with_packet(big_packet(62_300))
    out = embedded(near, JPEG)
    raw = xmp.find_packet(out, JPEG)
    assert raw is not None and 65_504 - 2048 < len(raw) <= 65_504 and b" " * 99 not in raw
    path = tmp_path / "near.jpg"
    path.write_bytes(out)
    assert tags(exiftool, path, "-XMP-dc:Description")["XMP-dc:Description"] == "x" * 62_300
    # cannot fit at all: a one-line error, nothing written
    with pytest.raises(xmp.XmpError, match="does not fit one JPEG segment"):
        xmp.embed(jpeg_with_packet(big_packet(64_800)), JPEG, FIELDS)


def test_compressed_png_packet_is_read_and_replaced(tmp_path: Path) -> None:
    data = make_image(tmp_path, "png").read_bytes()
    packet = xmp.find_packet(embedded(data, PNG, xmp.fields_for(open_rights(authors=("Old",)))), PNG)
    assert packet is not None
    body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(packet)
    chunk = len(body).to_bytes(4, "big") + b"iTXt" + body + zlib.crc32(b"iTXt" + body).to_bytes(4, "big")
    squeezed = data[:33] + chunk + data[33:]  # after IHDR
    assert xmp.read(squeezed, PNG) == xmp.fields_for(open_rights(authors=("Old",)))
    out = embedded(squeezed, PNG)
    assert xmp.read(out, PNG) == FIELDS and out.count(b"XML:com.adobe.xmp") == 1
    assert pixels(out) == pixels(data)


def test_control_characters_are_refused_not_written() -> None:
    with pytest.raises(xmp.XmpError, match="control character") as caught:
        xmp.embed((EXAMPLE_IMAGES / "harbour.jpg").read_bytes(), JPEG, xmp.fields_for(open_rights(authors=("a\x01b",))))
    assert isinstance(caught.value, InputError) and "\n" not in caught.value.one_line()


# ---------------------------------------------------------------------------------------------
# Escaping: names that are XML syntax, quotes, non-ASCII

AWKWARD = [
    "Jane <Doe>",
    "Smith & Sons",
    'Dwayne "The Lens" Doe',
    "O'Brien",
    "Zoë Åberg-Ñúñez",
    "Élodie Moreau",
    "山田 太郎",
    "日本写真家協会",
    "]]> <![CDATA[ x",
    "&amp; literally",
    "tab\tand\nnewline",
    "  spaced  ",
    "Ωmega 👩\u200d💻",
]


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-simple-lossy", "tiff"])
def test_awkward_names_reach_exiftool_intact(tmp_path: Path, exiftool: str, kind: str) -> None:
    fmt = KINDS[kind][0]
    names = tuple(n for n in AWKWARD if "\n" not in n and "\t" not in n)  # ExifTool's -j flattens those
    fields = xmp.fields_for(open_rights(authors=names, copyright='© 2026 <Jane> & "Co" 日本'))
    out = tmp_path / f"names.{fmt.name}"
    out.write_bytes(embedded(make_image(tmp_path, kind).read_bytes(), fmt, fields))
    found = tags(exiftool, out, "-XMP-dc:Creator", "-XMP-dc:Rights")
    assert [str(n) for n in as_list(found["XMP-dc:Creator"])] == list(names)
    assert found["XMP-dc:Rights"] == '© 2026 <Jane> & "Co" 日本'
    assert xmp.read(out.read_bytes(), fmt) == fields


HARBOUR = (EXAMPLE_IMAGES / "harbour.jpg").read_bytes()
MARKET = (EXAMPLE_IMAGES / "market.png").read_bytes()
STREET = (EXAMPLE_IMAGES / "street.webp").read_bytes()
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
        lambda c: c >= " " or c in "\t\n\r"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(XML_TEXT, min_size=1, max_size=4), rights=XML_TEXT, kind=st.sampled_from(["jpeg", "png", "webp"]))
def test_any_text_round_trips_through_embed_and_read(names: list[str], rights: str, kind: str) -> None:
    data = {"jpeg": HARBOUR, "png": MARKET, "webp": STREET}[kind]
    fmt = {"jpeg": JPEG, "png": PNG, "webp": WEBP}[kind]
    fields = xmp.fields_for(open_rights(authors=tuple(names), copyright=rights))
    out = embedded(data, fmt, fields)
    assert xmp.read(out, fmt) == fields
    assert xmp.drift(xmp.read(out, fmt), fields) == []


# ---------------------------------------------------------------------------------------------
# Drift: the rule


def test_drift_is_disagreement_only() -> None:
    signed = FIELDS
    assert xmp.drift(None, signed) == []  # no XMP: tools strip it
    assert xmp.drift(xmp.XmpFields(), signed) == []  # XMP without our properties
    assert xmp.drift(signed, xmp.XmpFields()) == []  # a manifest that states nothing contradicts nothing
    assert xmp.drift(signed, signed) == []
    # vocabulary values by code (ExifTool's raw ModelReleaseStatus has no prefix), URLs without trailing slash
    relaxed = xmp.XmpFields(
        model_release_status="MR-LMR",
        web_statement="https://creativecommons.org/licenses/by/4.0",
        model_release_ids=("MR-2026-0043", "MR-2026-0042"),  # a bag: order is no drift
        creators=(" Jane Doe", "Kai Müller "),
    )
    assert xmp.drift(relaxed, signed) == []
    swapped = xmp.XmpFields(creators=("Kai Müller", "Jane Doe"))  # a sequence: the first creator matters
    assert [d.field for d in xmp.drift(swapped, signed)] == ["dc:creator"]
    other = xmp.XmpFields(
        rights="© 2020 Someone",
        data_mining=PLUS_VOCAB + "DMI-ALLOWED",
        model_release_ids=("MR-1",),
        digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    )
    assert xmp.drift(other, signed) == [
        Drift("dc:rights", "© 2020 Someone", "© 2026 Jane Doe"),
        Drift("plus:DataMining", PLUS_VOCAB + "DMI-ALLOWED", str(signed.data_mining)),
        Drift("plus:ModelReleaseID", ("MR-1",), ("MR-2026-0042", "MR-2026-0043")),
        Drift(
            "Iptc4xmpExt:DigitalSourceType",
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
            "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
        ),
    ]


def test_facts_keep_drift_through_the_cache() -> None:
    facts = Facts(
        Integrity.VALID,
        metadata_drift=(Drift("dc:creator", ("A", "B"), ("C",)), Drift("dc:rights", "x", "y")),
    )
    again = Facts.from_json(facts.to_json())
    assert again == facts


# ---------------------------------------------------------------------------------------------
# Drift: signed files, verified for real


def sign_without_xmp(material: SigningMaterial, source: Path, dest: Path, rights: Rights) -> None:
    """Sign with plain c2pa-python and no XMP step, as another C2PA tool would: the file's XMP stays as it was."""
    c2pa = engine.c2pa()
    data = source.read_bytes()
    fmt = sniff(data[:64], source)
    assert fmt is not None
    definition = manifest_definition(rights, title=source.name, generator="another-tool", version="1", edit=False)
    context = engine.signing_context()
    signer = c2pa.Signer.from_callback(
        material.sign, getattr(c2pa.C2paSigningAlg, material.algorithm.value.upper()), material.chain_pem(), None
    )
    builder = c2pa.Builder.from_json(definition, context=context)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            builder.sign(signer, fmt.mime, io.BytesIO(data), out)
    finally:
        builder.close()
        signer.close()
        context.close()


DISAGREEING = open_rights(
    authors=("Someone Else",),
    copyright="© 2020 Someone Else",
    license=parse_license("CC-BY-NC-4.0"),
    training=Training(Use.ALLOWED, Use.ALLOWED, Use.ALLOWED, Use.ALLOWED),
)
#: what a file prepared with DISAGREEING's XMP and signed with RIGHTS drifts on (no release ids in its XMP:
#: a property missing on one side is no drift)
DRIFTING = ["dc:creator", "dc:rights", "xmpRights:WebStatement", "plus:DataMining", "plus:ModelReleaseStatus"]


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-simple-lossy", "tiff"])
def test_embed_then_sign_verifies_without_drift(
    tmp_path: Path, exiftool: str, signer: Signer, keys: KeyFiles, kind: str
) -> None:
    fmt = KINDS[kind][0]
    src = make_image(tmp_path, kind)
    ready = tmp_path / f"ready.{fmt.name}"
    ready.write_bytes(embedded(src.read_bytes(), fmt, xmp.fields_for(RIGHTS)))
    out = tmp_path / "signed" / ready.name
    signer.sign_file(ready, out, RIGHTS)
    with Verifier([keys.ca]) as verifier:
        record = verifier.verify_file(out)
    assert record.integrity is Integrity.VALID and record.trust.value == "trusted"
    assert record.metadata_drift == ()
    assert record.to_dict()["metadata_drift"] == []
    assert xmp.read(out.read_bytes(), fmt) == xmp.fields_for(RIGHTS)  # signing kept the packet
    found = tags(exiftool, out, "-XMP-dc:Creator", "-XMP-plus:ModelReleaseID")
    assert as_list(found["XMP-dc:Creator"]) == ["Jane Doe", "Kai Müller"]
    assert pixels(out.read_bytes()) == pixels(src.read_bytes())


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-extended", "tiff"])
def test_xmp_that_disagrees_with_the_signed_manifest_is_reported(
    tmp_path: Path, material: SigningMaterial, keys: KeyFiles, kind: str
) -> None:
    fmt = KINDS[kind][0]
    ready = tmp_path / f"ready.{fmt.name}"
    ready.write_bytes(embedded(make_image(tmp_path, kind).read_bytes(), fmt, xmp.fields_for(DISAGREEING)))
    agree = tmp_path / f"agree.{fmt.name}"
    agree.write_bytes(embedded(make_image(tmp_path, kind).read_bytes(), fmt, xmp.fields_for(RIGHTS)))
    drifting, fine = tmp_path / "signed" / f"drift.{fmt.name}", tmp_path / "signed" / f"fine.{fmt.name}"
    sign_without_xmp(material, ready, drifting, RIGHTS)
    sign_without_xmp(material, agree, fine, RIGHTS)

    with Verifier([keys.ca]) as verifier:
        record = verifier.verify_file(drifting)
        control = verifier.verify_file(fine)
    assert record.integrity is Integrity.VALID and control.integrity is Integrity.VALID
    assert control.metadata_drift == ()
    by_field = {d.field: d for d in record.metadata_drift}
    assert list(by_field) == DRIFTING
    assert by_field["dc:creator"] == Drift("dc:creator", ("Someone Else",), ("Jane Doe", "Kai Müller"))
    assert by_field["xmpRights:WebStatement"].xmp == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert by_field["plus:DataMining"].xmp == PLUS_VOCAB + "DMI-ALLOWED"
    # a report, not a verdict: the decision is the one the agreeing file gets
    assert (record.decision, record.reasons) == (control.decision, control.reasons)
    assert record.author == ("Jane Doe", "Kai Müller")  # the signed manifest is what the record states
    as_json = record.to_dict()
    assert schemas.errors(schemas.VERIFY_RECORD, as_json) == []
    assert {"field": "dc:creator", "xmp": ["Someone Else"], "signed": ["Jane Doe", "Kai Müller"]} in as_json[
        "metadata_drift"
    ]
    assert by_field["plus:ModelReleaseStatus"].xmp == PLUS_VOCAB + "MR-NAP"  # "no people" against releases
    assert flat(record)["metadata_drift"] == DRIFTING
    assert 'dc:creator XMP ["Someone Else"], signed ["Jane Doe", "Kai Müller"]' in verify_text(record)
    summary = Summary()
    summary.add(record)
    summary.add(control)
    assert "  1 file: embedded XMP disagrees with the signed manifest" in summary.render()


def test_signer_rewrites_a_stale_packet_so_nothing_drifts(
    tmp_path: Path, exiftool: str, signer: Signer, keys: KeyFiles
) -> None:
    """The real Signer writes the XMP mirror itself: a file whose packet says otherwise is brought in line
    (the other tools' properties kept), and verify finds no drift."""
    src = tmp_path / "stale.jpg"
    src.write_bytes(embedded(make_image(tmp_path, "jpeg").read_bytes(), JPEG, xmp.fields_for(DISAGREEING)))
    run_exiftool(exiftool, "-overwrite_original", "-XMP-xmp:CreatorTool=Lightroom", src)
    out = tmp_path / "signed" / "stale.jpg"
    signer.sign_file(src, out, RIGHTS)
    with Verifier([keys.ca]) as verifier:
        record = verifier.verify_file(out)
    assert record.integrity is Integrity.VALID and record.metadata_drift == ()
    assert xmp.read(out.read_bytes(), JPEG) == FIELDS
    assert tags(exiftool, out, "-XMP-xmp:CreatorTool") == {"XMP-xmp:CreatorTool": "Lightroom"}


def test_verify_command_reports_drift_in_every_format(
    tmp_path: Path, material: SigningMaterial, keys: KeyFiles, cli: Callable[..., Any]
) -> None:
    data = tmp_path / "data"
    ready = tmp_path / "ready.jpg"
    ready.write_bytes(embedded(make_image(tmp_path, "jpeg").read_bytes(), JPEG, xmp.fields_for(DISAGREEING)))
    agree = tmp_path / "agree.jpg"
    agree.write_bytes(embedded(make_image(tmp_path, "jpeg").read_bytes(), JPEG, xmp.fields_for(RIGHTS)))
    sign_without_xmp(material, ready, data / "a-drift.jpg", RIGHTS)
    sign_without_xmp(material, agree, data / "b-fine.jpg", RIGHTS)
    (data / "c-plain.jpg").write_bytes(ready.read_bytes())  # XMP but no manifest: nothing to disagree with

    jsonl = cli("verify", data, "--trust", keys.ca, "-f", "jsonl", "-o", "report.jsonl", "--jobs", "2")
    assert "  1 file: embedded XMP disagrees with the signed manifest" in jsonl.stderr, jsonl.stderr
    lines = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    drift = {Path(r["path"]).name: [d["field"] for d in r["metadata_drift"]] for r in lines}
    assert drift == {
        "a-drift.jpg": DRIFTING,
        "b-fine.jpg": [],
        "c-plain.jpg": [],
    }
    for r in lines:
        assert schemas.errors(schemas.VERIFY_RECORD, r) == []

    as_csv = cli("verify", data, "--trust", keys.ca, "-f", "csv", "--jobs", "1")
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert rows["a-drift.jpg"]["metadata_drift"] == ";".join(DRIFTING)
    assert rows["b-fine.jpg"]["metadata_drift"] == ""

    text = cli("verify", data / "a-drift.jpg", "--trust", keys.ca)
    assert "XMP disagrees with the signed manifest: dc:creator" in text.stdout


def test_the_package_names_stay_functions_whichever_is_imported_first() -> None:
    """Importing the writing module (as the signing workers do) never shadows ``xmp.embed``."""
    import importlib

    importlib.import_module("rightsmark.rights.xmp.embedding")
    assert callable(xmp.embed) and callable(xmp.read) and xmp.SUPPORTED
    assert not isinstance(xmp.embed, type(importlib))
