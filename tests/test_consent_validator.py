"""The hand-written consent assertion check (no JSON Schema import on the verify path) agrees with
schemas/consent-assertion.schema.json itself, on real assertions and on generated variants of them."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rightsmark import schemas
from rightsmark.rights.consent import ConsentDeclaration, assertion_problem

VALID_SUBJECT: dict[str, Any] = {
    "ref": "subject-1",
    "release_id": "MR-2026-0042",
    "release_sha256": "a" * 64,
    "purposes": {"ai_training": "allowed", "ai_generative_training": "notAllowed"},
    "commercial": True,
    "granted": "2026-05-01",
    "expires": "2031-05-01T12:00:00Z",
    "jurisdiction": "VN",
    "withdrawal_url": "https://example.org/withdrawals.json",
    "constraint_info": "research only",
}
VALID = {"version": 1, "identifiable_people": True, "subjects": [VALID_SUBJECT]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=6,
)
interesting_strings = st.sampled_from(
    ["", "allowed", "notAllowed", "constrained", "maybe", "2026-05-01", "2026-5-1", "2026-05-01T10:00Z",
     "x" * 201, "x" * 2001, "VN", "vn", "US-CA", "https://x", "ftp://x", "A" * 64, "a" * 64, "a" * 63]
)  # fmt: skip
replacement = json_values | interesting_strings


def agree(instance: object) -> None:
    by_schema = not schemas.errors(schemas.CONSENT_ASSERTION, instance)
    by_hand = assertion_problem(instance) is None
    assert by_schema == by_hand, (
        instance,
        schemas.errors(schemas.CONSENT_ASSERTION, instance),
        assertion_problem(instance),
    )


def test_real_assertions_agree() -> None:
    agree(VALID)
    agree(ConsentDeclaration.no_people().assertion())
    agree({"version": 1, "identifiable_people": True, "subjects": []})
    agree({"version": 1.0, "identifiable_people": False, "subjects": []})
    agree({"version": True, "identifiable_people": False, "subjects": []})


SUBJECT_KEYS = [*VALID_SUBJECT, "name", "extra"]


@settings(max_examples=400, deadline=None)
@given(
    top_key=st.sampled_from(["version", "identifiable_people", "subjects", "other", None]),
    subject_key=st.sampled_from([*SUBJECT_KEYS, None]),
    purpose_key=st.sampled_from(["ai_training", "data_mining", "ai_inference", "bogus", None]),
    value=replacement,
    drop=st.booleans(),
    people=st.booleans(),
)
def test_generated_variants_agree(
    top_key: str | None, subject_key: str | None, purpose_key: str | None, value: object, drop: bool, people: bool
) -> None:
    instance: dict[str, Any] = copy.deepcopy(VALID)
    instance["identifiable_people"] = people
    subject = instance["subjects"][0]
    if subject_key is not None:
        if drop:
            subject.pop(subject_key, None)
        else:
            subject[subject_key] = value
    elif purpose_key is not None:
        if drop:
            subject["purposes"].pop(purpose_key, None)
        else:
            subject["purposes"][purpose_key] = value
    elif top_key is not None:
        if drop:
            instance.pop(top_key, None)
        else:
            instance[top_key] = value
    agree(instance)
