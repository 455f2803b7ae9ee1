"""Audit findings: the code table, comparing a manifest with its ingredient's, and consent at audit time.

What counts as widening is not decided here: :mod:`rightsmark.rights.widening` defines it once,
for signing and for the audit alike. This module grades it (by a different signer ``critical``,
by the same signer ``error``) and names it with the code of what widened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rightsmark.audit.chain import ManifestNode
from rightsmark.rights.consent import CONSENT_LABEL, parse_time
from rightsmark.rights.manifest import read_authors, read_license
from rightsmark.rights.widening import Aspect, Widening, declared_consent, license_name, recorded_rights, widening

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
    # audit --recover (rightsmark.audit.recovery); findings of a recovered manifest's own audit are marked recovered
    "recovered": (
        "warning",
        "the file's manifest was found only through a soft binding: it is not embedded in the file",
    ),
    "recovered-restricted": ("error", "a manifest recovered through a soft binding does not allow an AI use"),
    "recovered-ambiguous": ("error", "several different manifests match the file's soft bindings"),
    "recovered-conflict": ("error", "the file's watermark and fingerprint point at different manifests"),
    "recovered-invalid": (
        "error",
        "a manifest store the repository gives for the file is missing or does not validate",
    ),
    "recovery-failed": ("error", "the repository could not be asked, or no soft binding could be computed"),
}

#: How widening is graded, whatever its code: by another party than the earlier manifest's signer, or
#: by that signer itself (who may narrow and later widen its own terms, but should say so).
WIDENED_BY_OTHER, WIDENED_BY_SAME = "critical", "error"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    manifests: tuple[str, ...] = ()
    #: about a manifest recovered through a soft binding (``audit --recover``), not one the file carries
    recovered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "manifests": list(self.manifests),
            "recovered": self.recovered,
        }


def _signer_key(node: ManifestNode) -> tuple[Any, ...]:
    s = node.data.get("signature_info") or {}
    return (s.get("common_name"), s.get("issuer"))


def _same_signer(later: ManifestNode, earlier: ManifestNode) -> bool:
    """Whether both manifests name the same signer; a manifest naming none is never the same (fail closed)."""
    key = _signer_key(later)
    return any(key) and key == _signer_key(earlier)


def compare(later: ManifestNode, earlier: ManifestNode) -> list[Finding]:
    """Findings between a manifest and one of its ingredients' manifests."""
    out: list[Finding] = []
    labels = tuple(x for x in (earlier.label, later.label) if x)
    la, ea = later.assertions, earlier.assertions
    other_party = not _same_signer(later, earlier)
    graded = WIDENED_BY_OTHER if other_party else WIDENED_BY_SAME
    party = "by a different signer" if other_party else "by the same signer"
    found = widening(recorded_rights(ea), recorded_rights(la))
    for w in found:
        if w.aspect is Aspect.USE:
            assert w.purpose is not None
            message = f"{w.purpose.value} widened from {w.before} to {w.after} {party}"
            out.append(Finding("permission-widened", graded, message, labels))
    dropped = sorted({str(w.ref) for w in found if w.aspect is Aspect.CONSENT_DROPPED})
    if dropped:
        out.append(Finding("consent-dropped", graded, f"consent records dropped {party}: {', '.join(dropped)}", labels))
    if any(w.aspect is Aspect.NO_PEOPLE for w in found):
        message = f"declares no identifiable people where the earlier manifest pictured people {party}"
        out.append(Finding("consent-changed", graded, message, labels))
    out += _changed_subjects(ea, la, found, graded, party, labels)
    if read_authors(la) and read_authors(ea) and read_authors(la) != read_authors(ea):
        out.append(
            Finding(
                "author-changed",
                "warning",
                f"author changed from {', '.join(read_authors(ea))} to {', '.join(read_authors(la))}",
                labels,
            )
        )
    out += _license_change(ea, la, found, graded, party, labels)
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


def _changed_subjects(
    earlier: dict[str, Any],
    later: dict[str, Any],
    found: list[Widening],
    graded: str,
    party: str,
    labels: tuple[str, ...],
) -> list[Finding]:
    """``consent-changed`` for each person recorded in both manifests whose record differs: graded as
    widening when it allows more, a warning otherwise."""
    out = []
    before, after = _people(earlier.get(CONSENT_LABEL)), _people(later.get(CONSENT_LABEL))
    for ref in sorted(set(before) & set(after)):
        b, a = before[ref], after[ref]
        changed = ", ".join(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
        widened = [w.phrase() for w in found if w.ref == ref and w.aspect is not Aspect.CONSENT_DROPPED]
        if widened:
            message = f"consent of {ref} changed ({changed}); widened {party}: {'; '.join(widened)}"
            out.append(Finding("consent-changed", graded, message, labels))
        elif b != a:
            out.append(Finding("consent-changed", "warning", f"consent of {ref} changed ({changed})", labels))
    return out


def _license_change(
    earlier: dict[str, Any],
    later: dict[str, Any],
    found: list[Widening],
    graded: str,
    party: str,
    labels: tuple[str, ...],
) -> list[Finding]:
    """``license-changed``: graded as widening when the new license grants more (a license removed or a
    public-domain dedication included); a warning for any other change between two named licenses."""
    before, after = read_license(earlier), read_license(later)
    message = f"license changed from {license_name(before)} to {license_name(after)}"
    wider = [w.note for w in found if w.aspect is Aspect.LICENSE]
    if wider:
        return [Finding("license-changed", graded, f"{message}; widened ({'; '.join(wider)}) {party}", labels)]
    if before is not None and after is not None and license_name(before) != license_name(after):
        return [Finding("license-changed", "warning", message, labels)]
    return []


def _people(consent: object) -> dict[str, dict[str, Any]]:
    """The people a consent assertion records consent for, by ``ref`` (read as widening reads it)."""
    declared = declared_consent(consent)
    return {str(s.get("ref")): dict(s) for s in declared.subjects} if declared.identifiable_people else {}


def consent_findings(
    node: ManifestNode, now: dt.datetime, expiring_within: dt.timedelta | None, withdrawn: dict[str, str]
) -> list[Finding]:
    """Consent judged at audit time on one manifest: withdrawn, expired, expiring within the window."""
    out: list[Finding] = []
    label = (node.label,) if node.label else ()
    for ref, s in _people(node.assertions.get(CONSENT_LABEL)).items():
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
