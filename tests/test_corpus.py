"""Every real C2PA file in ../shared/corpus (made by other implementations) gets a record, and its
integrity agrees with EXPECTED.tsv. The corpus is read in place, never copied into the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rightsmark import schemas
from rightsmark.models import Decision, Integrity, Trust
from rightsmark.verify.verifier import Verifier

pytestmark = pytest.mark.corpus

AGREES = {
    "valid": lambda i: i is Integrity.VALID,
    "invalid": lambda i: i is Integrity.INVALID,
    "absent": lambda i: i is Integrity.ABSENT,
    "not-valid": lambda i: i is not Integrity.VALID,
    "any": lambda i: True,
}


def _expected(corpus: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in (corpus / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            name, expected, why = line.split("\t")[:3]
            rows.append((name, expected, why))
    return rows


def test_every_corpus_file_gets_a_record_that_agrees_with_expected(corpus: Path) -> None:
    rows = _expected(corpus)
    assert len(rows) == 118
    disagreements = []
    with Verifier() as verifier:
        for name, expected, why in rows:
            record = verifier.verify_file(corpus / "files" / name, display=name)
            assert record.path == name
            assert not schemas.errors(schemas.VERIFY_RECORD, record.to_dict()), name
            if not AGREES[expected](record.integrity):
                disagreements.append(f"{name}: expected {expected} ({why}), got {record.integrity.value}")
            # nothing from another implementation is kept without trust anchors: fail closed
            assert record.decision is Decision.DROP, name
            assert record.trust is Trust.UNTRUSTED, name
    assert not disagreements, "\n".join(disagreements)


def test_expected_categories_are_reported_with_their_reason_codes(corpus: Path) -> None:
    files = corpus / "files"
    with Verifier() as v:
        remote = v.verify_file(files / "c2pa-rs/sdk_fixtures/cloud.jpg")
        assert remote.integrity is Integrity.ABSENT
        assert remote.remote_manifest and remote.remote_manifest.startswith("https://")
        assert [r.code for r in remote.reasons] == ["manifest-remote"]

        tampered = v.verify_file(files / "public-testfiles/adobe-20220124-XCA.jpg")
        assert "assertion.dataHash.mismatch" in tampered.engine_codes
        assert [r.code for r in tampered.reasons] == ["integrity-invalid"]

        # the engine's overall state ignores a tampered ingredient; rightsmark does not
        parent_tampered = v.verify_file(files / "c2pa-rs/sdk_fixtures/CIE-sig-CA.jpg")
        assert parent_tampered.integrity is Integrity.VALID
        assert "claimSignature.mismatch" in parent_tampered.ingredient_codes
        assert "ingredient-invalid" in {r.code for r in parent_tampered.reasons}

        expired = v.verify_file(files / "public-testfiles/nikon-20221019-building.jpeg")
        assert expired.integrity is Integrity.INVALID
        assert "signingCredential.expired" in expired.engine_codes

        unsupported = v.verify_file(files / "public-testfiles/monotype-20240712-monotype_sans.ttf")
        assert unsupported.integrity is Integrity.ERROR


def test_legacy_and_cawg_training_assertions_are_read(corpus: Path) -> None:
    """Files from other tools that carry training-mining assertions have them read (most restrictive wins)."""
    index = (corpus / "INDEX.tsv").read_text(encoding="utf-8").splitlines()[1:]
    with_tm = [line.split("\t")[0] for line in index if "training-mining" in line.split("\t")[-1]]
    assert with_tm, "the corpus lists files with training-mining assertions"
    read_any = False
    with Verifier() as v:
        for name in with_tm:
            record = v.verify_file(corpus / "files" / name)
            if record.integrity is Integrity.VALID:
                values = set(record.training.to_dict().values())
                read_any |= bool(values - {"unspecified"})
    assert read_any


def test_corpus_fixture_anchors_make_their_files_trusted(corpus: Path, tmp_path: Path) -> None:
    """The c2pa-python fixture C.jpg is Trusted under that project's own test anchors."""
    settings = json.loads((corpus / "trust" / "c2pa-python_trust_config_test_settings.json").read_text())
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(settings["trust"]["trust_anchors"])
    with Verifier([anchors]) as v:
        record = v.verify_file(corpus / "files" / "c2pa-python" / "C.jpg")
    assert record.integrity is Integrity.VALID
    assert record.trust is Trust.TRUSTED
    assert record.signer is not None and record.signer.common_name
