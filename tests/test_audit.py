"""rightsmark audit: the whole chain of custody of each file, with findings that have stable codes.

Chains are built here with the real engine and keys made by rightsmark (see tests/chains.py); the
corpus tests read the chained files other implementations made (../shared/corpus).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rightsmark
from rightsmark import schemas
from rightsmark.audit.auditor import (
    FINDING_CODES,
    SEVERITIES,
    Auditor,
    FileAudit,
    Finding,
    ManifestNode,
    audit_reading,
    compare,
    load_anchor_certificates,
    summarise,
)
from rightsmark.engine import adapter as engine
from rightsmark.engine.reading import read_manifest_store
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import load_signing_material
from rightsmark.keys.pem import load_trust_anchors
from rightsmark.models import Integrity
from rightsmark.sign.signer import Signer
from rightsmark.trust.sources import TrustSources

from .chains import RELEASE, TRAINING_ALLOWED, Chain, build_chain, consent_file, edit, people_rights
from .conftest import CliResult

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def other_signer(other_keys: KeyFiles) -> Iterator[Signer]:
    """A different party: its own CA, which the audits below do not trust unless told to."""
    with Signer(load_signing_material(other_keys.key, other_keys.chain)) as s:
        yield s


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, signer: Signer, other_signer: Signer) -> Chain:
    return build_chain(tmp_path_factory.mktemp("chain"), signer, other_signer)


@pytest.fixture(scope="module")
def audits(chain: Chain, keys: KeyFiles) -> dict[str, FileAudit]:
    """gen1..gen4 audited with only the first party's CA as trust anchor."""
    with Auditor([keys.ca]) as auditor:
        return {p.stem: auditor.audit_file(p) for p in (chain.gen1, chain.gen2, chain.gen3, chain.gen4)}


def _labels(audit: FileAudit) -> dict[str, str]:
    """title -> manifest label (titles are unique within these chains)."""
    return {str(n.title): str(n.label) for n in audit.nodes if n.label}


def _codes(audit: FileAudit) -> list[str]:
    return sorted(f.code for f in audit.findings)


def _one(audit: FileAudit, code: str) -> Finding:
    found = [f for f in audit.findings if f.code == code]
    assert len(found) == 1, (code, audit.findings)
    return found[0]


# ---------------------------------------------------------------------------------------------
# Chains built here


def test_every_generation_is_walked_with_its_relationship_signer_and_trust(audits: dict[str, FileAudit]) -> None:
    gen4 = audits["gen4"]
    assert gen4.integrity is Integrity.VALID and gen4.trusted
    shape = [(n.depth, n.relationship, n.title) for n in gen4.nodes]
    assert shape == [
        (0, None, "gen4.jpg"),
        (1, "parentOf", "gen3.jpg"),
        (2, "parentOf", "gen2.jpg"),
        (3, "parentOf", "gen1.jpg"),
    ]
    labels = [n.label for n in gen4.nodes]
    assert all(labels) and len(set(labels)) == 4
    # each manifest's parent is the one before it
    assert [n.parent for n in gen4.nodes] == [None, *labels[:-1]]
    described = [n.to_dict() for n in gen4.nodes]
    assert [d["validation"] for d in described] == ["valid"] * 4
    assert [d["trust"] for d in described] == ["trusted", "untrusted", "trusted", "trusted"]
    assert [d["signer"]["issuer"] for d in described] == [
        "rightsmark development CA",
        "unrelated CA",
        "rightsmark development CA",
        "rightsmark development CA",
    ]
    assert [d["training"]["ai_training"] for d in described] == ["allowed", "allowed", "notAllowed", "notAllowed"]
    assert [d["author"] for d in described] == [["Max Mustermann"], ["Max Mustermann"], ["Jane Doe"], ["Jane Doe"]]
    assert described[3]["actions"] == ["c2pa.created"]
    assert described[0]["actions"] == ["c2pa.opened", "c2pa.edited"]
    assert described[2]["consent"]["subjects"][0]["release_id"] == RELEASE
    assert described[0]["consent"] == {"version": 1, "identifiable_people": False, "subjects": []}


def test_clean_generations_have_no_findings(audits: dict[str, FileAudit]) -> None:
    assert audits["gen1"].findings == []
    assert audits["gen2"].findings == []  # an edit by the same party, rights kept: nothing to report
    assert len(audits["gen2"].nodes) == 2


def test_widened_permission_dropped_consent_and_changed_rights_are_found(audits: dict[str, FileAudit]) -> None:
    gen3 = audits["gen3"]
    labels = _labels(gen3)
    pair = (labels["gen2.jpg"], labels["gen3.jpg"])
    assert _codes(gen3) == sorted(
        ["permission-widened", "consent-dropped", "author-changed", "license-changed", "manifest-untrusted"]
    )
    widened = _one(gen3, "permission-widened")
    assert widened.severity == "critical"  # a different party widened what the first one did not allow
    assert widened.manifests == pair
    assert widened.message == "ai_training widened from notAllowed to allowed by a different signer"
    # dropping consent and relicensing to the public domain widen too: by another party, critical
    dropped = _one(gen3, "consent-dropped")
    assert (dropped.severity, dropped.manifests) == ("critical", pair)
    assert dropped.message == "consent records dropped by a different signer: subject-1"
    author = _one(gen3, "author-changed")
    assert (author.severity, author.manifests) == ("warning", pair)
    assert author.message == "author changed from Jane Doe to Max Mustermann"
    lic = _one(gen3, "license-changed")
    assert (lic.severity, lic.manifests) == ("critical", pair)
    assert lic.message == (
        "license changed from CC-BY-NC-4.0 to CC0-1.0; widened (drops NC, public domain) by a different signer"
    )
    # the other party's active manifest is not trusted with only the first party's CA
    assert _one(gen3, "manifest-untrusted").manifests == (labels["gen3.jpg"],)
    assert gen3.worst == "critical"
    assert not any(f.code == "ancestor-invalid" for f in gen3.findings)


def test_the_other_partys_manifest_as_an_ancestor_is_untrusted(audits: dict[str, FileAudit]) -> None:
    gen4 = audits["gen4"]
    labels = _labels(gen4)
    untrusted = _one(gen4, "ancestor-untrusted")
    assert untrusted.manifests == (labels["gen3.jpg"],)
    assert untrusted.severity == "warning"
    assert "'gen3.jpg'" in untrusted.message and "rightsmark development signer" in untrusted.message
    # the comparison findings of the older step are still reported, naming the manifests where it happened
    widened = _one(gen4, "permission-widened")
    assert widened.manifests == (labels["gen2.jpg"], labels["gen3.jpg"])
    assert _one(gen4, "consent-dropped").manifests == (labels["gen2.jpg"], labels["gen3.jpg"])
    # gen4 keeps gen3's rights: nothing between those two, and gen4 itself is trusted
    assert not [f for f in gen4.findings if f.manifests == (labels["gen3.jpg"], labels["gen4.jpg"])]
    assert "manifest-untrusted" not in _codes(gen4)
    assert "ancestor-invalid" not in _codes(gen4)


def test_trusting_both_parties_leaves_only_what_the_chain_says(
    chain: Chain, keys: KeyFiles, other_keys: KeyFiles
) -> None:
    with Auditor([keys.ca, other_keys.ca]) as auditor:
        gen4 = auditor.audit_file(chain.gen4)
    assert gen4.trusted
    assert all(n.trusted for n in gen4.nodes)
    assert _codes(gen4) == sorted(["permission-widened", "consent-dropped", "author-changed", "license-changed"])


def test_without_anchors_nothing_is_trusted(chain: Chain) -> None:
    with Auditor() as auditor:
        gen2 = auditor.audit_file(chain.gen2)
    assert not gen2.trusted
    assert _codes(gen2) == ["ancestor-untrusted", "manifest-untrusted"]


def test_widening_by_the_same_signer_is_an_error_not_critical(
    tmp_path: Path, chain: Chain, signer: Signer, keys: KeyFiles
) -> None:
    consent = consent_file(tmp_path / "consent.json", expires=dt.date(2031, 1, 1))
    out = tmp_path / "widened.jpg"
    signer.sign_file(
        edit(chain.gen1, tmp_path / "work" / "widened.jpg", 4),
        out,
        people_rights(consent, training=TRAINING_ALLOWED),
        parent=chain.gen1,
    )
    with Auditor([keys.ca]) as auditor:
        audit = auditor.audit_file(out)
    labels = _labels(audit)
    assert _codes(audit) == ["permission-widened"]
    widened = audit.findings[0]
    assert widened.severity == "error"
    assert widened.message == "ai_training widened from notAllowed to allowed by the same signer"
    assert widened.manifests == (labels["gen1.jpg"], labels["widened.jpg"])


def test_expired_consent(tmp_path: Path, signer: Signer, keys: KeyFiles, jpeg: Path) -> None:
    consent = consent_file(tmp_path / "consent.json", granted=dt.date(2020, 1, 1), expires=dt.date(2021, 6, 30))
    out = tmp_path / "out" / "expired.jpg"
    signer.sign_file(jpeg, out, people_rights(consent))
    with Auditor([keys.ca]) as auditor:
        audit = auditor.audit_file(out)
    expired = _one(audit, "consent-expired")
    assert expired.severity == "error"
    assert expired.manifests == (audit.nodes[0].label,)
    assert RELEASE in expired.message and "2021-06-30" in expired.message
    assert _codes(audit) == ["consent-expired"]
    # judged at the time of the audit: before the expiry the same file is fine
    with Auditor([keys.ca], now=dt.datetime(2021, 6, 30, 12, tzinfo=dt.UTC)) as auditor:
        assert auditor.audit_file(out).findings == []


def test_expiring_consent_is_a_warning_within_the_window_only(
    cli: Cli, tmp_path: Path, signer: Signer, keys: KeyFiles, jpeg: Path
) -> None:
    expires = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=365)
    consent = consent_file(tmp_path / "consent.json", expires=expires)
    out = tmp_path / "out" / "expiring.jpg"
    signer.sign_file(jpeg, out, people_rights(consent))

    def codes(*extra: str) -> list[tuple[str, str]]:
        report = tmp_path / "report.json"
        result = cli("audit", out, "--trust", keys.ca, "--json", report, "-q", *extra)
        assert result.returncode == 0, result.stderr  # a warning is not serious
        (entry,) = json.loads(report.read_text())["files"]
        return [(f["code"], f["severity"]) for f in entry["findings"]]

    assert codes("--expiring-within", "400d") == [("consent-expiring", "warning")]
    assert codes("--expiring-within", "300d") == []
    assert codes() == []


def test_withdrawn_consent_is_critical_and_names_the_manifest(chain: Chain, keys: KeyFiles) -> None:
    with Auditor([keys.ca], withdrawn={RELEASE: "2026-10-01"}) as auditor:
        gen2 = auditor.audit_file(chain.gen2)
        gen3 = auditor.audit_file(chain.gen3)
    withdrawn = _one(gen2, "consent-withdrawn")
    assert withdrawn.severity == "critical"
    assert withdrawn.manifests == (gen2.nodes[0].label,)
    assert RELEASE in withdrawn.message and "2026-10-01" in withdrawn.message
    # gen3 no longer claims that consent: it is reported as dropped, not as withdrawn
    assert "consent-withdrawn" not in _codes(gen3)


def test_signing_times_out_of_order(chain: Chain, keys: KeyFiles) -> None:
    """Only timestamped manifests carry a time and signing here is offline (no time-stamp authority),
    so the store the engine reads from a real two-generation file is edited: the active manifest is
    given a signing time before its parent's, then audited through the same code path."""
    data = chain.gen2.read_bytes()
    context = engine.reading_context(TrustSources(claim_pem=load_trust_anchors([keys.ca])))
    sink: list[bytes] = []
    try:
        reading = read_manifest_store(data, str(chain.gen2), context, True, store_sink=sink.append)
    finally:
        context.close()
    assert reading.store is not None and sink
    anchors = load_anchor_certificates([keys.ca])
    untouched = audit_reading("gen2.jpg", reading, sink[0], anchors=anchors)
    assert untouched.findings == []
    parent_label, active_label = untouched.nodes[1].label, untouched.nodes[0].label

    def with_times(active: str, parent: str) -> FileAudit:
        store = copy.deepcopy(reading.store)
        assert store is not None
        store["manifests"][active_label]["signature_info"]["time"] = active
        store["manifests"][parent_label]["signature_info"]["time"] = parent
        return audit_reading("gen2.jpg", dataclasses.replace(reading, store=store), sink[0], anchors=anchors)

    # times within the certificates' validity: each ancestor's chain is validated at its signing time
    day1 = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    day2 = day1 + dt.timedelta(days=1)
    swapped = with_times(day1.isoformat(), day2.isoformat())
    order = _one(swapped, "time-order")
    assert order.severity == "error"
    assert order.manifests == (parent_label, active_label)
    assert order.message == f"signed {day1:%Y-%m-%d} 09:00 before its ingredient ({day2:%Y-%m-%d} 09:00)"
    assert with_times(f"{day2:%Y-%m-%dT%H:%M:%SZ}", f"{day1:%Y-%m-%dT%H:%M:%SZ}").findings == []
    # signed (it says) before its certificates were issued: the ancestor's chain is not valid then
    early = _one(with_times("2020-03-02T09:00:00Z", "2020-03-01T09:00:00Z"), "ancestor-untrusted")
    assert early.manifests == (parent_label,) and "is not valid before" in early.message
    # compare() on the nodes themselves, and a missing time on either side is no finding
    later, earlier = swapped.nodes[0], swapped.nodes[1]
    assert [f.code for f in compare(later, earlier)] == ["time-order"]
    timeless = ManifestNode(earlier.label, 1, later.label, "parentOf", earlier.title, untouched.nodes[1].data)
    assert compare(later, timeless) == []


# ---------------------------------------------------------------------------------------------
# The command and its JSON report


def test_cli_audit_of_a_dataset_writes_a_reproducible_json_report_and_html(
    cli: Cli, chain: Chain, keys: KeyFiles, tmp_path: Path
) -> None:
    before = dt.datetime.now(dt.UTC)
    result = cli("audit", chain.dataset, "--trust", keys.ca, "--json", "a.json", "--html", "a.html")
    after = dt.datetime.now(dt.UTC)
    assert result.returncode == 1, result.stderr  # serious findings
    assert "audited 4 files: 2 with serious findings" in result.stderr
    # the terminal tree shows the chain and its findings
    assert "[critical] permission-widened: ai_training widened from notAllowed to allowed" in result.stdout
    assert "└─ parentOf 'gen2.jpg' [valid, trusted]" in result.stdout
    document = json.loads((tmp_path / "a.json").read_text())
    assert schemas.errors(schemas.AUDIT, document) == []
    assert document["tool"] == {"name": "rightsmark", "version": rightsmark.__version__}
    assert before <= dt.datetime.fromisoformat(document["audited_at"]) <= after
    assert document["trust_anchors"] == [
        {"path": str(keys.ca), "sha256": hashlib.sha256(keys.ca.read_bytes()).hexdigest()}
    ]
    assert document["withdrawal_lists"] == []
    assert [Path(f["path"]).name for f in document["files"]] == ["gen1.jpg", "gen2.jpg", "gen3.jpg", "gen4.jpg"]
    assert [len(f["manifests"]) for f in document["files"]] == [1, 2, 3, 4]
    summary = document["summary"]
    assert summary["files"] == 4 and summary["files_with_findings"] == 2
    assert summary["by_license"] == {"CC-BY-NC-4.0": 2, "CC0-1.0": 2}
    assert summary["by_ai_training"] == {"notAllowed": 2, "allowed": 2}
    assert summary["consent_coverage"] == {"consent recorded": 2, "no identifiable people": 2}
    assert summary["findings_by_code"]["permission-widened"] == 2
    # gen3 and gen4 each: ai_training widened, consent dropped and relicensed to CC0 by another party
    assert summary["findings_by_severity"]["critical"] == 6
    gen3 = document["files"][2]
    widened = next(f for f in gen3["findings"] if f["code"] == "permission-widened")
    assert widened["manifests"] == [gen3["manifests"][1]["label"], gen3["manifests"][0]["label"]]
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "permission-widened" in html


def test_cli_audit_of_a_clean_single_generation_file_exits_0(
    cli: Cli, chain: Chain, keys: KeyFiles, tmp_path: Path
) -> None:
    result = cli("audit", chain.gen1, "--trust", keys.ca, "--json", "one.json", "--html", "one.html")
    assert result.returncode == 0, result.stderr
    assert "no findings" in result.stdout
    document = json.loads((tmp_path / "one.json").read_text())
    assert schemas.errors(schemas.AUDIT, document) == []
    (entry,) = document["files"]
    assert entry["findings"] == [] and entry["trust"] == "trusted"
    assert (tmp_path / "one.html").stat().st_size > 0


def test_run_audit_is_the_command_as_a_library_call(chain: Chain, keys: KeyFiles) -> None:
    """What the command does, without a terminal: folders walked, each audit seen as it is made,
    the JSON document, the text and the exit status returned."""
    from rightsmark.audit.run import AuditOptions, run_audit

    seen: list[str] = []
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    report = run_audit(
        [chain.dataset, chain.gen1], AuditOptions(anchors=(keys.ca,), now=now), on_file=lambda a: seen.append(a.path)
    )
    names = [Path(p).name for p in seen]
    assert names == ["gen1.jpg", "gen2.jpg", "gen3.jpg", "gen4.jpg", "gen1.jpg"]
    assert [a.path for a in report.audits] == seen
    document = report.document
    assert schemas.errors(schemas.AUDIT, document) == []
    assert document["audited_at"] == now.isoformat() and document["summary"]["files"] == 5
    assert document["trust_anchors"][0]["path"] == str(keys.ca) and "trust_sources" in document
    assert json.loads(report.json_text()) == document
    assert (report.serious, report.exit_code) == (2, 1)
    assert report.closing_line() == "audited 5 files: 2 with serious findings"
    assert "[critical] permission-widened" in report.text() and report.html().startswith("<!DOCTYPE html>")
    clean = run_audit([chain.gen1], AuditOptions(anchors=(keys.ca,)))
    assert (clean.serious, clean.exit_code) == (0, 0)


def test_schema_enumerates_exactly_the_finding_codes_and_severities() -> None:
    schema = schemas.load(schemas.AUDIT)
    assert schema["$defs"]["code"]["enum"] == list(FINDING_CODES)
    assert schema["$defs"]["severity"]["enum"] == list(SEVERITIES)
    assert all(severity in SEVERITIES for severity, _ in FINDING_CODES.values())
    assert schema["$defs"]["file"]["required"] == list(FileAudit("x", Integrity.ABSENT, False, [], []).to_dict())
    assert schema["$defs"]["manifest"]["required"] == list(ManifestNode("l", 0, None, None, "t").to_dict())
    assert schema["properties"]["summary"]["required"] == list(summarise([]))


def test_schema_describes_the_withdrawal_lists_the_report_records() -> None:
    from rightsmark.verify import withdrawals

    listed = withdrawals.SignedList(
        Path("withdrawals.json"),
        "0" * 64,
        "Model Release Desk",
        withdrawals.WithdrawalList(issuer="Model Release Desk", updated="2026-11-01T00:00:00Z"),
    )
    document = {
        "tool": {"name": "rightsmark", "version": rightsmark.__version__},
        "audited_at": "2026-11-22T10:00:00+00:00",
        "trust_anchors": [],
        "withdrawal_lists": [listed.describe()],
        "summary": summarise([]),
        "files": [],
    }
    assert schemas.errors(schemas.AUDIT, document) == []


def test_schema_rejects_what_the_report_must_not_contain(audits: dict[str, FileAudit]) -> None:
    good = {
        "tool": {"name": "rightsmark", "version": rightsmark.__version__},
        "audited_at": "2026-11-22T10:00:00+00:00",
        "trust_anchors": [{"path": "ca.pem", "sha256": "a" * 64}],
        "withdrawal_lists": [],
        "summary": summarise(list(audits.values())),
        "files": [a.to_dict() for a in audits.values()],
    }
    assert schemas.errors(schemas.AUDIT, good) == []
    unknown_code = copy.deepcopy(good)
    unknown_code["files"][2]["findings"][0]["code"] = "something-else"
    bad_severity = copy.deepcopy(good)
    bad_severity["files"][2]["findings"][0]["severity"] = "fatal"
    no_time = {k: v for k, v in good.items() if k != "audited_at"}
    short_hash = copy.deepcopy(good)
    short_hash["trust_anchors"][0]["sha256"] = "abc"
    for bad in (unknown_code, bad_severity, no_time, short_hash):
        assert schemas.errors(schemas.AUDIT, bad)


# ---------------------------------------------------------------------------------------------
# Chains made by other implementations (../shared/corpus)

#: adobe-20220124 test files whose names spell their structure: each manifest is "C" followed, per
#: ingredient, by "A" (parentOf) or "I" (componentOf) and, when that ingredient has a manifest, its name.
SPELLED = ["C", "CA", "CACA", "CAI", "CAICA", "CAICAI", "CI", "CICA", "CACAICAICICA"]
_LETTER = {"parentOf": "A", "componentOf": "I"}
#: the deepest ingredient of each (CACAICAICICA: its parent CAICA has a component CA, whose parent is A)
DEPTH = {"C": 0, "CA": 1, "CACA": 2, "CAI": 1, "CAICA": 2, "CAICAI": 2, "CI": 1, "CICA": 2, "CACAICAICICA": 3}


def _spelled(node: ManifestNode, first: dict[str, ManifestNode]) -> str:
    walked = first[str(node.label)]  # a manifest reached twice is walked where it first appears
    return "C" + "".join(
        _LETTER[str(c.relationship)] + (_spelled(c, first) if c.label else "") for c in walked.children
    )


@pytest.mark.corpus
@pytest.mark.parametrize("name", SPELLED)
def test_corpus_chains_have_the_structure_their_names_spell(corpus: Path, name: str) -> None:
    with Auditor() as auditor:
        audit = auditor.audit_file(corpus / "files" / "public-testfiles" / f"adobe-20220124-{name}.jpg")
    assert audit.integrity is Integrity.VALID
    first: dict[str, ManifestNode] = {}
    for node in audit.nodes:
        if node.label and node.label not in first:
            first[node.label] = node
    for node in audit.nodes:
        if node.label is None:  # plain assets are A.jpg (a parent) or I.jpg (a component)
            assert node.title == _LETTER[str(node.relationship)] + ".jpg"
        else:  # every manifest's title spells its own subtree
            assert node.title == _spelled(node, first) + ".jpg"
    assert _spelled(audit.nodes[0], first) == name
    assert max(n.depth for n in audit.nodes) == DEPTH[name]
    # every plain ingredient is of unknown provenance, reported against the manifest that used it
    plain = [n for n in audit.nodes if n.label is None]
    unknown = [f for f in audit.findings if f.code == "ancestor-unknown-provenance"]
    assert len(unknown) == len({(n.parent, n.title) for n in plain})
    for n in plain:
        assert any(f.manifests == (n.parent,) and f"'{n.title}' ({n.relationship})" in f.message for f in unknown)
    assert not any(f.code == "ancestor-invalid" for f in audit.findings)


@pytest.mark.corpus
def test_corpus_chains_whose_names_repeat_an_ingredient(corpus: Path) -> None:
    """CII, CICACACA and CAIAIIICAICIICAIICICA name the same ingredient more than once; the engine
    that made them stored each distinct ingredient once (CII's two c2pa.placed actions point at one
    ingredient assertion), so the walk finds each once."""
    files = corpus / "files" / "public-testfiles"
    with Auditor() as auditor:
        cii = auditor.audit_file(files / "adobe-20220124-CII.jpg")
        cicacaca = auditor.audit_file(files / "adobe-20220124-CICACACA.jpg")
        big = auditor.audit_file(files / "adobe-20220124-CAIAIIICAICIICAIICICA.jpg")
    assert [(n.depth, n.relationship, n.title, n.label is not None) for n in cii.nodes] == [
        (0, None, "CII.jpg", True),
        (1, "componentOf", "I.jpg", False),
    ]
    assert cii.nodes[0].to_dict()["actions"].count("c2pa.placed") == 2
    assert [(n.depth, n.relationship, n.title) for n in cicacaca.nodes] == [
        (0, None, "CICACACA.jpg"),
        (1, "componentOf", "CA.jpg"),
        (2, "parentOf", "A.jpg"),
    ]
    assert [(n.depth, n.relationship, n.title) for n in big.nodes if n.depth == 1] == [
        (1, "parentOf", "A.jpg"),
        (1, "componentOf", "C.jpg"),
        (1, "componentOf", "I.jpg"),
        (1, "componentOf", "CA.jpg"),
        (1, "componentOf", "CI.jpg"),
        (1, "componentOf", "CAI.jpg"),
        (1, "componentOf", "CICA.jpg"),
    ]
    assert len(big.nodes) == 13 and sum(1 for n in big.nodes if n.label) == 7


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "bad_title", "codes"),
    [
        ("public-testfiles/adobe-20220124-CIE-sig-CA.jpg", "E-sig-CA.jpg", {"claimSignature.mismatch"}),
        (
            "public-testfiles/adobe-20220124-E-uri-CIE-sig-CA.jpg",
            "E-sig-CA.jpg",
            {"claimSignature.mismatch", "assertion.hashedURI.mismatch"},
        ),
        ("c2pa-rs/sdk_fixtures/CIE-sig-CA.jpg", "E-sig-CA.jpg", {"claimSignature.mismatch"}),
        ("c2pa-python/CIE-sig-CA.jpg", "E-sig-CA.jpg", {"claimSignature.mismatch"}),
        ("c2pa-rs/sdk_fixtures/CACAE-uri-CA.jpg", "E-uri-CA.jpg", {"assertion.hashedURI.mismatch"}),
    ],
)
def test_corpus_tampered_ancestor_is_named(corpus: Path, name: str, bad_title: str, codes: set[str]) -> None:
    with Auditor() as auditor:
        audit = auditor.audit_file(corpus / "files" / name)
    # the engine's overall state ignores ingredients: the active manifest itself is valid
    assert audit.integrity is Integrity.VALID
    (bad,) = [n for n in audit.nodes if n.title == bad_title]
    assert bad.depth >= 1 and bad.label
    assert bad.to_dict()["validation"] == "invalid"
    invalid = _one(audit, "ancestor-invalid")
    assert invalid.severity == "error"
    assert invalid.manifests == (bad.label,)
    assert invalid.message.startswith(f"'{bad_title}' fails validation: ")
    assert codes <= set(bad.failures)
    assert audit.worst == "error"
    # every other manifest of the chain validates
    assert all(n.to_dict()["validation"] == "valid" for n in audit.nodes if n.label and n is not bad)


@pytest.mark.corpus
def test_corpus_plain_ingredients_are_unknown_provenance(corpus: Path) -> None:
    with Auditor() as auditor:
        audit = auditor.audit_file(corpus / "files" / "public-testfiles" / "adobe-20220124-CAI.jpg")
    root = str(audit.nodes[0].label)
    unknown = sorted((f.manifests, f.message, f.severity) for f in audit.findings if f.code.startswith("ancestor"))
    assert unknown == [
        ((root,), "ingredient 'A.jpg' (parentOf) carries no manifest", "warning"),
        ((root,), "ingredient 'I.jpg' (componentOf) carries no manifest", "warning"),
    ]
    assert [n.to_dict()["validation"] for n in audit.nodes] == ["valid", "unknown", "unknown"]


@pytest.mark.corpus
def test_every_corpus_file_is_audited_and_its_report_matches_the_schema(corpus: Path) -> None:
    from rightsmark.audit.auditor import report_header
    from rightsmark.audit.html import render_html

    files = sorted(p for p in (corpus / "files").rglob("*") if p.is_file())
    assert len(files) == 118
    with Auditor() as auditor:
        audits = [auditor.audit_file(p, display=str(p.relative_to(corpus / "files"))) for p in files]
    header = report_header([], [], dt.datetime.now(dt.UTC))
    summary = summarise(audits)
    document = {**header, "summary": summary, "files": [a.to_dict() for a in audits]}
    assert schemas.errors(schemas.AUDIT, document) == []
    assert summary["files"] == 118
    for a in audits:
        assert all(f.code in FINDING_CODES and f.severity in SEVERITIES for f in a.findings), a.path
        # an absent or unreadable manifest gives exactly one file-level finding
        if a.integrity in (Integrity.ABSENT, Integrity.ERROR):
            assert [f.code for f in a.findings] in (["manifest-absent"], ["manifest-invalid"]), a.path
    by_code = summary["findings_by_code"]
    assert by_code["ancestor-invalid"] >= 5 and by_code["ancestor-unknown-provenance"] > 0
    page = render_html(header, summary, audits)
    assert page.count('<section class="file"') == 118
