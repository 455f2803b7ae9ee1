"""audit --recover and soft bindings in the audit: a stripped copy's manifest found again and marked as such.

Real signed files, a real SQLite repository (repository.ingest.register), the real engine validating the
recovered store, and the real CLI. A recovered manifest adds findings (never clears any): the copy still has
no manifest of its own, and what the recovered one forbids is reported as a restriction the copy lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rightsmark import schemas
from rightsmark.audit.auditor import Auditor
from rightsmark.keys.devca import KeyFiles
from rightsmark.models import Training, Use
from rightsmark.repository.ingest import register
from rightsmark.rights.consent import load_consent_file
from rightsmark.sign.signer import Signer
from tests.conftest import EXAMPLE_IMAGES, REPO, CliResult, one_error_line, open_rights
from tests.test_recover import manifest_id, stripped_copy

Cli = Callable[..., CliResult]
Registered = Callable[..., tuple[Path, Path, str]]
MARK = "Recovered through a soft binding — not embedded in this file"
ALLOWED = Training(Use.ALLOWED, Use.ALLOWED, Use.ALLOWED, Use.ALLOWED)


@pytest.fixture
def registered(tmp_path: Path, signer: Signer) -> Registered:
    """Sign the bundled photo with ``rights``, register it, strip a copy: (stripped copy, repo, manifest id)."""

    def make(name: str = "harbour.jpg", **rights: Any) -> tuple[Path, Path, str]:
        signed = tmp_path / "signed" / name
        signer.sign_file(EXAMPLE_IMAGES / name, signed, open_rights(**rights))
        repo = tmp_path / "manifests.db"
        assert [r.outcome for r in register(str(repo), [signed])] == ["added"]
        return stripped_copy(signed, tmp_path / f"stripped-{name}"), repo, manifest_id(signed)

    return make


def audit_json(cli: Cli, tmp_path: Path, *args: Any) -> tuple[CliResult, dict[str, Any]]:
    out = tmp_path / "audit.json"
    done = cli("audit", *args, "--json", out, "--html", tmp_path / "audit.html")
    assert "Traceback" not in done.stderr, done.stderr
    document = json.loads(out.read_text())
    assert schemas.errors(schemas.AUDIT, document) == []
    return done, document


def findings(entry: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {f["code"]: (f["severity"], f["recovered"]) for f in entry["findings"]}


class _Sections(HTMLParser):
    """The text inside each element of class ``recovered`` (the recovered-manifest panels), and the code
    cells of findings marked as coming from a recovered manifest."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.panels: list[str] = []
        self.tags = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self.depth:
            self.depth += tag not in ("br", "img", "meta")
        elif tag == "div" and "recovered" in classes:
            self.depth = 1
            self.panels.append("")
        self.tags += "tag-recovered" in classes

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.panels[-1] += data


def panels(page: str) -> _Sections:
    parser = _Sections()
    parser.feed(page)
    return parser


def test_a_stripped_copy_audited_with_recover_shows_its_manifest_marked_as_recovered(
    cli: Cli, registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, label = registered()
    done, document = audit_json(cli, tmp_path, stripped, "--recover", repo, "--trust", keys.ca)
    assert done.returncode == 1  # the copy still carries no manifest of its own: never a clean audit
    (entry,) = document["files"]
    assert entry["integrity"] == "absent" and entry["manifests"] == []
    recovered = entry["recovered"]
    assert recovered["manifest_id"] == label and recovered["repository"] == str(repo)
    assert recovered["method"] == "fingerprint" and 0 <= recovered["distance"] <= 8
    assert recovered["problem"] is None and recovered["others"] == []
    (node,) = recovered["manifests"]
    assert node["label"] == label and node["trust"] == "trusted" and node["validation"] == "valid"
    assert node["author"] == ["Jane Doe"] and node["license"]["id"] == "CC-BY-4.0"
    assert node["training"]["ai_training"] == "allowed" and node["training"]["ai_inference"] == "notAllowed"
    assert [b["alg"] for b in node["soft_bindings"]] == ["io.iscc.v0"]
    found = findings(entry)
    assert found["manifest-absent"] == ("error", False)
    assert found["recovered"] == ("warning", True)
    assert found["recovered-restricted"] == ("error", True)  # generative training, inference, mining: not allowed
    restricted = next(f for f in entry["findings"] if f["code"] == "recovered-restricted")
    assert "ai_inference" in restricted["message"] and restricted["manifests"] == [label]
    # the terminal tree marks it
    assert f"RECOVERED through a soft binding, not embedded in this file: manifest {label}" in done.stdout
    assert f"by fingerprint, distance {recovered['distance']}" in done.stdout
    assert "soft binding io.iscc.v0 ISCC:" in done.stdout
    assert "[warning] recovered (recovered manifest):" in done.stdout
    # the HTML page: a panel of its own with the mark, how it matched, and what the manifest says
    page = (tmp_path / "audit.html").read_text()
    parsed = panels(page)
    (panel,) = parsed.panels
    assert MARK in panel and label in panel and str(repo) in panel
    assert f"fingerprint, distance {recovered['distance']}" in panel
    assert "Jane Doe" in panel and "CC-BY-4.0" in panel and "ISCC:" in panel
    assert parsed.tags == 2  # recovered and recovered-restricted, marked in the findings table
    assert "the recovered manifest is not drawn there" in panel
    # without --recover the same copy is simply unsigned
    _done, plain = audit_json(cli, tmp_path, stripped, "--trust", keys.ca)
    assert plain["files"][0]["recovered"] is None and findings(plain["files"][0]) == {
        "manifest-absent": ("error", False)
    }


def test_an_unrelated_image_recovers_nothing_and_says_so(
    cli: Cli, registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    _stripped, repo, _label = registered()
    other = tmp_path / "other.png"
    Image.radial_gradient("L").resize((320, 240)).convert("RGB").save(other)
    done, document = audit_json(cli, tmp_path, other, "--recover", repo, "--trust", keys.ca)
    (entry,) = document["files"]
    assert entry["recovered"]["manifest_id"] is None and entry["recovered"]["manifests"] == []
    assert findings(entry) == {"manifest-absent": ("error", False)}
    assert "recovery: no manifest in" in done.stdout and "RECOVERED" not in done.stdout
    assert panels((tmp_path / "audit.html").read_text()).panels == []


def test_a_repository_that_is_not_one_is_one_clear_line(cli: Cli, jpeg: Path, tmp_path: Path) -> None:
    not_repo = tmp_path / "notes.txt"
    not_repo.write_text("hello")
    one_error_line(cli("audit", jpeg, "--recover", not_repo), str(not_repo))
    one_error_line(cli("audit", jpeg, "--recover", tmp_path / "missing.db"), "missing.db")


def test_a_signed_file_shows_its_soft_binding_and_is_not_recovered(
    cli: Cli, signed_jpeg: Path, registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    _stripped, repo, _label = registered()
    done, document = audit_json(cli, tmp_path, signed_jpeg, "--recover", repo, "--trust", keys.ca)
    assert done.returncode == 0, done.stdout
    (entry,) = document["files"]
    assert entry["recovered"] is None and entry["findings"] == []
    (binding,) = entry["manifests"][0]["soft_bindings"]
    assert binding["alg"] == "io.iscc.v0" and binding["display"].startswith("ISCC:")
    assert f"soft binding io.iscc.v0 {binding['display']}" in done.stdout
    page = (tmp_path / "audit.html").read_text()
    assert "<h4>Soft bindings</h4>" in page and binding["display"] in page
    assert MARK not in page


def test_what_a_recovered_manifest_records_is_judged_at_audit_time(
    registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    consent_file = tmp_path / "consent.json"
    data = json.loads((REPO / "examples" / "consent.json").read_text())
    data["subjects"][0].update(granted="2020-01-01", expires="2099-01-01")
    consent_file.write_text(json.dumps(data))
    stripped, repo, label = registered(consent=load_consent_file(consent_file), training=ALLOWED)
    with Auditor([keys.ca], recover=str(repo)) as auditor:
        now = auditor.audit_file(stripped)
    assert now.recovered is not None and now.recovered.manifest_id == label
    assert {f.code for f in now.findings} == {"manifest-absent", "recovered"}  # everything allowed, consent valid
    later = dt.datetime(2099, 1, 2, tzinfo=dt.UTC)
    release = data["subjects"][0]["release_id"]
    with Auditor([keys.ca], recover=str(repo), now=later, withdrawn={release: "2098-12-01"}) as auditor:
        audit = auditor.audit_file(stripped)
    by_code = {f.code: f for f in audit.findings}
    assert by_code["consent-expired"].recovered and by_code["consent-expired"].severity == "error"
    assert by_code["consent-withdrawn"].recovered and by_code["consent-withdrawn"].severity == "critical"
    assert by_code["consent-expired"].message.startswith(f"recovered manifest {label} (fingerprint, distance ")
    # untrusted: the same recovery without the anchor says so, marked as the recovered manifest's
    with Auditor([], recover=str(repo)) as auditor:
        untrusted = {f.code: f for f in auditor.audit_file(stripped).findings}
    assert untrusted["manifest-untrusted"].recovered


def test_several_matching_manifests_are_an_ambiguity(
    registered: Registered, signer: Signer, keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, label = registered(training=ALLOWED)
    twin = tmp_path / "twin" / "harbour.jpg"  # the same pixels signed again by someone else's claim
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", twin, open_rights(authors=("Someone Else",)))
    assert [r.outcome for r in register(str(repo), [twin])] == ["added"]
    with Auditor([keys.ca], recover=str(repo)) as auditor:
        audit = auditor.audit_file(stripped)
    assert audit.recovered is not None and set(audit.recovered.others) | {audit.recovered.manifest_id} == {
        label,
        manifest_id(twin),
    }
    ambiguous = next(f for f in audit.findings if f.code == "recovered-ambiguous")
    assert ambiguous.severity == "error" and set(ambiguous.manifests) == {label, manifest_id(twin)}


def test_recovery_problems_are_error_findings_never_silence(
    registered: Registered, keys: KeyFiles, cli: Cli, tmp_path: Path
) -> None:
    stripped, repo, _label = registered(
        training=Training(Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED)
    )
    with sqlite3.connect(repo) as db:  # an attacker rewrites the permission in the repository's copy
        (store,) = db.execute("SELECT store FROM manifests").fetchone()
        forged = bytearray(store)
        at = bytes(forged).find(b"notAllowed")
        forged[at : at + 10] = b"allowed\x00\x00\x00"
        db.execute("UPDATE manifests SET store = ?, sha256 = ?", (bytes(forged), hashlib.sha256(forged).hexdigest()))
    done, document = audit_json(cli, tmp_path, stripped, "--recover", repo, "--trust", keys.ca)
    (entry,) = document["files"]
    assert done.returncode == 1 and entry["recovered"]["problem"]["code"] == "recovered-invalid"
    assert entry["recovered"]["manifest_id"] is None
    assert findings(entry)["recovered-invalid"] == ("error", True)
    assert "recovery from" in done.stdout and "failed: recovered-invalid" in done.stdout
    page = (tmp_path / "audit.html").read_text()
    assert "Recovery failed" in page and MARK not in page
    # a repository that breaks after the check: each file gets recovery-failed
    with Auditor([keys.ca], recover=str(repo)) as auditor:
        repo.write_bytes(b"this is no longer a database" * 100)
        audit = auditor.audit_file(stripped)
    assert [(f.code, f.severity) for f in audit.findings if f.recovered] == [("recovery-failed", "error")]


def test_text_from_a_recovered_manifest_is_escaped_in_the_page(
    cli: Cli, registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    hostile = '<img src=x onerror="alert(1)">\u202e'
    stripped, repo, _label = registered(authors=(hostile,))
    audit_json(cli, tmp_path, stripped, "--recover", repo, "--trust", keys.ca)
    page = (tmp_path / "audit.html").read_text()
    assert "<img" not in page and "onerror=&quot;alert(1)&quot;" in page and "\u202e" not in page
    (panel,) = panels(page).panels
    assert '<img src=x onerror="alert(1)"><U+202E>' in panel


def test_a_repository_damaged_inside_is_a_recovery_failed_finding_not_a_crash(
    cli: Cli, registered: Registered, keys: KeyFiles, tmp_path: Path
) -> None:
    stripped, repo, _label = registered()
    with sqlite3.connect(repo) as db:  # a kept fingerprint's prefix lost: the repository answers, wrongly
        db.execute("UPDATE bindings SET prefix = NULL")
    done, document = audit_json(cli, tmp_path, stripped, "--recover", repo, "--trust", keys.ca)
    (entry,) = document["files"]
    assert done.returncode == 1, done.stderr
    assert entry["recovered"]["problem"]["code"] == "recovery-failed"
    assert "damaged" in entry["recovered"]["problem"]["message"]
