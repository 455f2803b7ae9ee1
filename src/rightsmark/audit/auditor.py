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
5. judge consent at audit time: expired, expiring within the window, withdrawn;
6. with ``recover``, for a file without a valid manifest of its own: find its manifest again through its
   soft bindings in a repository, and audit that store as steps 2-5 audit a file's
   (:mod:`rightsmark.audit.recovery`).

Findings carry stable codes, a severity and the manifest labels involved. Here: the order above and
trust; the walk is :mod:`rightsmark.audit.chain`, the comparisons and the code table
:mod:`rightsmark.audit.findings`, the terminal tree :mod:`rightsmark.audit.text`, a whole run over
files and folders :mod:`rightsmark.audit.run`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.audit.chain import ManifestNode, walk
from rightsmark.audit.findings import FINDING_CODES, SEVERITIES, Finding, compare, consent_findings
from rightsmark.audit.recovery import RecoveredAudit, recovered_audit
from rightsmark.engine.jumbf import signing_chain
from rightsmark.engine.reading import EngineReading
from rightsmark.models import Integrity

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources
    from rightsmark.verify.facts import Match
    from rightsmark.verify.recover import Recoverer

#: The audit's types and code table, importable from here as well as from their modules.
__all__ = [
    "FINDING_CODES",
    "SEVERITIES",
    "Auditor",
    "FileAudit",
    "Finding",
    "ManifestNode",
    "RecoveredAudit",
    "audit_reading",
    "compare",
    "consent_findings",
    "file_sha256",
    "load_anchor_certificates",
    "parse_window",
    "report_header",
    "summarise",
    "walk",
]


@dataclass
class FileAudit:
    path: str
    integrity: Integrity
    trusted: bool
    nodes: list[ManifestNode]
    findings: list[Finding]
    error: str | None = None
    #: what ``recover`` found for a file without a valid manifest of its own (None: not asked, or not needed)
    recovered: RecoveredAudit | None = None

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
            "recovered": None if self.recovered is None else self.recovered.to_dict(),
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
    root.failures = reading.integrity_failures
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
    enabled by default, see :mod:`rightsmark.trust.sources`). ``recover``: a manifest repository (a path,
    ``postgresql://`` or a resolution service's URL) in which a file without a valid manifest of its own is
    matched back to its manifest through its soft bindings; a repository that cannot be asked gives each
    such file a ``recovery-failed`` finding (:func:`rightsmark.verify.recover.check_repository` asks first).
    """

    def __init__(
        self,
        trust: Sequence[str | Path] = (),
        *,
        sources: TrustSources | None = None,
        withdrawn: dict[str, str] | None = None,
        expiring_within: dt.timedelta | None = None,
        now: dt.datetime | None = None,
        recover: str | None = None,
    ) -> None:
        from rightsmark.trust import lists as trustlists
        from rightsmark.trust.sources import resolve
        from rightsmark.verify.reader import FactReader

        self.trust = tuple(trust)
        self.sources = sources if sources is not None else resolve(trustlists.DEFAULT, anchors=self.trust)
        self._reader = FactReader(self.sources)
        self.withdrawn = withdrawn or {}
        self.expiring_within = expiring_within
        self.now = now or dt.datetime.now(dt.UTC)
        self._recoverer: Recoverer | None = None
        if recover:
            from rightsmark.verify.recover import Recoverer

            self._recoverer = Recoverer(recover, self._reader, keep_stores=True)

    def close(self) -> None:
        if self._recoverer is not None:
            self._recoverer.close()
        self._reader.close()

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def audit_bytes(self, data: bytes, path: str) -> FileAudit:
        _, reading, store = self._reader.examine_store(data, path)
        audit = self._audit(path, reading, store)
        if self._recoverer is not None:
            from rightsmark.verify.recover import RECOVERABLE

            if reading.integrity in RECOVERABLE:
                audit = self._with_recovery(audit, data, path)
        return audit

    def _audit(self, path: str, reading: EngineReading, store: bytes | None) -> FileAudit:
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

    def _with_recovery(self, audit: FileAudit, data: bytes, path: str) -> FileAudit:
        """``audit`` with what recovery finds for the file: the recovered manifests audited, their findings added."""
        assert self._recoverer is not None

        def audit_store(match: Match) -> tuple[list[ManifestNode], list[Finding]]:
            assert match.reading is not None  # recovered_audit audits only matches that kept their reading
            found = self._audit(f"recovered manifest {match.manifest_id}", match.reading, match.store)
            return found.nodes, found.findings

        recovered, findings = recovered_audit(self._recoverer.recover_safely(data, path), audit_store)
        return replace(audit, recovered=recovered, findings=_dedupe([*audit.findings, *findings]))

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
