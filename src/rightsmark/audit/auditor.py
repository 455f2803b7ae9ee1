"""Chain of custody: every manifest of a file, what each one said, and what went wrong along the way.

The order of checks, in the manner of in-toto's ``verifylib``:

1. read the manifest store offline (the engine validates the active manifest; its overall state
   ignores ingredients, so each ingredient's own validation and the read-time deltas are collected);
2. walk the manifest graph from the active manifest through every ingredient (parentOf,
   componentOf, inputTo), recursively, recording signer, time, generator, actions, author,
   license, permissions and consent per manifest;
3. evaluate trust of every manifest's signing chain against the anchors (the chain is read from
   the store the engine validated);
4. compare each manifest with its ingredients: widened permissions, dropped or changed consent,
   changed author or license, signing times out of order;
5. judge consent at audit time: expired, expiring within the window, withdrawn.

Findings carry stable codes, a severity and the manifest labels involved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.engine.jumbf import signing_chain
from rightsmark.engine.reading import TRUST_CODES, EngineReading, signer_info
from rightsmark.models import Integrity, Purpose, Use
from rightsmark.rights.consent import CONSENT_LABEL, parse_time, subject_entries
from rightsmark.rights.manifest import (
    assertions_by_label,
    read_authors,
    read_license,
    read_source_type,
    read_training,
)

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources

SEVERITIES = ("info", "warning", "error", "critical")

#: Every finding code, its default severity and meaning.
FINDING_CODES = {
    "manifest-invalid": ("critical", "the active manifest fails validation"),
    "manifest-untrusted": ("warning", "the active manifest's signer does not chain to a trust anchor"),
    "manifest-absent": ("error", "the file carries no manifest"),
    "ancestor-invalid": ("error", "an ingredient's manifest fails validation"),
    "ancestor-untrusted": ("warning", "an ingredient's manifest is signed by a signer no trust anchor vouches for"),
    "ancestor-unknown-provenance": ("warning", "an ingredient carries no manifest: its history is unknown"),
    "permission-widened": ("error", "a later manifest allows what an earlier one did not"),
    "consent-dropped": ("error", "consent records of an earlier manifest are missing from a later one"),
    "consent-changed": ("warning", "a consent record differs between manifests"),
    "author-changed": ("warning", "the author differs between manifests"),
    "license-changed": ("warning", "the license differs between manifests"),
    "time-order": ("error", "a manifest is older than its ingredient, or signing times are out of order"),
    "consent-expired": ("error", "a consent record has expired at audit time"),
    "consent-expiring": ("warning", "a consent record expires within the warning window"),
    "consent-withdrawn": ("critical", "a consent record was withdrawn"),
}

_RANK = {Use.NOT_ALLOWED: 0, Use.CONSTRAINED: 1, Use.ALLOWED: 2}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    manifests: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "manifests": list(self.manifests),
        }


@dataclass
class ManifestNode:
    """One manifest of the chain (or an ingredient without one: ``label`` None)."""

    label: str | None
    depth: int
    parent: str | None
    relationship: str | None
    title: str | None
    data: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    trusted: bool | None = None
    children: list[ManifestNode] = field(default_factory=list)

    @property
    def assertions(self) -> dict[str, Any]:
        return assertions_by_label(self.data) if self.data else {}

    @property
    def signed_at(self) -> dt.datetime | None:
        sig = self.data.get("signature_info") or {}
        when = sig.get("time")
        try:
            return parse_time(when) if isinstance(when, str) else None
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        s = signer_info(self.data) if self.data else None
        a = self.assertions
        lic = read_license(a)
        gen = self.data.get("claim_generator_info")
        generator = None
        if isinstance(gen, list) and gen and isinstance(gen[0], dict):
            generator = " ".join(str(x) for x in (gen[0].get("name"), gen[0].get("version")) if x)
        elif self.data.get("claim_generator"):
            generator = str(self.data["claim_generator"])
        actions = a.get("c2pa.actions") if isinstance(a.get("c2pa.actions"), dict) else {}
        return {
            "label": self.label,
            "depth": self.depth,
            "parent": self.parent,
            "relationship": self.relationship,
            "title": self.title,
            "has_manifest": self.label is not None,
            "validation": "valid" if self.label and not self.failures else ("invalid" if self.failures else "unknown"),
            "failure_codes": self.failures,
            "trust": None if self.trusted is None else ("trusted" if self.trusted else "untrusted"),
            "signer": s.to_dict() if s else None,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamped": bool(s and s.time),
            "claim_generator": generator,
            "actions": [x.get("action") for x in (actions or {}).get("actions") or () if isinstance(x, dict)],
            "digital_source_type": read_source_type(a),
            "author": list(read_authors(a)),
            "license": lic.to_dict() if lic else None,
            "training": read_training(a).to_dict(),
            "consent": a.get(CONSENT_LABEL),
        }


@dataclass
class FileAudit:
    path: str
    integrity: Integrity
    trusted: bool
    nodes: list[ManifestNode]
    findings: list[Finding]
    error: str | None = None

    @property
    def worst(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITIES.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "integrity": self.integrity.value,
            "trust": "trusted" if self.trusted else "untrusted",
            "error": self.error,
            "manifests": [n.to_dict() for n in self.nodes],
            "findings": [f.to_dict() for f in self.findings],
        }


# ---------------------------------------------------------------------------------------------
# Trust of any manifest's chain


def load_anchor_certificates(paths: Sequence[str | Path]) -> list[Any]:
    from cryptography import x509

    from rightsmark.keys.pem import read_certificate_blocks

    return [x509.load_pem_x509_certificate(b.encode()) for p in paths for b in read_certificate_blocks(p)]


def _untrusted_because(
    chain: Sequence[bytes] | None, anchors: Sequence[Any], allowed: Sequence[Any], at: dt.datetime
) -> str | None:
    """Why a manifest's signing chain is not trusted as a claim signer's at ``at``; None when it is."""
    if not chain:
        return "the manifest carries no single certificate chain (none, or more than one: ambiguous)"
    if not anchors and not allowed:
        return "no trust list or anchor vouches for claim signers"
    from rightsmark.trust.chainval import Role, validate_chain

    verdict = validate_chain(chain, anchors, at=at, role=Role.CLAIM_SIGNER, allowed=allowed)
    return None if verdict.ok else verdict.reason or "not trusted"


# ---------------------------------------------------------------------------------------------
# Walking the store


def _codes(entries: Iterable[Any] | None) -> list[str]:
    return [str(e.get("code")) for e in entries or () if isinstance(e, dict) and e.get("code")]


def _ingredient_failures(ingredient: dict[str, Any]) -> list[str]:
    codes = _codes(ingredient.get("validation_status"))
    results = ingredient.get("validation_results") or {}
    codes += _codes((results.get("activeManifest") or {}).get("failure"))
    return codes


def _delta_failures(store: dict[str, Any]) -> dict[str, list[str]]:
    """Read-time failure deltas per manifest label (the label inside each failure URL)."""
    out: dict[str, list[str]] = {}
    for delta in (store.get("validation_results") or {}).get("ingredientDeltas") or ():
        for entry in (delta.get("validationDeltas") or {}).get("failure") or ():
            url = str(entry.get("url", ""))
            label = url.split("/c2pa/", 1)[1].split("/", 1)[0] if "/c2pa/" in url else None
            if label:
                out.setdefault(label, []).append(str(entry.get("code")))
    return out


def walk(store: dict[str, Any]) -> list[ManifestNode]:
    """Every manifest reachable from the active one, in depth-first pre-order (a shared or cyclic
    ingredient is listed where it appears but walked once)."""
    manifests = store.get("manifests") or {}
    deltas = _delta_failures(store)
    active = store.get("active_manifest")
    if not active or active not in manifests:
        return []
    nodes: list[ManifestNode] = []
    seen: set[str] = set()

    def visit(node: ManifestNode) -> None:
        nodes.append(node)
        if node.label is None or node.label in seen:
            return
        seen.add(node.label)
        for ing in node.data.get("ingredients") or ():
            if not isinstance(ing, dict):
                continue
            label = ing.get("active_manifest")
            failures = [c for c in _ingredient_failures(ing) if c not in TRUST_CODES]
            data: dict[str, Any] = {}
            if label and label in manifests:
                failures += [c for c in deltas.get(label, ()) if c not in TRUST_CODES and c not in failures]
                data = manifests[label]
            else:
                label = None
            child = ManifestNode(
                label, node.depth + 1, node.label, ing.get("relationship"), ing.get("title"), data, failures
            )
            node.children.append(child)
            visit(child)

    visit(ManifestNode(active, 0, None, None, manifests[active].get("title"), manifests[active]))
    return nodes


# ---------------------------------------------------------------------------------------------
# Findings


def _subjects(consent: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(consent, dict) or not consent.get("identifiable_people"):
        return {}
    return {str(s.get("ref")): s for s in subject_entries(consent) or ()}


def _signer_key(node: ManifestNode) -> tuple[Any, ...]:
    s = node.data.get("signature_info") or {}
    return (s.get("common_name"), s.get("issuer"))


def compare(later: ManifestNode, earlier: ManifestNode) -> list[Finding]:
    """Findings between a manifest and one of its ingredients' manifests."""
    out: list[Finding] = []
    labels = tuple(x for x in (earlier.label, later.label) if x)
    la, ea = later.assertions, earlier.assertions
    lt, et = read_training(la), read_training(ea)
    other_party = _signer_key(later) != _signer_key(earlier)
    for purpose in Purpose:
        before, after = et.get(purpose), lt.get(purpose)
        if before in (Use.NOT_ALLOWED, Use.CONSTRAINED) and after in _RANK and _RANK[after] > _RANK[before]:
            party = "by a different signer" if other_party else "by the same signer"
            out.append(
                Finding(
                    "permission-widened",
                    "critical" if other_party else "error",
                    f"{purpose.value} widened from {before.value} to {after.value} {party}",
                    labels,
                )
            )
    before_subjects, after_subjects = _subjects(ea.get(CONSENT_LABEL)), _subjects(la.get(CONSENT_LABEL))
    dropped = sorted(set(before_subjects) - set(after_subjects))
    if dropped:
        out.append(Finding("consent-dropped", "error", f"consent records dropped: {', '.join(dropped)}", labels))
    for ref in sorted(set(before_subjects) & set(after_subjects)):
        b, a = before_subjects[ref], after_subjects[ref]
        if b != a:
            changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            widened = (
                any(
                    a.get("purposes", {}).get(p.value) == "allowed" and b.get("purposes", {}).get(p.value) != "allowed"
                    for p in Purpose
                )
                or (a.get("expires") or "9999") > (b.get("expires") or "9999")
                or (a.get("commercial") and not b.get("commercial"))
            )
            out.append(
                Finding(
                    "consent-changed",
                    "error" if widened else "warning",
                    f"consent of {ref} changed ({', '.join(changed)}){'; widened' if widened else ''}",
                    labels,
                )
            )
    if read_authors(la) and read_authors(ea) and read_authors(la) != read_authors(ea):
        out.append(
            Finding(
                "author-changed",
                "warning",
                f"author changed from {', '.join(read_authors(ea))} to {', '.join(read_authors(la))}",
                labels,
            )
        )
    bl, al = read_license(ea), read_license(la)
    if bl is not None and al is not None and (bl.id or bl.url) != (al.id or al.url):
        out.append(
            Finding(
                "license-changed", "warning", f"license changed from {bl.id or bl.url} to {al.id or al.url}", labels
            )
        )
    if later.signed_at and earlier.signed_at and later.signed_at < earlier.signed_at:
        out.append(
            Finding(
                "time-order",
                "error",
                f"signed {later.signed_at:%Y-%m-%d %H:%M} before its ingredient ({earlier.signed_at:%Y-%m-%d %H:%M})",
                labels,
            )
        )
    return out


def consent_findings(
    node: ManifestNode, now: dt.datetime, expiring_within: dt.timedelta | None, withdrawn: dict[str, str]
) -> list[Finding]:
    out: list[Finding] = []
    label = (node.label,) if node.label else ()
    for ref, s in _subjects(node.assertions.get(CONSENT_LABEL)).items():
        release = str(s.get("release_id"))
        if release in withdrawn:
            out.append(
                Finding(
                    "consent-withdrawn", "critical", f"consent {release} of {ref} withdrawn {withdrawn[release]}", label
                )
            )
        expires = s.get("expires")
        if not isinstance(expires, str):
            continue
        try:
            end = parse_time(expires, end_of_day=True)
        except ValueError:
            continue
        if end < now:
            out.append(Finding("consent-expired", "error", f"consent {release} of {ref} expired {expires}", label))
        elif expiring_within is not None and end < now + expiring_within:
            out.append(Finding("consent-expiring", "warning", f"consent {release} of {ref} expires {expires}", label))
    return out


def audit_reading(
    path: str,
    reading: EngineReading,
    store_bytes: bytes | None,
    *,
    anchors: Sequence[Any] = (),
    allowed: Sequence[Any] = (),
    now: dt.datetime | None = None,
    expiring_within: dt.timedelta | None = None,
    withdrawn: dict[str, str] | None = None,
) -> FileAudit:
    """The audit of one file from its engine reading (and the raw store, for ancestors' trust)."""
    when = now or dt.datetime.now(dt.UTC)
    withdrawn = withdrawn or {}
    findings: list[Finding] = []
    if reading.store is None:
        code = "manifest-absent" if reading.integrity is Integrity.ABSENT else "manifest-invalid"
        message = reading.message or FINDING_CODES[code][1]
        return FileAudit(
            path, reading.integrity, False, [], [Finding(code, FINDING_CODES[code][0], message)], reading.message
        )
    nodes = walk(reading.store)
    if not nodes:
        return FileAudit(
            path, reading.integrity, False, [], [Finding("manifest-invalid", "critical", "no active manifest")]
        )
    root = nodes[0]
    root.failures = [c for c in reading.failure_codes if c not in TRUST_CODES and not c.startswith("cawg.")]
    root.trusted = reading.trusted
    if reading.integrity is not Integrity.VALID:
        findings.append(
            Finding(
                "manifest-invalid",
                "critical",
                reading.message or "the active manifest fails validation",
                (root.label or "",),
            )
        )
    elif not reading.trusted:
        findings.append(
            Finding("manifest-untrusted", "warning", FINDING_CODES["manifest-untrusted"][1], (root.label or "",))
        )
    for node in nodes[1:]:
        if node.label is None:
            if node.relationship in ("parentOf", "componentOf", None):
                findings.append(
                    Finding(
                        "ancestor-unknown-provenance",
                        "warning",
                        f"ingredient '{node.title}' ({node.relationship}) carries no manifest",
                        (node.parent or "",),
                    )
                )
            continue
        if node.failures:
            findings.append(
                Finding(
                    "ancestor-invalid",
                    "error",
                    f"'{node.title}' fails validation: {', '.join(dict.fromkeys(node.failures))}",
                    (node.label,),
                )
            )
        if store_bytes is not None:
            why = _untrusted_because(signing_chain(store_bytes, node.label), anchors, allowed, node.signed_at or when)
            node.trusted = why is None
            if why is not None:
                who = (node.data.get("signature_info") or {}).get("common_name") or "unknown signer"
                findings.append(
                    Finding(
                        "ancestor-untrusted",
                        "warning",
                        f"'{node.title}' signed by {who}, not trusted: {why}",
                        (node.label,),
                    )
                )
    by_label = {n.label: n for n in nodes if n.label}
    for node in nodes[1:]:
        if node.label and node.parent in by_label:
            findings.extend(compare(by_label[node.parent], node))
    findings.extend(consent_findings(root, when, expiring_within, withdrawn))
    return FileAudit(path, reading.integrity, reading.trusted, nodes, _dedupe(findings), None)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def report_header(
    anchors: Sequence[str | Path],
    withdrawal_lists: Sequence[dict[str, Any]],
    now: dt.datetime,
    sources: TrustSources | None = None,
) -> dict[str, Any]:
    """What makes an audit reproducible: tool, time, anchors by sha256, trust sources, withdrawal lists used."""
    header = {
        "tool": {"name": "rightsmark", "version": __version__},
        "audited_at": now.isoformat(),
        "trust_anchors": [{"path": str(a), "sha256": file_sha256(a)} for a in anchors],
        "withdrawal_lists": list(withdrawal_lists),
    }
    if sources is not None:
        header["trust_sources"] = sources.describe()
    return header


class Auditor:
    """Audits files against trust sources (and withdrawal lists); one engine front, reused.

    ``trust`` adds your own claim-signer anchor files to ``sources`` (default: the bundled lists
    enabled by default, see :mod:`rightsmark.trust.sources`).
    """

    def __init__(
        self,
        trust: Sequence[str | Path] = (),
        *,
        sources: TrustSources | None = None,
        withdrawn: dict[str, str] | None = None,
        expiring_within: dt.timedelta | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        from rightsmark.trust import lists as trustlists
        from rightsmark.trust.sources import resolve
        from rightsmark.verify.facts import FactReader

        self.trust = tuple(trust)
        self.sources = sources if sources is not None else resolve(trustlists.DEFAULT, anchors=self.trust)
        self._reader = FactReader(self.sources)
        self.withdrawn = withdrawn or {}
        self.expiring_within = expiring_within
        self.now = now or dt.datetime.now(dt.UTC)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def audit_bytes(self, data: bytes, path: str) -> FileAudit:
        _, reading, store = self._reader.examine_store(data, path)
        return audit_reading(
            path,
            reading,
            store,
            anchors=self.sources.claim_certificates,
            allowed=self.sources.allowed_certificates,
            now=self.now,
            expiring_within=self.expiring_within,
            withdrawn=self.withdrawn,
        )

    def audit_file(self, path: str | Path, display: str | None = None) -> FileAudit:
        shown = display or str(path)
        from rightsmark.sources.guard import ItemRefusedError, read_regular

        try:
            data = read_regular(str(path))  # a regular file within 512 MiB: never a FIFO or /dev/zero
        except OSError as exc:
            if isinstance(exc, ItemRefusedError):
                message = str(exc)
            elif isinstance(exc, FileNotFoundError):
                message = "no such file"
            else:
                message = f"cannot read: {exc.strerror or exc}"
            return FileAudit(
                shown, Integrity.ERROR, False, [], [Finding("manifest-invalid", "critical", message)], message
            )
        return self.audit_bytes(data, shown)


def parse_window(text: str) -> dt.timedelta:
    """``90d``, ``12w``, ``6m`` (30-day months), ``1y`` or a number of days."""
    units = {"d": 1, "w": 7, "m": 30, "y": 365}
    value = text.strip().lower()
    try:
        if value and value[-1] in units:
            return dt.timedelta(days=float(value[:-1]) * units[value[-1]])
        return dt.timedelta(days=float(value))
    except ValueError:
        from rightsmark.errors import UsageError

        raise UsageError(f"'{text}' is not a duration", hint="write e.g. 90d, 12w, 6m or 1y") from None


def summarise(audits: Sequence[FileAudit]) -> dict[str, Any]:
    """Dataset-level counts: files, by signer, license, AI-use permission, consent coverage, findings."""
    from collections import Counter

    signers: Counter[str] = Counter()
    licenses: Counter[str] = Counter()
    training: Counter[str] = Counter()
    consent: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    severities: Counter[str] = Counter()
    for a in audits:
        root: dict[str, Any] = a.nodes[0].to_dict() if a.nodes else {}
        signers[(root.get("signer") or {}).get("common_name") or "none"] += 1
        lic = root.get("license") or {}
        licenses[lic.get("id") or lic.get("url") or "none"] += 1
        training[root.get("training", {}).get("ai_training", "unspecified")] += 1
        c = root.get("consent")
        if not isinstance(c, dict):
            consent["missing"] += 1
        elif not c.get("identifiable_people"):
            consent["no identifiable people"] += 1
        else:
            consent["consent recorded"] += 1
        for f in a.findings:
            findings[f.code] += 1
            severities[f.severity] += 1
    return {
        "files": len(audits),
        "files_with_findings": sum(1 for a in audits if a.findings),
        "by_signer": dict(signers.most_common()),
        "by_license": dict(licenses.most_common()),
        "by_ai_training": dict(training.most_common()),
        "consent_coverage": dict(consent.most_common()),
        "findings_by_code": dict(findings.most_common()),
        "findings_by_severity": dict(severities.most_common()),
    }


def tree_text(audit: FileAudit) -> str:
    """A readable tree of the chain with its findings, for a terminal."""
    lines = [f"{audit.path}  (integrity {audit.integrity.value}, {'trusted' if audit.trusted else 'untrusted'})"]
    for node in audit.nodes:
        d = node.to_dict()
        indent = "    " * node.depth
        rel = f"{node.relationship} " if node.relationship else ""
        if node.label is None:
            lines.append(f"{indent}└─ {rel}'{node.title}': no manifest (unknown provenance)")
            continue
        signer = (d["signer"] or {}).get("common_name") or "unknown"
        when = d["signed_at"] or "no trusted time"
        state = d["validation"] + ("" if d["trust"] is None else f", {d['trust']}")
        head = "●" if node.depth == 0 else "└─"
        lines.append(f"{indent}{head} {rel}'{node.title}' [{state}] signed by {signer} at {when}")
        lic = d["license"] or {}
        t = d["training"]
        consent = d["consent"]
        people = (
            "consent not recorded"
            if not isinstance(consent, dict)
            else (
                "no identifiable people"
                if not consent.get("identifiable_people")
                else (
                    f"{len(entries)} consent record(s)"
                    if (entries := subject_entries(consent)) is not None
                    else "consent malformed (not a list of subjects)"
                )
            )
        )
        actions = ", ".join(a for a in d["actions"] if a) or "none"
        lines.append(
            f"{indent}   {d['claim_generator'] or 'unknown tool'}; actions {actions};"
            f" author {', '.join(d['author']) or 'none'}; license {lic.get('id') or lic.get('url') or 'none'}"
        )
        lines.append(
            f"{indent}   ai_training {t['ai_training']}, generative {t['ai_generative_training']}, "
            f"inference {t['ai_inference']}, data_mining {t['data_mining']}; {people}"
        )
    if audit.findings:
        lines.append("  findings:")
        for f in sorted(audit.findings, key=lambda f: -SEVERITIES.index(f.severity)):
            lines.append(f"    [{f.severity}] {f.code}: {f.message}")
    else:
        lines.append("  no findings")
    from rightsmark.reports.formats import safe_lines

    return safe_lines(lines)
