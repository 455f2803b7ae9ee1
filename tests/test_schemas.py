"""The JSON Schemas in schemas/ accept what rightsmark really writes and reject what it must not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rightsmark import schemas
from rightsmark.errors import ConsentError
from rightsmark.rights.consent import CONSENT_LABEL, load_consent_file
from rightsmark.rights.manifest import Rights, assertions_by_label
from rightsmark.sign.signer import Signer
from rightsmark.verify.verifier import Verifier

REPO = Path(__file__).resolve().parents[1]


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    for path in sorted((REPO / "schemas").glob("*.json")):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_issue_example_consent_file_is_accepted_as_written() -> None:
    declaration = load_consent_file(REPO / "examples" / "consent.json")
    assert declaration.identifiable_people
    (subject,) = declaration.subjects
    assert subject["release_id"] == "MR-2026-0042"
    # the placeholder sha256 is accepted but never embedded as if it were a digest
    assert "release_sha256" not in subject


def test_consent_input_refuses_names_and_unknown_fields(tmp_path: Path) -> None:
    data = json.loads((REPO / "examples" / "consent.json").read_text())
    data["subjects"][0]["name"] = "Nguyen Van A"
    bad = tmp_path / "consent.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ConsentError) as err:
        load_consent_file(bad)
    assert "name" in err.value.one_line()
    assert str(bad) in err.value.one_line()


def test_signed_consent_assertion_validates_against_its_schema(
    tmp_path: Path, jpeg: Path, signer: Signer, rights: Rights, keys
) -> None:
    declaration = load_consent_file(REPO / "examples" / "consent.json")
    with_people = Rights(consent=declaration, authors=rights.authors, license=rights.license, training=rights.training)
    out = tmp_path / "out" / jpeg.name
    signer.sign_file(jpeg, out, with_people)
    with Verifier([keys.ca]) as v:
        record, reading = v.examine(out.read_bytes(), str(out))
    assert reading.active is not None
    assertion = assertions_by_label(reading.active)[CONSENT_LABEL]
    assert schemas.errors(schemas.CONSENT_ASSERTION, assertion) == []
    assert assertion["subjects"][0]["ref"] == "subject-1"
    assert record.consent.status.value == "granted"
    assert schemas.errors(schemas.VERIFY_RECORD, record.to_dict()) == []


def test_verify_records_of_every_kind_validate(tmp_path: Path, signed_jpeg: Path, jpeg: Path, keys) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\x00not an image at all" * 10)
    with Verifier([keys.ca]) as v:
        records = [v.verify_file(p) for p in (signed_jpeg, jpeg, garbage, tmp_path / "missing.jpg")]
    assert [r.integrity.value for r in records] == ["valid", "absent", "error", "error"]
    for r in records:
        assert schemas.errors(schemas.VERIFY_RECORD, r.to_dict()) == []


def test_record_schema_rejects_a_record_without_decision(signed_jpeg: Path, keys) -> None:
    with Verifier([keys.ca]) as v:
        data = v.verify_file(signed_jpeg).to_dict()
    del data["decision"]
    assert schemas.errors(schemas.VERIFY_RECORD, data)


def test_record_schema_lists_exactly_the_policy_reason_codes() -> None:
    from rightsmark.verify.policy import REASON_CODES

    enum = schemas.load(schemas.VERIFY_RECORD)["properties"]["reasons"]["items"]["properties"]["code"]["enum"]
    assert set(enum) == set(REASON_CODES)


def test_issue_policy_file_validates_against_the_policy_schema() -> None:
    import tomllib

    data = tomllib.loads((REPO / "examples" / "policy.toml").read_text())
    assert schemas.errors(schemas.POLICY, data) == []
    data["licenses"]["alow"] = ["CC0-1.0"]
    assert schemas.errors(schemas.POLICY, data)
