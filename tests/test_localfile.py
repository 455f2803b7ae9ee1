"""A local file judged where it lies: the engine reads it from the checked descriptor, Python only its header.

Every test compares with the bytes path (``FactReader.read`` of the file's bytes): the facts must be the same,
a damaged file must be caught the same way, and what cannot be read (a FIFO, a directory, a file over the cap,
a file that changes while it is read) must be an error, never a reading.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from rightsmark.engine.reading import LocalFile, read_manifest_store
from rightsmark.keys.devca import KeyFiles
from rightsmark.media.formats import jpeg_scan_start
from rightsmark.models import Integrity
from rightsmark.sign.signer import Signer
from rightsmark.trust.sources import resolve
from rightsmark.verify.facts import HEAD_BYTES, Facts
from rightsmark.verify.localfile import CHANGED, WHOLE_BYTES, file_facts, read_local
from rightsmark.verify.reader import FactReader

from .conftest import CliResult, open_rights

TDM = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    b' xmlns:tdm="http://www.w3.org/ns/tdmrep/"><tdm:reservation>1</tdm:reservation></rdf:Description>'
    b'</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
)


def photo(size: tuple[int, int], seed: int, **save: Any) -> bytes:
    """A noisy JPEG that compresses badly (large for its size), saved with Pillow's ``save`` options."""
    rng = random.Random(seed)
    im = Image.effect_noise(size, 60).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.ellipse((x - 40, y - 40, x + 40, y + 40), fill=(rng.randrange(256), 90, 30))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95, **save)
    return out.getvalue()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    """A signed JPEG of about 900 KB carrying its own TDM reservation in XMP (a declared opt-out)."""
    work = tmp_path_factory.mktemp("large")
    (work / "src.jpg").write_bytes(photo((1600, 1200), 1, xmp=TDM))
    signer.sign_file(work / "src.jpg", work / "large.jpg", open_rights())
    return work / "large.jpg"


@pytest.fixture(scope="module")
def reader(keys: KeyFiles) -> Iterator[FactReader]:
    """A reader trusting the test CA and taking fingerprints: every part of the engine path runs."""
    r = FactReader(resolve([], anchors=[keys.ca]), fingerprints=True)
    yield r
    r.close()


def by_bytes(reader: FactReader, path: Path) -> Facts:
    return reader.read(path.read_bytes(), str(path))


def test_a_large_signed_jpeg_gives_the_facts_of_its_bytes(large: Path, reader: FactReader) -> None:
    assert large.stat().st_size > WHOLE_BYTES  # the engine reads the file itself
    facts = read_local(reader, str(large), str(large))
    assert facts == by_bytes(reader, large)
    assert facts.integrity is Integrity.VALID and facts.trusted
    assert facts.signer_fingerprint and facts.authors == ("Jane Doe",)
    assert [(d.name, d.value) for d in facts.declared] == [("tdm:reservation", "1")]
    again = read_local(reader, str(large), str(large))  # the verdict on the chain is reused: the same facts
    assert again == facts


@pytest.mark.parametrize("where", ["scan data", "last byte before end of image", "xmp packet"])
def test_a_flipped_byte_in_a_large_signed_file_is_caught(
    large: Path, reader: FactReader, tmp_path: Path, where: str
) -> None:
    data = bytearray(large.read_bytes())
    start = jpeg_scan_start(bytes(data))
    assert isinstance(start, int)
    at = {
        "scan data": (start + len(data)) // 2,
        "last byte before end of image": len(data) - 3,
        "xmp packet": data.index(b"<tdm:reservation>1") + len(b"<tdm:reservation>"),
    }[where]
    data[at] ^= 0x01
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data))
    facts = read_local(reader, "bad.jpg", str(bad))
    assert facts == reader.read(bytes(data), "bad.jpg")
    assert facts.integrity is Integrity.INVALID
    assert "assertion.dataHash.mismatch" in facts.failure_codes
    assert not facts.trusted


def test_a_header_longer_than_the_first_read_is_read_on(tmp_path: Path, signer: Signer, reader: FactReader) -> None:
    src = tmp_path / "src.jpg"
    src.write_bytes(photo((900, 700), 2, comment=b"c" * 60_000, xmp=TDM))  # segments beyond the first read
    signer.sign_file(src, tmp_path / "long.jpg", open_rights())
    path = tmp_path / "long.jpg"
    start = jpeg_scan_start(path.read_bytes())
    assert isinstance(start, int) and start > HEAD_BYTES
    facts = read_local(reader, "long.jpg", str(path), whole_bytes=0)
    assert facts == by_bytes(reader, path)
    assert facts.integrity is Integrity.VALID and facts.declared


def test_unsigned_and_cut_off_jpegs(tmp_path: Path, reader: FactReader) -> None:
    whole = tmp_path / "unsigned.jpg"
    whole.write_bytes(photo((1200, 900), 3, xmp=TDM))
    facts = read_local(reader, "unsigned.jpg", str(whole), whole_bytes=0)
    assert facts == by_bytes(reader, whole)
    assert facts.integrity is Integrity.ABSENT and facts.declared
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:-5000])  # no end-of-image marker: the engine decides, as for the bytes
    assert read_local(reader, "cut.jpg", str(cut), whole_bytes=0) == by_bytes(reader, cut)


def test_a_file_that_cannot_be_read_is_an_error(tmp_path: Path, reader: FactReader, large: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    cases = {
        "pipe.jpg": (1 << 30, "not a regular file (FIFO)"),
        "folder.jpg": (1 << 30, "not a regular file (directory)"),
        "missing.jpg": (1 << 30, "no such file"),
    }
    for name, (cap, message) in cases.items():
        facts = read_local(reader, name, str(tmp_path / name), cap)
        assert facts.integrity is Integrity.ERROR and message in (facts.message or ""), name
    over = read_local(reader, "large.jpg", str(large), WHOLE_BYTES)
    assert over.integrity is Integrity.ERROR and "larger than --max-item-size 256 KiB" in (over.message or "")


def _checked(path: Path) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd).st_size


@pytest.mark.parametrize("change", ["grew", "shrank"])
def test_a_file_that_changes_after_it_was_checked_is_an_error(
    large: Path, reader: FactReader, tmp_path: Path, change: str
) -> None:
    path = tmp_path / "changing.jpg"
    data = large.read_bytes()
    path.write_bytes(data)
    fd, size = _checked(path)
    try:
        if change == "grew":
            with path.open("ab") as fh:
                fh.write(b"\0" * 4096)
        else:
            os.truncate(path, size // 2)
        facts = file_facts(reader, LocalFile(fd, size), "changing.jpg")
    finally:
        os.close(fd)
    assert facts.integrity is Integrity.ERROR and facts.message == CHANGED


def test_the_engine_never_reads_past_the_checked_size(large: Path, tmp_path: Path) -> None:
    """Bytes appended after the check are not seen: the engine reads the file as it was checked."""
    path = tmp_path / "appended.jpg"
    data = large.read_bytes()
    path.write_bytes(data + b"appended after the size was checked")
    from rightsmark.engine import adapter as engine

    context = engine.reading_context(None, verify_trust=False)
    fd = os.open(path, os.O_RDONLY)
    try:
        as_checked = read_manifest_store(LocalFile(fd, len(data)), "a.jpg", context, False)
        as_now = read_manifest_store(LocalFile(fd, os.fstat(fd).st_size), "a.jpg", context, False)
    finally:
        os.close(fd)
        context.close()
    assert as_checked.integrity is Integrity.VALID
    assert as_now.integrity is Integrity.INVALID  # the appended bytes break the hash: they were read


def records(result: CliResult) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_verify_judges_large_files_in_place_as_it_judges_their_bytes(
    cli: Callable[..., CliResult], tmp_path: Path, large: Path, keys: KeyFiles, jobs: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.jpg").write_bytes(large.read_bytes())
    flipped = bytearray(large.read_bytes())
    flipped[len(flipped) // 2] ^= 0x40
    (data / "flipped.jpg").write_bytes(bytes(flipped))
    base = ("verify", "data", "--trust", keys.ca, "-f", "jsonl", "-j", jobs)
    in_place = cli(*base)
    as_bytes = cli(*base, "--cache", tmp_path / "cache")  # with a cache the bytes are hashed and judged
    assert in_place.returncode == 1, in_place.stderr
    got = records(in_place)
    assert got == records(as_bytes)
    good = got["data/good.jpg"]
    assert (good["integrity"], good["trust"]) == ("valid", "trusted")
    assert [r["code"] for r in good["reasons"]] == ["declared-opt-out"]  # the file's own TDM reservation
    assert got["data/flipped.jpg"]["decision"] == "drop"
    assert got["data/flipped.jpg"]["integrity"] == "invalid"
