"""Recovery under attack: what an adversary with their own key, a public watermark algorithm, many
registrations or a misbehaving service can make of a stripped file. None of it may turn into a keep, and none
of it may hide what the owner's manifest forbids."""

from __future__ import annotations

import http.server
import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from rightsmark.filters import KeepFilter
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import load_signing_material
from rightsmark.models import Training, Use, VerifyRecord
from rightsmark.reports.inspect_text import inspect_text
from rightsmark.repository.base import RepositoryError
from rightsmark.repository.ingest import register
from rightsmark.sign.signer import Signer
from rightsmark.softbinding import watermark
from rightsmark.verify.inspection import inspect_file
from rightsmark.verify.policy import Policy
from rightsmark.verify.recover import check_repository
from rightsmark.verify.verifier import Verifier
from tests.conftest import EXAMPLE_IMAGES, open_rights
from tests.test_serve_client import http_server, reply

NOT_ALLOWED = Training(Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED)


def photo(path: Path, *, flip: bool = False) -> Path:
    with Image.open(EXAMPLE_IMAGES / "harbour.jpg") as im:
        big = im.convert("RGB").resize((800, 600), Image.Resampling.LANCZOS)
    (big.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if flip else big).save(path, "JPEG", quality=92)
    return path


def stripped(signed: Path, dest: Path) -> Path:
    with Image.open(signed) as im:
        im.convert("RGB").resize((640, 480), Image.Resampling.LANCZOS).save(dest, "JPEG", quality=80)
    return dest


def manifest_id_of(path: Path) -> str:
    import c2pa

    with c2pa.Reader(str(path)) as reader:
        label: str = json.loads(reader.json())["active_manifest"]
    return label


def codes(record: VerifyRecord) -> list[str]:
    return [r.code for r in record.reasons]


@pytest.fixture
def evil(other_keys: KeyFiles) -> Signer:
    """An attacker's own, valid signing key (its CA is trusted only where a test says so)."""
    return Signer(load_signing_material(other_keys.key, other_keys.chain))


def test_a_watermarked_copy_of_an_owners_picture_cannot_hide_the_owners_not_allowed(
    signer: Signer, evil: Signer, keys: KeyFiles, other_keys: KeyFiles, tmp_path: Path
) -> None:
    p = photo(tmp_path / "p.jpg")
    signer.sign_file(p, tmp_path / "owner.jpg", open_rights(training=NOT_ALLOWED))
    Signer(evil.material, watermark=True).sign_file(p, tmp_path / "attacker.jpg", open_rights())
    repo = tmp_path / "repo.db"
    register(str(repo), [tmp_path / "owner.jpg", tmp_path / "attacker.jpg"])
    # the attacker's copy agrees with its own manifest by watermark and fingerprint; the owner's is near too
    copy = stripped(tmp_path / "attacker.jpg", tmp_path / "s.jpg").read_bytes()
    for policy in (
        Policy(anchors=(keys.ca,), recover=str(repo), keep_absent=True),
        Policy(anchors=(keys.ca, other_keys.ca), recover=str(repo), keep_recovered=True),
    ):
        record = KeepFilter(policy).record(copy, "s")
        assert not record.kept
        assert "permission-not-allowed" in codes(record)


def test_a_watermark_copied_onto_another_picture_can_never_allow_it(
    signer: Signer, keys: KeyFiles, tmp_path: Path
) -> None:
    Signer(signer.material, watermark=True).sign_file(photo(tmp_path / "a.jpg"), tmp_path / "sa.jpg", open_rights())
    repo = tmp_path / "repo.db"
    register(str(repo), [tmp_path / "sa.jpg"])
    ident = watermark.detect(tmp_path / "sa.jpg")
    assert ident is not None
    other = photo(tmp_path / "b.jpg", flip=True).read_bytes()
    forged = watermark.embed(other, "jpeg", ident)  # the algorithm is public: anyone can do this
    record = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_recovered=True)).record(forged, "f")
    assert not record.kept
    assert codes(record) == ["integrity-absent", "recovered-only"]
    assert record.recovered is not None and record.recovered.method == "watermark"


def test_a_flood_of_colliding_registrations_is_an_ambiguity_never_a_partial_judgement(
    signer: Signer, evil: Signer, keys: KeyFiles, tmp_path: Path
) -> None:
    p = photo(tmp_path / "p.jpg")
    signer.sign_file(p, tmp_path / "owner.jpg", open_rights(training=NOT_ALLOWED))
    copy = stripped(tmp_path / "owner.jpg", tmp_path / "s.jpg")
    floods = []
    for i in range(10):  # the attacker signs the stripped copy itself, ten times: distance 0, nearer than the owner
        floods.append(tmp_path / f"flood{i}.jpg")
        evil.sign_file(copy, floods[-1], open_rights())
    repo = tmp_path / "repo.db"
    register(str(repo), [tmp_path / "owner.jpg", *floods])
    record = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_absent=True)).record(copy.read_bytes(), "s")
    assert not record.kept
    assert codes(record) == ["recovered-ambiguous"]


def test_a_files_own_manifest_still_forbids_after_its_pixels_changed(
    signer: Signer, evil: Signer, keys: KeyFiles, other_keys: KeyFiles, tmp_path: Path
) -> None:
    p = photo(tmp_path / "p.jpg")
    signer.sign_file(
        p,
        tmp_path / "owner.jpg",
        open_rights(training=NOT_ALLOWED),
    )
    evil.sign_file(p, tmp_path / "other.jpg", open_rights())  # someone else's "allowed" for the same picture
    repo = tmp_path / "repo.db"
    register(str(repo), [tmp_path / "other.jpg"])
    signed = (tmp_path / "owner.jpg").read_bytes()
    from rightsmark.media.formats import jpeg_scan_start

    start = jpeg_scan_start(signed)
    assert start is not None
    data = bytearray(signed)
    data[start + 40] ^= 0x10  # the owner's file with a changed byte of its scan: the same manifest, its hard
    # binding fails
    policy = Policy(anchors=(keys.ca, other_keys.ca), recover=str(repo), keep_recovered=True)
    record = KeepFilter(policy).record(bytes(data), "t")
    assert record.integrity.value == "invalid" and not record.kept
    assert "permission-not-allowed" in codes(record)
    assert any("the file's own manifest" in r.message for r in record.reasons)
    # inspect shows the recovered manifest, and the file's own only as the file's own
    changed = tmp_path / "changed.jpg"
    changed.write_bytes(bytes(data))
    with Verifier(policy=policy, keep_recovered_stores=True) as verifier:
        info = inspect_file(changed, verifier=verifier)
    assert [m["manifest_id"] for m in info["recovered"]["matches"]] == [manifest_id_of(tmp_path / "other.jpg")]
    assert "RECOVERED through a soft binding" in inspect_text(info)


Service = tuple[str, Path, dict[str, str]]


@pytest.fixture
def service(signer: Signer, tmp_path: Path) -> Iterator[Service]:
    """A resolution service that answers within the published schema but unhelpfully (a real HTTP server):
    its matches carry no score (the API makes it optional); ``mode["algorithms"]`` says what it lists."""
    signer.sign_file(photo(tmp_path / "p.jpg"), tmp_path / "owner.jpg", open_rights(training=NOT_ALLOWED))
    register(str(tmp_path / "r.db"), [tmp_path / "owner.jpg"])
    with sqlite3.connect(tmp_path / "r.db") as db:
        manifest_id, store = db.execute("SELECT manifest_id, store FROM manifests").fetchone()
    mode = {"algorithms": "io.iscc.v0"}

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        path = urllib.parse.urlsplit(handler.path).path
        if path == "/services/supportedAlgorithms":
            algs = [{"alg": a} for a in mode["algorithms"].split()]
            reply(200, "application/json", json.dumps({"fingerprints": algs, "watermarks": []}).encode())(handler)
        elif path == "/matches/byBinding":
            reply(200, "application/json", json.dumps({"matches": [{"manifestId": manifest_id}]}).encode())(handler)
        elif path.startswith("/manifests/"):
            reply(200, "application/c2pa", bytes(store))(handler)
        else:
            reply(404, "application/json", b'{"error": "no such route"}')(handler)

    with http_server(answer) as url:
        yield url.rstrip("/"), stripped(tmp_path / "owner.jpg", tmp_path / "s.jpg"), mode


def test_a_service_match_without_a_score_is_still_heard(service: Service, keys: KeyFiles) -> None:
    url, copy, _mode = service
    check_repository(url)
    record = KeepFilter(Policy(anchors=(keys.ca,), recover=url, keep_absent=True)).record(copy.read_bytes(), "s")
    assert not record.kept and codes(record) == ["permission-not-allowed"]


def test_a_service_that_cannot_look_up_fingerprints_is_refused(service: Service, keys: KeyFiles) -> None:
    url, copy, mode = service
    mode["algorithms"] = ""
    with pytest.raises(RepositoryError, match=r"does not look up io\.iscc\.v0"):
        check_repository(url)
    record = KeepFilter(Policy(anchors=(keys.ca,), recover=url, keep_absent=True)).record(copy.read_bytes(), "s")
    assert not record.kept and codes(record) == ["recovery-failed"]


def test_two_manifests_for_one_picture_are_an_ambiguity_even_where_unsigned_files_are_kept(
    signer: Signer, evil: Signer, keys: KeyFiles, tmp_path: Path
) -> None:
    p = photo(tmp_path / "p.jpg")
    signer.sign_file(p, tmp_path / "one.jpg", open_rights())
    evil.sign_file(p, tmp_path / "two.jpg", open_rights())  # the same picture, signed again by someone else
    repo = tmp_path / "repo.db"
    register(str(repo), [tmp_path / "one.jpg", tmp_path / "two.jpg"])
    copy = stripped(tmp_path / "one.jpg", tmp_path / "s.jpg").read_bytes()
    record = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_absent=True)).record(copy, "s")
    assert not record.kept and codes(record) == ["recovered-ambiguous"]
