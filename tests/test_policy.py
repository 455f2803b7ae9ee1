"""Judging consent and permissions: fail closed on every unknown, missing or malformed value."""

from __future__ import annotations

import datetime as dt

import pytest

from rightsmark.errors import LicenseError
from rightsmark.models import ConsentStatus, Purpose, Use
from rightsmark.rights.consent import judge_consent
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import read_training

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def subject(**over: object) -> dict[str, object]:
    s: dict[str, object] = {
        "ref": "subject-1",
        "release_id": "MR-1",
        "purposes": {"ai_training": "allowed"},
        "commercial": True,
        "granted": "2026-05-01",
        "expires": "2031-05-01",
    }
    s.update(over)
    return s


def assertion(*subjects: dict[str, object]) -> dict[str, object]:
    return {"version": 1, "identifiable_people": bool(subjects), "subjects": list(subjects)}


@pytest.mark.parametrize(
    ("subjects", "status"),
    [
        ((), ConsentStatus.NOT_NEEDED),
        ((subject(),), ConsentStatus.GRANTED),
        ((subject(expires="2026-12-31"),), ConsentStatus.EXPIRED),
        ((subject(granted="2027-02-01"),), ConsentStatus.NOT_YET_VALID),
        ((subject(purposes={"ai_training": "notAllowed"}),), ConsentStatus.NOT_COVERED),
        ((subject(purposes={"ai_training": "constrained"}),), ConsentStatus.NOT_COVERED),
        ((subject(purposes={"data_mining": "allowed"}),), ConsentStatus.NOT_COVERED),
        ((subject(), subject(ref="subject-2", expires="2026-06-01")), ConsentStatus.EXPIRED),
    ],
)
def test_consent_status(subjects: tuple[dict[str, object], ...], status: ConsentStatus) -> None:
    assert judge_consent(assertion(*subjects), Purpose.AI_TRAINING, NOW).status is status


def test_expiry_date_is_inclusive_through_the_end_of_that_day() -> None:
    last_day = dt.datetime(2031, 5, 1, 22, 0, tzinfo=dt.UTC)
    assert judge_consent(assertion(subject()), Purpose.AI_TRAINING, last_day).status is ConsentStatus.GRANTED
    next_day = dt.datetime(2031, 5, 2, 0, 1, tzinfo=dt.UTC)
    assert judge_consent(assertion(subject()), Purpose.AI_TRAINING, next_day).status is ConsentStatus.EXPIRED


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "yes",
        {"version": 1, "identifiable_people": True, "subjects": []},
        {"version": 2, "identifiable_people": False, "subjects": []},
        {"version": 1, "identifiable_people": False, "subjects": [subject()]},
        assertion(subject(purposes={"ai_training": "sure"})),
        assertion(subject(granted="someday")),
        {"identifiable_people": False},
    ],
)
def test_missing_or_malformed_consent_is_never_permission(bad: object) -> None:
    status = judge_consent(bad, Purpose.AI_TRAINING, NOW).status
    assert status in (ConsentStatus.MISSING, ConsentStatus.INVALID)


def test_training_reads_cawg_and_legacy_and_takes_the_most_restrictive() -> None:
    both = {
        "cawg.training-mining": {"entries": {"cawg.ai_training": {"use": "allowed"}}},
        "c2pa.training-mining": {
            "entries": {"c2pa.ai_training": {"use": "notAllowed"}, "c2pa.data_mining": {"use": "allowed"}}
        },
    }
    t = read_training(both)
    assert t.ai_training is Use.NOT_ALLOWED
    assert t.data_mining is Use.ALLOWED
    assert t.ai_inference is Use.UNSPECIFIED


@pytest.mark.parametrize(
    "data",
    [
        {"cawg.training-mining": {"entries": {"cawg.ai_training": {"use": "yes please"}}}},
        {"cawg.training-mining": {"entries": {"cawg.ai_training": "allowed"}}},
        {"cawg.training-mining": {"entries": "allowed"}},
        {"cawg.training-mining": "allowed"},
    ],
)
def test_unknown_or_malformed_training_values_read_as_not_allowed(data: dict[str, object]) -> None:
    assert read_training(data).ai_training is Use.NOT_ALLOWED


def test_licenses_by_spdx_id_url_and_refusal_with_hint() -> None:
    assert parse_license("cc-by-nc-4.0").id == "CC-BY-NC-4.0"
    assert parse_license("https://creativecommons.org/licenses/by/4.0/").id == "CC-BY-4.0"
    custom = parse_license("https://example.org/terms")
    assert custom.id is None and custom.url == "https://example.org/terms"
    with pytest.raises(LicenseError) as err:
        parse_license("CC-BY-4")
    assert "CC-BY-4.0" in err.value.one_line()
