"""Widening, one definition for signing and audit: refused at signing without --widen, reported by the audit.

The comparison is checked value by value first (rights.widening). Then each kind of widening is made
for real: a parent signed with rightsmark's keys, an edit signed through the CLI (refused with one
error line without --widen, accepted with it and recorded in the edit action), and the edits audited
(widening by the parent's own signer an error, by another party critical).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from rightsmark.audit.auditor import Auditor, FileAudit
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import load_signing_material
from rightsmark.models import License, Purpose, Training, Use
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import WIDENED_PARAMETER, Rights
from rightsmark.rights.widening import RANK, Aspect, declared_consent, expiry_widened, widening
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, CliResult, one_error_line

Cli = Callable[..., CliResult]

NA, C, U, A = Use.NOT_ALLOWED, Use.CONSTRAINED, Use.UNSPECIFIED, Use.ALLOWED
#: Every (before, after) pair that widens, written out rather than derived from the rank table.
WIDER = {(NA, C), (NA, U), (NA, A), (C, U), (C, A), (U, A)}
PAIRS = [(b, a) for b in Use for a in Use]


def _subject(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ref": "subject-1",
        "release_id": "MR-1",
        "purposes": {"ai_training": "notAllowed", "ai_inference": "allowed"},
        "commercial": False,
        "granted": "2026-01-01",
        "expires": "2031-01-01",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _people(*subjects: dict[str, object]) -> ConsentDeclaration:
    return ConsentDeclaration(identifiable_people=True, subjects=subjects)


def _rights(consent: ConsentDeclaration | None = None, **fields: object) -> Rights:
    return Rights(consent=consent or ConsentDeclaration.no_people(), **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The comparison, value by value


def test_the_rank_table_orders_not_allowed_constrained_unspecified_allowed() -> None:
    assert sorted(Use, key=RANK.__getitem__) == [NA, C, U, A]


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{b.value}-{a.value}" for b, a in PAIRS])
@pytest.mark.parametrize("purpose", list(Purpose), ids=[p.value for p in Purpose])
def test_each_use_widens_only_up_the_order(purpose: Purpose, before: Use, after: Use) -> None:
    found = widening(
        _rights(training=Training(**{purpose.value: before})), _rights(training=Training(**{purpose.value: after}))
    )
    if (before, after) in WIDER:
        (w,) = found
        assert (w.aspect, w.purpose, w.before, w.after) == (Aspect.USE, purpose, before.value, after.value)
        assert w.phrase() == f"{purpose.value} {before.value} -> {after.value}"
    else:
        assert found == []


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{b.value}-{a.value}" for b, a in PAIRS])
def test_each_consent_purpose_widens_only_up_the_order(before: Use, after: Use) -> None:
    """The same table per purpose a person consented to; an absent purpose is unspecified."""

    def purposes(use: Use) -> dict[str, str]:
        return {} if use is U else {"data_mining": use.value}

    found = widening(
        _rights(_people(_subject(purposes=purposes(before)))), _rights(_people(_subject(purposes=purposes(after))))
    )
    if (before, after) in WIDER:
        (w,) = found
        assert (w.aspect, w.ref, w.purpose) == (Aspect.CONSENT_PURPOSE, "subject-1", Purpose.DATA_MINING)
        assert w.phrase() == f"consent subject-1 data_mining {before.value} -> {after.value}"
    else:
        assert found == []


def test_a_consent_purpose_that_is_no_use_reads_as_not_allowed() -> None:
    maybe = _rights(_people(_subject(purposes={"ai_training": "maybe"})))
    allowed = _rights(_people(_subject(purposes={"ai_training": "allowed"})))
    assert [w.phrase() for w in widening(maybe, allowed)] == ["consent subject-1 ai_training notAllowed -> allowed"]
    assert widening(allowed, maybe) == []


@pytest.mark.parametrize(
    ("old", "new", "widened"),
    [
        ("2031-01-01", "2031-01-01", False),
        ("2031-01-01", "2032-01-01", True),
        ("2031-01-01", None, True),  # removed: never expires
        ("2031-01-01", "", True),
        (None, "2031-01-01", False),  # an expiry added narrows
        ("2031-01-01", "2030-12-31", False),
        ("2031-01-01", "2031-01-01T23:59:59Z", False),  # a bare date runs to the end of its day
        ("2031-01-01T12:00:00Z", "2031-01-01", True),
        # the same instant and an earlier one written with an offset: later as text, not as a time
        ("2031-01-01T23:00:00Z", "2031-01-02T00:00:00+01:00", False),
        ("2031-01-01", "2031-01-02T00:30:00+01:00", False),
        ("2031-01-01T10:00:00+02:00", "2031-01-01T09:00:00Z", True),  # earlier as text, later as a time
        ("2031-01-01", "soon", True),  # does not parse: fail closed
        ("whenever", "2031-01-01", True),
        ("2031-01-01", 20320101, True),
        ("2031-02-30", "2031-03-01", True),
        (None, "garbage", False),  # nothing ran longer than no expiry
    ],
)
def test_expiry_is_compared_as_times(old: object, new: object, widened: bool) -> None:
    assert expiry_widened(old, new) is widened
    before, after = _rights(_people(_subject(expires=old))), _rights(_people(_subject(expires=new)))
    assert [w.aspect for w in widening(before, after)] == ([Aspect.CONSENT_EXPIRY] if widened else [])


@pytest.mark.parametrize(
    ("old", "new", "widened"),
    [(False, True, True), (None, True, True), ("yes", True, True), (True, False, False), (False, "yes", False)],
)
def test_commercial_use_added_to_a_consent_widens(old: object, new: object, widened: bool) -> None:
    found = widening(_rights(_people(_subject(commercial=old))), _rights(_people(_subject(commercial=new))))
    assert [w.phrase() for w in found] == (["consent subject-1 commercial use"] if widened else [])


def test_dropping_consent_widens() -> None:
    one, two = _subject(), _subject(ref="subject-2", release_id="MR-2")
    both = _rights(_people(one, two))
    assert [w.phrase() for w in widening(both, _rights(_people(one)))] == ["consent subject-2 dropped"]
    assert [w.phrase() for w in widening(both, _rights())] == [
        "consent subject-1 dropped (no identifiable people declared)",
        "consent subject-2 dropped (no identifiable people declared)",
    ]
    # people pictured without a record (or no consent assertion at all): "no people" still widens
    unrecorded = _rights(declared_consent(None))
    assert [w.aspect for w in widening(unrecorded, _rights())] == [Aspect.NO_PEOPLE]
    # what only adds or narrows consent is no widening
    assert widening(_rights(), both) == []
    assert widening(unrecorded, both) == []
    assert widening(_rights(_people(one)), both) == []


def test_an_absent_or_unreadable_consent_assertion_reads_as_people_without_consent() -> None:
    for assertion in (None, "x", [], {"identifiable_people": "no"}, {}):
        assert declared_consent(assertion).identifiable_people, assertion
    assert not declared_consent({"identifiable_people": False, "subjects": []}).identifiable_people
    mixed = declared_consent({"identifiable_people": True, "subjects": [None, {"ref": "a"}, 7]})
    assert mixed.subjects == ({"ref": "a"},)


def _license(value: str | None) -> License | None:
    return parse_license(value) if value else None


@pytest.mark.parametrize(
    ("old", "new", "note"),
    [
        ("CC-BY-NC-4.0", "CC0-1.0", "drops NC, public domain"),
        ("CC-BY-NC-4.0", "CC-BY-4.0", "drops NC"),
        ("CC-BY-ND-4.0", "CC-BY-4.0", "drops ND"),
        ("CC-BY-SA-4.0", "CC-BY-4.0", "drops SA"),
        ("CC-BY-NC-SA-4.0", "CC-BY-NC-4.0", "drops SA"),
        ("CC-BY-NC-ND-4.0", "CC-BY-NC-SA-4.0", "drops ND"),
        ("CC-BY-NC-ND-3.0", "CC-BY-4.0", "drops NC, drops ND"),
        ("ODbL-1.0", "ODC-By-1.0", "drops SA"),
        ("CC-BY-4.0", "CC0-1.0", "public domain"),
        ("CC-BY-4.0", "Unlicense", "public domain"),
        ("CC-BY-4.0", "https://example.com/terms", "terms not in the license table replace a known license"),
        ("https://example.com/a", "CC-BY-NC-ND-4.0", "terms not in the license table: cannot show"),
        ("https://example.com/a", "https://example.com/b", "terms not in the license table: cannot show"),
        ("CC-BY-NC-4.0", None, "license removed"),
        (None, "CC0-1.0", "public domain"),
        (None, "PDDL-1.0", "public domain"),
        # no wider grant: nothing
        ("CC-BY-4.0", "CC-BY-NC-4.0", None),
        ("CC-BY-4.0", "CC-BY-SA-4.0", None),
        ("CC-BY-4.0", "CC-BY-3.0", None),
        ("CC0-1.0", "CC-PDDC", None),
        ("CC0-1.0", "CC-BY-NC-4.0", None),
        ("https://example.com/a", "https://example.com/a", None),
        (None, "CC-BY-4.0", None),  # a license where none was recorded adds terms
        (None, "https://example.com/a", None),
        (None, None, None),
    ],
)
def test_a_license_widens_when_it_grants_more(old: str | None, new: str | None, note: str | None) -> None:
    found = widening(_rights(license=_license(old)), _rights(license=_license(new)))
    if note is None:
        assert found == []
    else:
        (w,) = found
        assert w.aspect is Aspect.LICENSE and w.note.startswith(note), w
        assert w.phrase().startswith(f"license {old or 'none'} -> {new or 'none'} (")


def test_everything_that_widens_is_reported_at_once() -> None:
    parent = _rights(_people(_subject()), license=parse_license("CC-BY-NC-4.0"), training=Training(*(NA,) * 4))
    edit = replace(
        parent,
        consent=_people(_subject(expires=None, commercial=True)),
        license=parse_license("CC-BY-4.0"),
        training=Training(A, NA, C, NA),
    )
    assert [w.phrase() for w in widening(parent, edit)] == [
        "ai_training notAllowed -> allowed",
        "ai_inference notAllowed -> constrained",
        "consent subject-1 commercial use",
        "consent subject-1 expiry 2031-01-01 -> never",
        "license CC-BY-NC-4.0 -> CC-BY-4.0 (drops NC)",
    ]
    assert widening(edit, parent) == []  # and back again only narrows


@pytest.mark.parametrize(
    ("earlier_signer", "later_signer", "severity"),
    [("Jane", "Jane", "error"), ("Jane", "Max", "critical"), (None, None, "critical"), ("Jane", None, "critical")],
)
def test_the_audit_grades_widening_by_who_signed(
    earlier_signer: str | None, later_signer: str | None, severity: str
) -> None:
    """By the earlier manifest's own signer an error, by anyone else critical; manifests that name no
    signer cannot be shown to share one."""
    from rightsmark.audit.chain import ManifestNode
    from rightsmark.audit.findings import compare

    def node(label: str, use: str, signer: str | None) -> ManifestNode:
        entries = {"cawg.ai_training": {"use": use}}
        data: dict[str, object] = {"assertions": [{"label": "cawg.training-mining", "data": {"entries": entries}}]}
        if signer is not None:
            data["signature_info"] = {"common_name": signer, "issuer": "Studio CA"}
        return ManifestNode(label, 0, None, None, f"{label}.jpg", data)

    (found,) = compare(node("later", "allowed", later_signer), node("earlier", "constrained", earlier_signer))
    assert (found.code, found.severity, found.manifests) == ("permission-widened", severity, ("earlier", "later"))
    assert found.message.startswith("ai_training widened from constrained to allowed by ")


# ---------------------------------------------------------------------------------------------
# At signing (the CLI) and in the audit, for real


@dataclass(frozen=True)
class Case:
    """A parent's rights, the edit's flags and consent, and what widens."""

    parent: dict[str, object]
    flags: tuple[str, ...]
    consent: dict[str, object] | None  # the edit's consent subject (None: no --consent flag)
    phrase: str
    code: str


CASES = {
    "consent-purpose-notAllowed-to-constrained": Case(
        {},
        (),
        _subject(purposes={"ai_training": "constrained", "ai_inference": "allowed"}),
        "consent subject-1 ai_training notAllowed -> constrained",
        "consent-changed",
    ),
    "use-unspecified-to-allowed": Case(
        {"training": Training(U, NA, NA, NA)},
        ("--ai-training", "allowed"),
        None,
        "ai_training unspecified -> allowed",
        "permission-widened",
    ),
    "expiry-later": Case(
        {}, (), _subject(expires="2032-06-30"), "consent subject-1 expiry 2031-01-01 -> 2032-06-30", "consent-changed"
    ),
    "expiry-removed": Case(
        {}, (), _subject(expires=None), "consent subject-1 expiry 2031-01-01 -> never", "consent-changed"
    ),
    "commercial-added": Case({}, (), _subject(commercial=True), "consent subject-1 commercial use", "consent-changed"),
    "relicensed-NC-to-CC0": Case(
        {},
        ("--license", "CC0-1.0"),
        None,
        "license CC-BY-NC-4.0 -> CC0-1.0 (drops NC, public domain)",
        "license-changed",
    ),
    "consent-dropped-no-people": Case(
        {},
        ("--no-people",),
        None,
        "consent subject-1 dropped (no identifiable people declared)",
        "consent-dropped",
    ),
    "consent-record-dropped": Case(
        {}, (), _subject(ref="subject-2", release_id="MR-2"), "consent subject-1 dropped", "consent-dropped"
    ),
}


@pytest.fixture(scope="module")
def other_signer(other_keys: KeyFiles) -> Iterator[Signer]:
    with Signer(load_signing_material(other_keys.key, other_keys.chain)) as s:
        yield s


def _parent(tmp_path: Path, signer: Signer, **fields: object) -> Path:
    """harbour.jpg signed with subject-1's consent, nothing allowed, CC-BY-NC-4.0 (``fields`` override)."""
    source = tmp_path / "raw" / "photo.jpg"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    base: dict[str, object] = {
        "consent": _people(_subject()),
        "authors": ("Jane Doe",),
        "license": parse_license("CC-BY-NC-4.0"),
        "training": Training(*(NA,) * 4),
    }
    base.update(fields)
    parent = tmp_path / "parent" / "photo.jpg"
    signer.sign_file(source, parent, Rights(**base))  # type: ignore[arg-type]
    return parent


def _edit_args(tmp_path: Path, keys: KeyFiles, parent: Path, case: Case, out: str) -> list[str | Path]:
    edited = tmp_path / "edits" / "photo.jpg"
    if not edited.exists():
        edited.parent.mkdir(parents=True, exist_ok=True)
        edited.write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    args: list[str | Path] = ["sign", edited, "--key", keys.key, "--cert", keys.chain, "--parent", parent]
    if case.consent is not None:
        consent = tmp_path / "consent.json"
        consent.write_text(json.dumps({"subjects": [case.consent]}), encoding="utf-8")
        args += ["--consent", consent]
    return [*args, *case.flags, "-o", tmp_path / out]


def _recorded(audit: FileAudit) -> list[str]:
    """What the edit action of the audited file records as deliberately widened."""
    actions = audit.nodes[0].assertions.get("c2pa.actions") or {}
    for action in actions.get("actions") or ():
        if action.get("action") == "c2pa.edited":
            return list((action.get("parameters") or {}).get(WIDENED_PARAMETER) or ())
    return []


@pytest.mark.parametrize("name", list(CASES))
def test_widening_is_refused_at_signing_and_graded_by_signer_in_audit(
    name: str, cli: Cli, tmp_path: Path, keys: KeyFiles, other_keys: KeyFiles, signer: Signer
) -> None:
    case = CASES[name]
    parent = _parent(tmp_path, signer, **case.parent)

    refused = cli(*_edit_args(tmp_path, keys, parent, case, "refused"))
    line = one_error_line(refused, "would widen its parent's permissions", case.phrase, "--widen", code=1)
    assert str(parent) in line
    assert not (tmp_path / "refused" / "photo.jpg").exists()

    audits: dict[str, FileAudit] = {}
    for party, party_keys in (("same", keys), ("other", other_keys)):
        done = cli(*_edit_args(tmp_path, party_keys, parent, case, party), "--widen")
        assert done.returncode == 0, done.stderr
        with Auditor([keys.ca, other_keys.ca]) as auditor:
            audits[party] = auditor.audit_file(tmp_path / party / "photo.jpg")
        assert case.phrase in _recorded(audits[party])  # --widen records what it allowed

    for party, severity in (("same", "error"), ("other", "critical")):
        findings = [f for f in audits[party].findings if f.code == case.code]
        assert [f.severity for f in findings] == [severity], audits[party].findings
        signer_words = "by the same signer" if party == "same" else "by a different signer"
        assert signer_words in findings[0].message
        assert audits[party].worst == severity


def test_narrowing_and_equal_expiries_need_no_widen_and_audit_only_notes_them(
    cli: Cli, tmp_path: Path, keys: KeyFiles, signer: Signer
) -> None:
    """unspecified -> constrained narrows (it records a constraint); an expiry written later as text but
    earlier as a time narrows: both are signed without --widen, and the audit finds no widening."""
    parent = _parent(tmp_path, signer, training=Training(U, NA, NA, NA))
    case = Case({}, ("--ai-training", "constrained", "--constraint-info", "ask first"), None, "", "")
    done = cli(*_edit_args(tmp_path, keys, parent, case, "narrow"))
    assert done.returncode == 0, done.stderr
    tz = Case({}, (), _subject(expires="2031-01-02T00:30:00+01:00"), "", "")
    done = cli(*_edit_args(tmp_path, keys, parent, tz, "tz"))
    assert done.returncode == 0, done.stderr
    with Auditor([keys.ca]) as auditor:
        narrow = auditor.audit_file(tmp_path / "narrow" / "photo.jpg")
        shifted = auditor.audit_file(tmp_path / "tz" / "photo.jpg")
    assert narrow.findings == [] and _recorded(narrow) == []
    assert [(f.code, f.severity) for f in shifted.findings] == [("consent-changed", "warning")]
    assert shifted.findings[0].message == "consent of subject-1 changed (expires)"


def test_the_audit_of_a_widened_edit_by_another_party_names_each_widening(
    tmp_path: Path, keys: KeyFiles, other_keys: KeyFiles, signer: Signer, other_signer: Signer
) -> None:
    """The library signs what it is given (no --widen there): the audit still grades each widening."""
    parent = _parent(tmp_path, signer)
    edited = tmp_path / "edit.jpg"
    edited.write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    rights = Rights(
        consent=_people(_subject(expires="2035-01-01", purposes={"ai_training": "allowed"})),
        license=parse_license("CC-BY-4.0"),
        training=Training(U, NA, NA, NA),
    )
    out = tmp_path / "out" / "edit.jpg"
    other_signer.sign_file(edited, out, rights, parent=parent)
    with Auditor([keys.ca, other_keys.ca], now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)) as auditor:
        audit = auditor.audit_file(out)
    assert sorted((f.code, f.severity) for f in audit.findings) == [
        ("consent-changed", "critical"),
        ("license-changed", "critical"),
        ("permission-widened", "critical"),
    ]
    by_code = {f.code: f.message for f in audit.findings}
    assert by_code["permission-widened"] == "ai_training widened from notAllowed to unspecified by a different signer"
    assert by_code["consent-changed"] == (
        "consent of subject-1 changed (expires, purposes); widened by a different signer: "
        "consent subject-1 ai_training notAllowed -> allowed; consent subject-1 expiry 2031-01-01 -> 2035-01-01"
    )
    assert by_code["license-changed"] == (
        "license changed from CC-BY-NC-4.0 to CC-BY-4.0; widened (drops NC) by a different signer"
    )
