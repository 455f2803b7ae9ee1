"""The bundled, pinned trust lists: they load, they match their manifest, and anything off is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rightsmark.errors import TrustError, UsageError
from rightsmark.trust import lists as trustlists

ROLES = {"c2pa": "claim-signer", "c2pa-tsa": "tsa", "interim": "claim-signer"}
# What the pinned snapshot holds (see src/rightsmark/trustlists/data/README.md); updating it updates these.
COUNTS = {"c2pa": (30, 0), "c2pa-tsa": (22, 0), "interim": (18, 86)}


def make_cert(tmp_path: Path, name: str, *, ca: bool | None) -> tuple[Path, str]:
    """A self-signed certificate written as PEM; ``ca=None`` leaves basicConstraints out. Returns (path, sha256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "t")]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled data that ``load`` reads instead of the installed one."""
    copy = tmp_path / "data"
    shutil.copytree(trustlists.DATA_DIR, copy)
    monkeypatch.setattr(trustlists, "DATA_DIR", copy)
    return copy


@pytest.mark.parametrize("name", trustlists.BUNDLED)
def test_bundled_list_loads(name: str) -> None:
    tl = trustlists.load(name)
    assert tl.name == name
    assert tl.role == ROLES[name]
    assert tl.origin == "bundled"
    assert (tl.anchor_count, tl.allowed_count) == COUNTS[name]
    assert tl.anchors_pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert tl.warnings == ()  # every anchor of this snapshot is a CA certificate
    assert len(tl.sha256) == 64
    described = tl.describe()
    for key in ("name", "role", "sha256", "origin", "repository", "path", "commit", "changed", "date", "retrieved"):
        assert described[key], key
    assert described["retrieved"] == "2026-11-27"
    assert trustlists.load(name) is tl  # cached
    assert trustlists.description(name)


@pytest.mark.parametrize("name", trustlists.BUNDLED)
def test_pinned_files_hold_what_loading_a_users_file_would_keep(name: str) -> None:
    """Loading a bundled list parses no certificate (its bytes are pinned); here they are parsed instead, as a
    user's file is: every certificate parses and every anchor is a CA certificate, so nothing would be dropped."""
    manifest = json.loads((trustlists.DATA_DIR / "MANIFEST.json").read_text())
    files = {f["kind"]: trustlists.DATA_DIR / f["path"] for f in manifest["lists"][name]["files"]}
    bundled = trustlists.load(name)
    parsed = trustlists.load(name, files["anchors"])  # the path a --trust-list-file takes: parsed, non-CA dropped
    assert parsed.warnings == ()
    assert parsed.anchors_pem == bundled.anchors_pem
    allowed = x509.load_pem_x509_certificates(bundled.allowed_pem.encode()) if bundled.allowed_pem else []
    assert len(allowed) == bundled.allowed_count == COUNTS[name][1]


def test_loading_the_bundled_lists_parses_no_certificate() -> None:
    code = (
        "import sys; from rightsmark.trust import lists\n"
        "tls = [lists.load(n) for n in lists.BUNDLED]\n"
        "print(sum(t.anchor_count for t in tls), 'cryptography' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [str(sum(c[0] for c in COUNTS.values())), "False"]


def test_defaults_and_interim_extras() -> None:
    assert trustlists.DEFAULT == ("c2pa", "c2pa-tsa")
    assert set(trustlists.DEFAULT) <= set(trustlists.BUNDLED)
    interim = trustlists.load("interim")
    assert "1.3.6.1.4.1.62558.2.1" in interim.ekus  # c2pa-claim_signing
    assert all(not oid.startswith("//") for oid in interim.ekus)
    assert trustlists.load("c2pa").ekus == ()
    assert trustlists.load("c2pa").allowed_pem == ""


def test_manifest_matches_files() -> None:
    manifest = json.loads((trustlists.DATA_DIR / "MANIFEST.json").read_text())
    assert set(manifest["lists"]) == set(trustlists.BUNDLED)
    for name, item in manifest["lists"].items():
        assert item["role"] == ROLES[name]
        for f in item["files"]:
            data = (trustlists.DATA_DIR / f["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
            assert f["kind"] in ("anchors", "allowed", "ekus")


def test_entries() -> None:
    listed = trustlists.entries(trustlists.load("c2pa"))
    assert len(listed) == COUNTS["c2pa"][0]
    assert all(e.kind == "anchor" and e.sha256.startswith("sha256:") and len(e.sha256) == 71 for e in listed)
    assert all(e.not_before.tzinfo is not None and e.not_before < e.not_after for e in listed)
    interim = trustlists.entries(trustlists.load("interim"))
    assert [e.kind for e in interim].count("allowed") == COUNTS["interim"][1]


def test_tampered_file_refused(data_copy: Path) -> None:
    target = data_copy / "c2pa-tsa" / "C2PA-TSA-TRUST-LIST.pem"
    data = bytearray(target.read_bytes())
    data[200] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(TrustError) as caught:
        trustlists.load("c2pa-tsa")
    message = caught.value.one_line()
    assert "C2PA-TSA-TRUST-LIST.pem" in message and "reinstall rightsmark" in message
    assert "\n" not in message
    assert trustlists.load("c2pa").anchor_count == COUNTS["c2pa"][0]  # the other lists are intact


def test_missing_file_refused(data_copy: Path) -> None:
    (data_copy / "interim" / "store.cfg").unlink()
    with pytest.raises(TrustError, match=r"store\.cfg.*reinstall rightsmark"):
        trustlists.load("interim")


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"lists": {}}'])
def test_broken_manifest_refused(data_copy: Path, content: bytes) -> None:
    (data_copy / "MANIFEST.json").write_bytes(content)
    with pytest.raises(TrustError, match=r"MANIFEST\.json.*reinstall rightsmark"):
        trustlists.load("c2pa")


def test_missing_manifest_refused(data_copy: Path) -> None:
    (data_copy / "MANIFEST.json").unlink()
    with pytest.raises(TrustError, match=r"MANIFEST\.json"):
        trustlists.load("c2pa")


@pytest.mark.parametrize("name", ["nope", "none", "C2PA", ""])
def test_unknown_name_refused(name: str) -> None:
    with pytest.raises(TrustError, match="c2pa, c2pa-tsa, interim"):
        trustlists.load(name)


def test_override_replaces_anchors(tmp_path: Path) -> None:
    path, fingerprint = make_cert(tmp_path, "Newer Root", ca=True)
    tl = trustlists.load("c2pa", path)
    assert tl.role == "claim-signer"
    assert tl.anchor_count == 1
    assert tl.origin == str(path)
    file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert tl.provenance == {"file": str(path), "file_sha256": file_sha256, "replaces": "c2pa/C2PA-TRUST-LIST.pem"}
    assert tl.describe()["origin"] == str(path)
    assert tl.sha256 != trustlists.load("c2pa").sha256
    [entry] = trustlists.entries(tl)
    assert entry.sha256 == f"sha256:{fingerprint}"
    assert "CN=Newer Root" in entry.subject
    assert trustlists.load("c2pa", str(path)) is tl


def test_override_of_tsa_keeps_role(tmp_path: Path) -> None:
    path, _ = make_cert(tmp_path, "TSA Root", ca=True)
    assert trustlists.load("c2pa-tsa", path).role == "tsa"


def test_interim_override_keeps_allowed_and_ekus(tmp_path: Path) -> None:
    path, _ = make_cert(tmp_path, "Interim Root", ca=True)
    bundled = trustlists.load("interim")
    tl = trustlists.load("interim", path)
    assert tl.anchor_count == 1
    assert tl.allowed_pem == bundled.allowed_pem and tl.ekus == bundled.ekus
    assert tl.provenance["kept"] == "interim/allowed.pem interim/store.cfg"
    assert tl.provenance["kept_from"].startswith("github.com/contentauth/verify-site@")


@pytest.mark.parametrize("ca", [False, None], ids=["ca-false", "no-basic-constraints"])
def test_non_ca_entry_dropped_with_warning(tmp_path: Path, ca: bool | None) -> None:
    root, _ = make_cert(tmp_path, "Good Root", ca=True)
    leaf, fingerprint = make_cert(tmp_path, "Just A Signer", ca=ca)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(root.read_bytes() + b"\n" + leaf.read_bytes())
    tl = trustlists.load("c2pa", combined)
    assert tl.anchor_count == 1
    [warning] = tl.warnings
    assert "CN=Just A Signer" in warning and f"sha256:{fingerprint}" in warning and "not a CA" in warning
    assert [e.subject for e in trustlists.entries(tl)] == ["O=t,CN=Good Root"]


def test_override_with_only_non_ca_refused(tmp_path: Path) -> None:
    leaf, _ = make_cert(tmp_path, "Only A Signer", ca=False)
    with pytest.raises(TrustError, match="no CA certificate"):
        trustlists.load("c2pa", leaf)


def test_unusable_override_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(TrustError, match=r"missing\.pem: no such file"):
        trustlists.load("c2pa", missing)
    with pytest.raises(TrustError, match="is a directory"):
        trustlists.load("c2pa", tmp_path)
    empty = tmp_path / "empty.pem"
    empty.write_text("just some text\n")
    with pytest.raises(TrustError, match=r"empty\.pem: holds no PEM certificate"):
        trustlists.load("c2pa", empty)
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nMII!!notbase64\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustError, match=r"damaged\.pem: holds a damaged PEM"):
        trustlists.load("c2pa", damaged)
    truncated = tmp_path / "truncated.pem"
    good, _ = make_cert(tmp_path, "Root", ca=True)
    truncated.write_bytes(good.read_bytes() + b"-----BEGIN CERTIFICATE-----\nMIIB\n")
    with pytest.raises(TrustError, match=r"truncated\.pem: holds a damaged PEM"):
        trustlists.load("c2pa", truncated)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustError, match=r"garbage\.pem: holds a damaged certificate"):
        trustlists.load("c2pa", garbage)


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_override_refused(tmp_path: Path) -> None:
    path, _ = make_cert(tmp_path, "Locked Root", ca=True)
    path.chmod(0)
    with pytest.raises(TrustError, match="cannot read"):
        trustlists.load("c2pa", path)


def test_parse_override() -> None:
    assert trustlists.parse_override("c2pa=/x/y.pem") == ("c2pa", Path("/x/y.pem"))
    with pytest.raises(UsageError):
        trustlists.parse_override("c2pa")
    with pytest.raises(TrustError, match="known lists"):
        trustlists.parse_override("other=/x.pem")


# ---------------------------------------------------------------- the CLI, through a real process


def rightsmark(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("RIGHTSMARK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "rightsmark", *args], capture_output=True, text=True, encoding="utf-8", env=env
    )


def test_cli_list() -> None:
    done = rightsmark("trust", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "role", "entries"]
    for name in trustlists.BUNDLED:
        [line] = [line for line in lines if line.split()[0] == name]
        assert trustlists.load(name).sha256[:16] in line
        assert ("yes" if name in trustlists.DEFAULT else "no") in line.split()


def test_cli_list_json() -> None:
    done = rightsmark("trust", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["name"] for row in rows] == list(trustlists.BUNDLED)
    for row in rows:
        assert (row["anchors"], row["allowed"]) == COUNTS[row["name"]]
        assert row["default"] is (row["name"] in trustlists.DEFAULT)
        assert row["sha256"] == trustlists.load(row["name"]).sha256
        assert row["commit"] and row["repository"] and row["retrieved"] == "2026-11-27"


def test_cli_show_lists_fingerprints() -> None:
    done = rightsmark("trust", "show", "c2pa")
    assert done.returncode == 0, done.stderr
    assert "repository: github.com/c2pa-org/conformance-public" in done.stdout
    for entry in trustlists.entries(trustlists.load("c2pa")):
        assert entry.sha256 in done.stdout
    json_done = rightsmark("trust", "show", "interim", "--json")
    doc = json.loads(json_done.stdout)
    assert len(doc["entries"]) == sum(COUNTS["interim"]) and doc["ekus"]


def test_cli_show_override(tmp_path: Path) -> None:
    root, _ = make_cert(tmp_path, "Good Root", ca=True)
    leaf, fingerprint = make_cert(tmp_path, "Just A Signer", ca=False)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(root.read_bytes() + leaf.read_bytes())
    done = rightsmark("trust", "show", "c2pa-tsa", "--trust-list-file", f"c2pa-tsa={combined}")
    assert done.returncode == 0, done.stderr
    assert f"origin: {combined}" in done.stdout
    assert "CN=Good Root" in done.stdout
    assert f"warning: {combined}: entry 'O=t,CN=Just A Signer' (sha256:{fingerprint})" in done.stdout
    wrong = rightsmark("trust", "show", "c2pa", "--trust-list-file", f"c2pa-tsa={combined}")
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [("trust", "show", "nope"), ("trust", "show", "c2pa", "--trust-list-file", "c2pa=/no/such/file.pem")],
    ids=["unknown-list", "missing-override"],
)
def test_cli_errors_are_one_line(args: tuple[str, ...]) -> None:
    done = rightsmark(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("rightsmark: ") and "Traceback" not in done.stderr
