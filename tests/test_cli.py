"""The command line as a user meets it: real processes, real keys, real images, the real C2PA engine.

Happy paths and the contracts scripts rely on: files written by ``keys init``, the README flow,
the shape of verify records, how paths are reported, exit codes, and what ``sign`` records.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from rightsmark.keys.devca import KeyFiles

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "examples" / "images"
EXAMPLE_CONSENT = REPO / "examples" / "consent.json"

Cli = Callable[..., Any]

SIGNER_FIELDS = {"common_name", "issuer", "algorithm", "time"}
TRAINING_FIELDS = {"ai_training", "ai_generative_training", "ai_inference", "data_mining"}


def key_args(keys: KeyFiles) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain)]


def open_args(keys: KeyFiles) -> list[str]:
    """Options that give a file the default policy keeps (with --trust keys.ca)."""
    return [*key_args(keys), "--author", "Jane Doe", "--license", "CC-BY-4.0", "--ai-training", "allowed"]


def copy_image(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(IMAGES / name, dest)
    return dest


def by_path(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in records}


def reason_codes(record: dict[str, Any]) -> list[str]:
    return [r["code"] for r in record["reasons"]]


def assert_ok(result: Any) -> None:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# keys init


@pytest.mark.parametrize(("algorithm", "engine_alg"), [("es256", "ES256"), ("ps256", "PS256"), ("ed25519", "ED25519")])
def test_keys_init_writes_a_chain_that_signs_and_verifies_as_trusted(
    cli: Cli, tmp_path: Path, algorithm: str, engine_alg: str
) -> None:
    result = cli("keys", "init", "k", "--algorithm", algorithm)
    assert_ok(result)
    k = tmp_path / "k"
    assert sorted(p.name for p in k.iterdir()) == ["ca.pem", "signer.key", "signer.pem"]
    assert stat.S_IMODE((k / "signer.key").stat().st_mode) == 0o600

    (root,) = x509.load_pem_x509_certificates((k / "ca.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((k / "signer.pem").read_bytes())
    assert len(chain) == 2
    leaf, issuer = chain
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(issuer)  # leaf first, then the certificate that issued it
    issuer.verify_directly_issued_by(root)

    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    signed = cli(
        "sign", "photo.jpg", "-o", "signed", "--key", "k/signer.key", "--cert", "k/signer.pem",
        "--ai-training", "allowed", "--no-people",
    )  # fmt: skip
    assert_ok(signed)
    verified = cli("verify", "signed/photo.jpg", "--trust", "k/ca.pem", "--format", "jsonl")
    assert_ok(verified)
    (record,) = verified.jsonl()
    assert record["integrity"] == "valid"
    assert record["trust"] == "trusted"
    assert record["signer"]["algorithm"] == engine_alg
    assert record["decision"] == "keep", record["reasons"]


def test_keys_init_refuses_to_overwrite_an_existing_set(cli: Cli, tmp_path: Path) -> None:
    assert_ok(cli("keys", "init", "k"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "k").iterdir()}
    again = cli("keys", "init", "k")
    assert again.returncode != 0
    assert "Traceback" not in again.stderr
    assert "already exists" in again.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "k").iterdir()} == before


def test_keys_init_refuses_when_any_file_of_the_set_exists(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "signer.key").write_text("an old key")
    result = cli("keys", "init", "k")
    assert result.returncode != 0
    assert "signer.key" in result.stderr
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["signer.key"]
    assert (tmp_path / "k" / "signer.key").read_text() == "an old key"


# ---------------------------------------------------------------------------------------------
# The README flow


def test_readme_flow(cli: Cli, tmp_path: Path) -> None:
    photo = copy_image("harbour.jpg", tmp_path / "photo.jpg")
    original = photo.read_bytes()
    assert_ok(cli("keys", "init", "mykeys/"))
    signed = cli(
        "sign", "photo.jpg", "-o", "signed/", "--key", "mykeys/signer.key", "--cert", "mykeys/signer.pem",
        "--author", "Jane Doe", "--license", "CC-BY-4.0", "--ai-training", "allowed", "--no-people",
    )  # fmt: skip
    assert_ok(signed)
    assert (tmp_path / "signed" / "photo.jpg").is_file()
    assert photo.read_bytes() == original  # the input is never modified

    verified = cli("verify", "signed/photo.jpg", "--trust", "mykeys/ca.pem")
    assert_ok(verified)
    assert verified.stdout.startswith("KEEP  signed/photo.jpg")

    inspected = cli("inspect", "signed/photo.jpg")
    assert_ok(inspected)
    text = inspected.stdout
    assert "Jane Doe" in text
    assert "CC-BY-4.0" in text
    assert "ai_training" in text and "allowed" in text
    assert "no identifiable people" in text

    as_json = cli("inspect", "signed/photo.jpg", "--json", "--trust", "mykeys/ca.pem")
    assert_ok(as_json)
    info = as_json.json()
    assert isinstance(info, dict)
    assert info["path"] == "signed/photo.jpg"
    assert (info["integrity"], info["trust"], info["decision"]) == ("valid", "trusted", "keep")
    (manifest,) = info["manifests"]
    assert manifest["active"] is True
    assert manifest["author"] == ["Jane Doe"]
    assert manifest["license"]["id"] == "CC-BY-4.0"
    assert manifest["training"]["ai_training"] == "allowed"
    assert manifest["training"]["data_mining"] == "notAllowed"


# ---------------------------------------------------------------------------------------------
# verify: record shape, paths, exit codes


def assert_record_shape(record: dict[str, Any]) -> None:
    expected = {
        "path",
        "integrity",
        "trust",
        "signer",
        "author",
        "license",
        "training",
        "consent",
        "decision",
        "reasons",
    }
    assert expected <= record.keys()
    assert record["integrity"] in {"valid", "invalid", "absent", "error"}
    assert record["trust"] in {"trusted", "untrusted"}
    assert record["decision"] in {"keep", "drop"}
    assert isinstance(record["author"], list)
    assert record["consent"]["status"]
    assert record["training"].keys() >= TRAINING_FIELDS
    for reason in record["reasons"]:
        assert {"code", "message"} <= reason.keys()
        assert reason["code"] and reason["message"]


@pytest.fixture
def signed_tree(cli: Cli, tmp_path: Path, keys: KeyFiles) -> Path:
    """photos/{harbour.jpg, market.png, notes.txt, sub/deeper/street.webp} signed (as a directory) into signed/."""
    photos = tmp_path / "photos"
    copy_image("harbour.jpg", photos / "harbour.jpg")
    copy_image("market.png", photos / "market.png")
    copy_image("street.webp", photos / "sub" / "deeper" / "street.webp")
    (photos / "notes.txt").write_text("not an image")
    result = cli("sign", "photos", "-o", "signed", *open_args(keys), "--no-people")
    assert_ok(result)
    assert "skipped 1 non-image" in result.stderr
    return tmp_path / "signed"


def test_sign_directory_mirrors_the_tree(signed_tree: Path) -> None:
    files = sorted(str(p.relative_to(signed_tree)) for p in signed_tree.rglob("*") if p.is_file())
    assert files == ["harbour.jpg", "market.png", "sub/deeper/street.webp"]


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_verify_machine_formats_give_one_complete_record_per_file(
    cli: Cli, signed_tree: Path, keys: KeyFiles, fmt: str
) -> None:
    result = cli("verify", "signed", "--trust", keys.ca, "--format", fmt)
    assert_ok(result)
    records = result.jsonl() if fmt == "jsonl" else result.json()
    assert isinstance(records, list)
    assert [r["path"] for r in records] == ["signed/harbour.jpg", "signed/market.png", "signed/sub/deeper/street.webp"]
    for record in records:
        assert_record_shape(record)
        assert (record["integrity"], record["trust"], record["decision"]) == ("valid", "trusted", "keep")
        assert record["reasons"] == []
        assert record["signer"].keys() >= SIGNER_FIELDS
        assert record["signer"]["common_name"] == "rightsmark development signer"
        assert record["signer"]["issuer"] == "rightsmark development CA"
        assert record["signer"]["algorithm"] == "ES256"
        assert record["author"] == ["Jane Doe"]
        assert record["license"] == {"id": "CC-BY-4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
        assert {k: record["training"][k] for k in TRAINING_FIELDS} == {
            "ai_training": "allowed",
            "ai_generative_training": "notAllowed",
            "ai_inference": "notAllowed",
            "data_mining": "notAllowed",
        }
        assert record["consent"]["status"] == "not-needed"


def test_verify_reports_paths_as_given(cli: Cli, signed_tree: Path, keys: KeyFiles) -> None:
    result = cli(
        "verify", "signed/", "signed/sub", "./signed/harbour.jpg", str(signed_tree / "market.png"),
        "--trust", keys.ca, "--format", "jsonl",
    )  # fmt: skip
    assert_ok(result)
    assert [r["path"] for r in result.jsonl()] == [
        "signed/harbour.jpg",
        "signed/market.png",
        "signed/sub/deeper/street.webp",
        "signed/sub/deeper/street.webp",
        "./signed/harbour.jpg",
        str(signed_tree / "market.png"),
    ]


def test_verify_exit_code_is_1_when_any_file_is_dropped(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    assert_ok(cli("sign", "photo.jpg", "-o", "signed", *open_args(keys), "--no-people"))
    copy_image("market.png", tmp_path / "unsigned.png")
    text = cli("verify", "signed/photo.jpg", "unsigned.png", "--trust", keys.ca)
    assert text.returncode == 1, text.stderr
    assert "Traceback" not in text.stderr
    assert "KEEP  signed/photo.jpg" in text.stdout
    assert "DROP  unsigned.png" in text.stdout
    jsonl = cli("verify", "signed/photo.jpg", "unsigned.png", "--trust", keys.ca, "-f", "jsonl")
    assert jsonl.returncode == 1
    kept, dropped = jsonl.jsonl()
    assert kept["decision"] == "keep"
    assert (dropped["integrity"], dropped["decision"]) == ("absent", "drop")
    assert reason_codes(dropped) == ["integrity-absent"]


def test_verify_without_trust_anchors_drops(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    assert_ok(cli("sign", "photo.jpg", "-o", "signed", *open_args(keys), "--no-people"))
    # by default the bundled C2PA trust lists are consulted: a development CA is on none of them
    result = cli("verify", "signed/photo.jpg", "-f", "jsonl")
    assert result.returncode == 1
    (record,) = result.jsonl()
    assert (record["integrity"], record["trust"]) == ("valid", "untrusted")
    assert reason_codes(record) == ["untrusted"]
    message = record["reasons"][0]["message"]
    assert "'rightsmark development signer'" in message and "trust lists c2pa, c2pa-tsa" in message, message
    # with no list at all, nothing can vouch for any signer
    for flags in (["--trust-list", "none"], ["--no-default-trust"]):
        result = cli("verify", "signed/photo.jpg", "-f", "jsonl", *flags)
        (record,) = result.jsonl()
        assert reason_codes(record) == ["no-trust-anchors"], flags


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trust", "missing.pem"], "missing.pem: no such file"),
        (["--trust", "photo.jpg"], "photo.jpg: holds no PEM certificate"),
        (["--trust", "."], "is a directory"),
        (["--format", "xml"], "xml"),
    ],
    ids=["trust-missing", "trust-not-pem", "trust-directory", "unknown-format"],
)
def test_verify_exit_code_is_2_for_usage_errors(cli: Cli, tmp_path: Path, args: list[str], expected: str) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    result = cli("verify", "photo.jpg", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert result.stdout == ""


def test_verify_writes_report_file(cli: Cli, signed_tree: Path, tmp_path: Path, keys: KeyFiles) -> None:
    result = cli("verify", "signed", "--trust", keys.ca, "-f", "jsonl", "-o", "report.jsonl")
    assert_ok(result)
    assert result.stdout == ""
    lines = (tmp_path / "report.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert not list(tmp_path.glob(".*.part"))


# ---------------------------------------------------------------------------------------------
# sign: what gets recorded and what verify makes of it


def sign_and_verify(cli: Cli, tmp_path: Path, keys: KeyFiles, *sign_args: str | Path) -> dict[str, Any]:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    assert_ok(cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), *sign_args))
    result = cli("verify", "signed/photo.jpg", "--trust", keys.ca, "-f", "jsonl")
    assert "Traceback" not in result.stderr
    (record,) = result.jsonl()
    assert result.returncode == (0 if record["decision"] == "keep" else 1)
    assert (record["integrity"], record["trust"]) == ("valid", "trusted")
    return record


def test_default_permissions_are_not_allowed(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    record = sign_and_verify(cli, tmp_path, keys, "--no-people")
    assert record["decision"] == "drop"
    assert reason_codes(record) == ["permission-not-allowed"]
    assert {k: record["training"][k] for k in TRAINING_FIELDS} == dict.fromkeys(TRAINING_FIELDS, "notAllowed")


def test_constrained_permission_is_dropped_with_its_terms(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    terms = "research only, contact licensing@example.org"
    record = sign_and_verify(
        cli, tmp_path, keys, "--no-people", "--ai-training", "constrained", "--constraint-info", terms
    )
    assert record["decision"] == "drop"
    assert reason_codes(record) == ["permission-constrained"]
    assert terms in record["reasons"][0]["message"]
    assert record["training"]["ai_training"] == "constrained"


def write_consent(path: Path, **changes: Any) -> Path:
    data = json.loads(EXAMPLE_CONSENT.read_text())
    data["subjects"][0].update(changes)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "status", "codes"),
    [
        (None, "granted", []),
        ({"purposes": {"ai_training": "notAllowed"}}, "not-covered", ["consent-not-covered"]),
    ],
    ids=["example-file-granted", "not-covered"],
)
def test_consent_is_recorded_and_judged(
    cli: Cli, tmp_path: Path, keys: KeyFiles, changes: dict[str, Any] | None, status: str, codes: list[str]
) -> None:
    consent = EXAMPLE_CONSENT if changes is None else write_consent(tmp_path / "consent.json", **changes)
    record = sign_and_verify(cli, tmp_path, keys, "--ai-training", "allowed", "--consent", consent)
    assert record["consent"]["status"] == status
    assert reason_codes(record) == codes
    assert record["decision"] == ("keep" if not codes else "drop")
    (subject,) = record["consent"]["subjects"]
    assert subject["ref"] == "subject-1"
    assert subject["release_id"] == "MR-2026-0042"


def test_consent_that_expires_after_signing_is_judged_expired(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    """Consent already expired is never signed (tests/test_hostile_signing.py); one that runs out later is
    judged expired from that day on."""
    import datetime as dt

    from rightsmark.verify.verifier import Verifier

    consent = write_consent(tmp_path / "consent.json", granted="2020-01-01", expires="2099-01-01")
    record = sign_and_verify(cli, tmp_path, keys, "--ai-training", "allowed", "--consent", consent)
    assert record["consent"]["status"] == "granted" and record["decision"] == "keep"
    later = dt.datetime(2099, 1, 2, tzinfo=dt.UTC)
    with Verifier([keys.ca], now=later) as v:
        judged = v.verify_file(tmp_path / "signed" / "photo.jpg")
    assert judged.consent.status.value == "expired"
    assert [r.code for r in judged.reasons] == ["consent-expired"]


def test_source_type_is_recorded(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    assert_ok(
        cli(
            "sign",
            "photo.jpg",
            "-o",
            "signed",
            *key_args(keys),
            "--no-people",
            "--source-type",
            "trainedAlgorithmicMedia",
        )
    )
    text = cli("inspect", "signed/photo.jpg")
    assert_ok(text)
    assert "c2pa.created (trainedAlgorithmicMedia)" in text.stdout
    info = cli("inspect", "signed/photo.jpg", "--json").json()
    assert isinstance(info, dict)
    assert str(info["manifests"][0]["digital_source_type"]).endswith("/trainedAlgorithmicMedia")


def test_existing_output_is_refused_unless_force(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    copy_image("harbour.jpg", tmp_path / "photo.jpg")
    out = tmp_path / "signed" / "photo.jpg"
    out.parent.mkdir()
    out.write_bytes(b"somebody else's file")  # not written by rightsmark: never replaced without --force
    refused = cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), "--no-people", "--author", "First")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "signed/photo.jpg: output exists" in refused.stderr
    assert "--force" in refused.stderr
    assert out.read_bytes() == b"somebody else's file"

    forced = cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), "--no-people", "--author", "First", "--force")
    assert_ok(forced)
    first = out.read_bytes()
    same = cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), "--no-people", "--author", "First")
    assert same.returncode == 0 and "already signed" in same.stdout  # the same settings: skipped
    assert out.read_bytes() == first
    # its own earlier output, untouched since, is signed again when the settings change
    again = cli("sign", "photo.jpg", "-o", "signed", *key_args(keys), "--no-people", "--author", "Second")
    assert_ok(again)
    assert out.read_bytes() != first
    info = cli("inspect", "signed/photo.jpg", "--json").json()
    assert isinstance(info, dict)
    assert info["manifests"][0]["author"] == ["Second"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["photo.jpg"]  # no temporary files left behind
