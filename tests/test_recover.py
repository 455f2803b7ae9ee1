"""Recovery: a file that lost its manifest is matched back to it through its soft binding, and judged.

Real signed files, a real SQLite repository, the real engine validating the recovered store. What a
recovered manifest forbids drops the file; what it allows keeps it only under [treat] recovered = "keep".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rightsmark.filters import KeepFilter
from rightsmark.keys.devca import KeyFiles
from rightsmark.models import Training, Use
from rightsmark.repository.ingest import register
from rightsmark.rights.consent import load_consent_file
from rightsmark.sign.signer import Signer
from rightsmark.softbinding.model import read_bindings
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import Verifier
from tests.conftest import EXAMPLE_IMAGES, REPO, one_error_line, open_rights

Cli = Callable[..., Any]
NOT_ALLOWED = Training(Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED)


def stripped_copy(signed: Path, dest: Path, *, scale: float = 0.8, quality: int = 80) -> Path:
    """What a platform makes of an upload: resized, re-encoded, every byte of metadata gone."""
    with Image.open(signed) as im:
        small = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    small.save(dest, "JPEG", quality=quality)
    return dest


def manifest_id(path: Path) -> str:
    import c2pa

    with c2pa.Reader(str(path)) as reader:
        label: str = json.loads(reader.json())["active_manifest"]
    return label


@pytest.fixture
def registered(tmp_path: Path, signer: Signer) -> Callable[..., tuple[Path, Path, str]]:
    """Sign the bundled photo with ``rights``, register it, and strip a copy: (stripped copy, repo, manifest id)."""

    def make(name: str = "harbour.jpg", **rights: Any) -> tuple[Path, Path, str]:
        signed = tmp_path / "signed" / name
        signer.sign_file(EXAMPLE_IMAGES / name, signed, open_rights(**rights))
        repo = tmp_path / "manifests.db"
        outcome = register(str(repo), [signed])
        assert [r.outcome for r in outcome] == ["added"], outcome
        return stripped_copy(signed, tmp_path / f"stripped-{name}"), repo, manifest_id(signed)

    return make


def verify_json(cli: Cli, *args: Any) -> tuple[int, dict[str, Any]]:
    done = cli("verify", "--format", "jsonl", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout.splitlines()[0])


def codes(record: dict[str, Any]) -> list[str]:
    return [r["code"] for r in record["reasons"]]


def test_a_stripped_copy_is_matched_back_but_an_allowed_manifest_alone_does_not_keep_it(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    stripped, repo, label = registered()
    code, record = verify_json(cli, stripped, "--recover", repo, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop"
    assert codes(record) == ["integrity-absent", "recovered-only"]
    recovered = record["recovered"]
    assert recovered["manifest_id"] == label
    assert recovered["method"] == "fingerprint"
    assert 0 <= recovered["distance"] <= 8
    assert recovered["repository"] == str(repo)
    assert recovered["trust"] == "trusted"
    assert recovered["author"] == ["Jane Doe"] and recovered["training"]["ai_training"] == "allowed"
    # without --recover the same file is simply unsigned
    _code, plain = verify_json(cli, stripped, "--trust", keys.ca)
    assert plain["recovered"] is None and codes(plain) == ["integrity-absent"]


def test_the_policy_may_accept_a_recovered_manifest_that_passes_it(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, label = registered()
    policy = tmp_path / "policy.toml"
    policy.write_text(f'recover = "{repo.name}"\n[treat]\nrecovered = "keep"\n')
    code, record = verify_json(cli, stripped, "--policy", policy, "--trust", keys.ca)
    assert code == 0 and record["decision"] == "keep", record["reasons"]
    assert record["recovered"]["manifest_id"] == label
    # accepted only where its signer is trusted: the same recovery without the anchor drops
    code, record = verify_json(cli, stripped, "--policy", policy)
    assert record["decision"] == "drop" and "untrusted" in codes(record)


def test_a_recovered_not_allowed_drops_even_a_file_the_policy_would_keep_unsigned(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    stripped, repo, _label = registered(training=NOT_ALLOWED)
    code, kept = verify_json(cli, stripped, "--keep-unsigned", "--trust", keys.ca)
    assert kept["decision"] == "keep"  # nothing known about it without recovery
    code, record = verify_json(cli, stripped, "--keep-unsigned", "--recover", repo, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop"
    assert codes(record) == ["permission-not-allowed"]
    assert "recovered manifest" in record["reasons"][0]["message"]


def test_a_recovered_consent_that_expired_drops_the_file(
    registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles, tmp_path: Path
) -> None:
    consent_file = tmp_path / "consent.json"
    data = json.loads((REPO / "examples" / "consent.json").read_text())
    data["subjects"][0].update(granted="2020-01-01", expires="2099-01-01")
    consent_file.write_text(json.dumps(data))
    stripped, repo, _label = registered(consent=load_consent_file(consent_file))
    policy = Policy(anchors=(keys.ca,), recover=str(repo), keep_recovered=True)
    assert KeepFilter(policy).record(stripped.read_bytes(), "x").kept
    later = dt.datetime(2099, 1, 2, tzinfo=dt.UTC)
    record = KeepFilter(policy, now=later).record(stripped.read_bytes(), "x")
    assert not record.kept
    assert [r.code for r in record.reasons] == ["integrity-absent", "consent-expired"]
    assert record.recovered is not None and record.recovered.consent.status.value == "expired"


def test_an_unrelated_image_recovers_nothing(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles, tmp_path: Path
) -> None:
    _stripped, repo, _label = registered()
    other = tmp_path / "other.png"
    Image.radial_gradient("L").resize((320, 240)).convert("RGB").save(other)
    _code, record = verify_json(cli, other, "--recover", repo, "--trust", keys.ca)
    assert record["recovered"] is None and codes(record) == ["integrity-absent"]


def test_a_store_that_no_longer_validates_is_never_used(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, _label = registered(training=NOT_ALLOWED)
    with sqlite3.connect(repo) as db:
        (store,) = db.execute("SELECT store FROM manifests").fetchone()
        forged = bytearray(store)
        at = bytes(forged).find(b"notAllowed")
        assert at > 0
        forged[at : at + 10] = b"allowed\x00\x00\x00"  # an attacker rewrites the permission in place
        digest = hashlib.sha256(forged).hexdigest()  # and keeps the repository's own checksum consistent
        db.execute("UPDATE manifests SET store = ?, sha256 = ?", (bytes(forged), digest))
    policy = tmp_path / "p.toml"
    policy.write_text(f'recover = "{repo}"\n[treat]\nrecovered = "keep"\nabsent = "keep"\n')
    code, record = verify_json(cli, stripped, "--policy", policy, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop"
    assert "recovered-invalid" in codes(record)
    assert record["recovered"] is None
    # a store the repository itself finds damaged is refused by the repository: also a drop
    with sqlite3.connect(repo) as db:
        db.execute("UPDATE manifests SET sha256 = ?", ("0" * 64,))
    code, record = verify_json(cli, stripped, "--policy", policy, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop" and "recovery-failed" in codes(record)


def test_the_library_verifier_and_keep_filter_recover_too(
    registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    stripped, repo, label = registered()
    policy = Policy(anchors=(keys.ca,), recover=str(repo))
    with Verifier(policy=policy) as verifier:
        record = verifier.verify_file(stripped)
    assert record.recovered is not None and record.recovered.manifest_id == label
    assert [r.code for r in record.reasons] == ["integrity-absent", "recovered-only"]
    keep = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_recovered=True))
    assert keep({"image": stripped.read_bytes()})


def test_a_repository_that_is_not_one_is_one_clear_line(cli: Cli, tmp_path: Path, jpeg: Path) -> None:
    not_repo = tmp_path / "notes.txt"
    not_repo.write_text("hello")
    done = cli("verify", jpeg, "--recover", not_repo)
    one_error_line(done, str(not_repo))
    done = cli("verify", jpeg, "--recover", tmp_path / "missing.db")
    one_error_line(done, "missing.db")


def test_a_service_that_is_down_is_one_clear_line(cli: Cli, jpeg: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = cli("verify", jpeg, "--keep-unsigned", "--recover", f"http://127.0.0.1:{port}")
    one_error_line(done, f"127.0.0.1:{port}")


def test_a_repository_that_breaks_during_a_run_drops_with_recovery_failed_never_keeps(
    registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    stripped, repo, _label = registered()
    keep = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_absent=True, keep_recovered=True))
    assert keep.record(stripped.read_bytes(), "x").kept
    broken = KeepFilter(Policy(anchors=(keys.ca,), recover=str(repo), keep_absent=True, keep_recovered=True))
    repo.write_bytes(b"this is no longer a database" * 100)
    record = broken.record(stripped.read_bytes(), "x")
    assert not record.kept
    assert [r.code for r in record.reasons] == ["recovery-failed"]


def test_a_signed_valid_file_is_not_recovered(
    cli: Cli, signed_jpeg: Path, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    _stripped, repo, _label = registered()
    _code, record = verify_json(cli, signed_jpeg, "--recover", repo, "--trust", keys.ca)
    assert record["integrity"] == "valid" and record["recovered"] is None


def test_sign_register_keeps_each_signed_manifest_and_a_stripped_copy_finds_it(
    cli: Cli, keys: KeyFiles, tmp_path: Path
) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("harbour.jpg",):
        (photos / name).write_bytes((EXAMPLE_IMAGES / name).read_bytes())
    Image.radial_gradient("L").resize((300, 200)).convert("RGB").save(photos / "gradient.png")
    common = ["--key", keys.key, "--cert", keys.chain, "--ai-training", "notAllowed", "--no-people"]
    done = cli("sign", photos, "-o", "out/", "--register", "repo.db", *common)
    assert done.returncode == 0, done.stderr
    assert "registered 2 manifests" in done.stderr
    stripped = stripped_copy(tmp_path / "out" / "harbour.jpg", tmp_path / "s.jpg")
    code, record = verify_json(cli, stripped, "--recover", "repo.db", "--trust", keys.ca, "--keep-unsigned")
    assert record["recovered"]["manifest_id"] == manifest_id(tmp_path / "out" / "harbour.jpg")
    assert code == 1 and codes(record) == ["permission-not-allowed"]
    # a second run skips the signed files and finds their manifests kept already
    again = cli("sign", photos, "-o", "out/", "--register", "repo.db", *common)
    assert again.returncode == 0 and "registered 0 manifests" in again.stderr


def test_sign_register_refuses_what_cannot_work_before_signing(cli: Cli, keys: KeyFiles, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    common = ["--key", keys.key, "--cert", keys.chain, "--ai-training", "allowed", "--no-people"]
    done = cli("sign", "a.jpg", "-o", "out/", "--register", "r.db", "--soft-binding", "none", *common)
    one_error_line(done, "--register")
    (tmp_path / "notes.txt").write_text("not a database")
    done = cli("sign", "a.jpg", "-o", "out/", "--register", "notes.txt", *common)
    one_error_line(done, "notes.txt")
    assert not (tmp_path / "out").exists()


def test_an_image_that_cannot_be_decoded_drops_with_recovery_failed_even_if_unsigned_files_are_kept(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, _label = registered()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(stripped.read_bytes()[:2000])  # the header and a little of the scan: no pixels to hash
    code, record = verify_json(cli, cut, "--keep-unsigned", "--recover", repo, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop", record
    assert codes(record)[-1] == "recovery-failed"


def test_inspect_shows_the_recovered_manifest_marked_as_not_in_the_file(
    cli: Cli, registered: Callable[..., tuple[Path, Path, str]], keys: KeyFiles
) -> None:
    stripped, repo, label = registered(training=NOT_ALLOWED)
    done = cli("inspect", stripped, "--recover", repo, "--trust", keys.ca)
    assert done.returncode == 0, done.stderr
    assert "RECOVERED through a soft binding, not embedded in this file" in done.stdout
    assert f"recovered manifest {label}" in done.stdout
    assert "soft binding  io.iscc.v0 ISCC:" in done.stdout
    assert "permission-not-allowed" in done.stdout
    info = json.loads(cli("inspect", stripped, "--recover", repo, "--json").stdout)
    assert info["manifests"] == []
    (match,) = info["recovered"]["matches"]
    assert match["manifest_id"] == label and match["manifest"]["training"]["ai_training"] == "notAllowed"
    plain = json.loads(cli("inspect", stripped, "--json").stdout)
    assert plain["recovered"] is None


def _photo(path: Path, *, flip: bool = False, size: tuple[int, int] = (800, 600)) -> Path:
    """A photograph large enough to carry the watermark (the bundled one, enlarged)."""
    with Image.open(EXAMPLE_IMAGES / "harbour.jpg") as im:
        big = im.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    (big.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if flip else big).save(path, "JPEG", quality=92)
    return path


def test_a_watermarked_file_is_recovered_by_both_methods_in_agreement(cli: Cli, keys: KeyFiles, tmp_path: Path) -> None:
    from rightsmark.softbinding import watermark
    from rightsmark.softbinding.model import WATERMARK_ALG

    _photo(tmp_path / "p.jpg")
    common = ["--key", keys.key, "--cert", keys.chain, "--ai-training", "notAllowed", "--no-people"]
    done = cli("sign", "p.jpg", "-o", "out/", "--watermark", "--register", "repo.db", *common)
    assert done.returncode == 0, done.stderr
    signed = tmp_path / "out" / "p.jpg"
    import c2pa

    with c2pa.Reader(str(signed)) as reader:
        store = json.loads(reader.json())
    recorded = {b.alg: b.value for b in read_bindings(store["manifests"][store["active_manifest"]])}
    assert set(recorded) == {"io.iscc.v0", WATERMARK_ALG}
    assert watermark.detect(signed) == recorded[WATERMARK_ALG]  # the signed pixels carry the recorded identifier
    stripped = stripped_copy(signed, tmp_path / "s.jpg", scale=0.6, quality=75)
    code, record = verify_json(cli, stripped, "--recover", "repo.db", "--trust", keys.ca, "--keep-unsigned")
    assert record["recovered"]["method"] == "fingerprint+watermark"
    assert code == 1 and codes(record) == ["permission-not-allowed"]


def test_a_watermark_and_a_fingerprint_naming_different_manifests_never_keep(
    cli: Cli, keys: KeyFiles, tmp_path: Path, signer: Signer
) -> None:
    from rightsmark.softbinding import watermark

    marked_signer = Signer(signer.material, watermark=True)
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", flip=True)
    marked_signer.sign_file(a, tmp_path / "sa.jpg", open_rights())
    signer.sign_file(b, tmp_path / "sb.jpg", open_rights())
    repo = tmp_path / "repo.db"
    assert [r.outcome for r in register(str(repo), [tmp_path / "sa.jpg", tmp_path / "sb.jpg"])] == ["added"] * 2
    ident = watermark.detect(tmp_path / "sa.jpg")
    assert ident is not None
    # picture b carrying a's identifier: the fingerprint says b's manifest, the watermark a's
    forged = tmp_path / "forged.jpg"
    forged.write_bytes(watermark.embed((tmp_path / "b.jpg").read_bytes(), "jpeg", ident))
    policy = tmp_path / "p.toml"
    policy.write_text(f'recover = "{repo}"\n[treat]\nrecovered = "keep"\nabsent = "keep"\n')
    code, record = verify_json(cli, forged, "--policy", policy, "--trust", keys.ca)
    assert code == 1 and record["decision"] == "drop"
    assert codes(record) == ["recovered-conflict"]
    # each alone is recovered (and, under this policy, kept)
    code, record = verify_json(cli, stripped_copy(tmp_path / "sb.jpg", tmp_path / "b2.jpg"), "--policy", policy,
                               "--trust", keys.ca)  # fmt: skip
    assert code == 0 and record["recovered"]["method"] == "fingerprint"
