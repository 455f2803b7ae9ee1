"""Keep or drop: small checks, each returning stable reason codes, composed with :class:`AllOf`.

Every check fails closed: an unknown value, a missing fact or an error is a reason to
drop, never permission. Reason codes are part of the public interface (reports,
keep lists, pipelines filter on them): add new codes, never rename old ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rightsmark.models import ConsentResult, ConsentStatus, Decision, Integrity, Purpose, Reason, Training, Trust, Use

#: Every reason code the default policy can produce, with what it means.
REASON_CODES = {
    "integrity-invalid": "the manifest or the image bytes fail validation (tampered, damaged or malformed)",
    "integrity-absent": "the file carries no C2PA manifest",
    "integrity-error": "the file could not be read or is not a supported format",
    "manifest-remote": "the only manifest is a remote reference, which offline verification does not fetch",
    "untrusted": "the signer does not chain to a trust anchor given with --trust",
    "no-trust-anchors": "no trust anchors were given, so no signer can be trusted",
    "ingredient-invalid": "an ingredient (an earlier version in the chain of custody) fails validation",
    "identity-invalid": "an identity assertion in the manifest fails validation",
    "permission-not-allowed": "the file does not allow the purpose (notAllowed)",
    "permission-constrained": "the file allows the purpose only under constraints, counted as not allowed",
    "permission-unspecified": "the file says nothing about the purpose; permission is opt-in",
    "consent-missing": "the file does not say whether identifiable people are pictured",
    "consent-invalid": "the consent assertion is malformed",
    "consent-expired": "a pictured person's consent has expired",
    "consent-not-yet-valid": "a pictured person's consent starts in the future",
    "consent-not-covered": "a pictured person's consent does not cover the purpose",
}


@dataclass(frozen=True)
class Evidence:
    """The facts a policy decides on."""

    integrity: Integrity
    trust: Trust
    anchors_given: bool
    training: Training
    consent: ConsentResult
    message: str | None = None
    remote_manifest: str | None = None
    ingredient_codes: tuple[str, ...] = ()
    identity_problems: tuple[str, ...] = field(default_factory=tuple)


class Check(Protocol):
    def reasons(self, evidence: Evidence) -> list[Reason]:
        """Reasons to drop; an empty list means the check passes."""


@dataclass(frozen=True)
class IntegrityCheck:
    def reasons(self, evidence: Evidence) -> list[Reason]:
        i = evidence.integrity
        if i is Integrity.VALID:
            return []
        if i is Integrity.ABSENT and evidence.remote_manifest:
            return [Reason("manifest-remote", f"only a remote manifest at {evidence.remote_manifest}; not fetched")]
        detail = evidence.message or REASON_CODES[f"integrity-{i.value}"]
        return [Reason(f"integrity-{i.value}", detail)]


@dataclass(frozen=True)
class TrustCheck:
    def reasons(self, evidence: Evidence) -> list[Reason]:
        if evidence.integrity is not Integrity.VALID or evidence.trust is Trust.TRUSTED:
            return []
        if not evidence.anchors_given:
            return [
                Reason("no-trust-anchors", "no trust anchors given (--trust CA.pem), so the signer cannot be trusted")
            ]
        return [Reason("untrusted", "the signer does not chain to any of the trust anchors given")]


@dataclass(frozen=True)
class ChainCheck:
    def reasons(self, evidence: Evidence) -> list[Reason]:
        out = []
        if evidence.ingredient_codes:
            out.append(
                Reason("ingredient-invalid", f"an ingredient fails validation: {', '.join(evidence.ingredient_codes)}")
            )
        if evidence.identity_problems:
            out.append(
                Reason(
                    "identity-invalid",
                    f"an identity assertion fails validation: {', '.join(evidence.identity_problems)}",
                )
            )
        return out


@dataclass(frozen=True)
class PermissionCheck:
    purpose: Purpose

    def reasons(self, evidence: Evidence) -> list[Reason]:
        if evidence.integrity is not Integrity.VALID:
            return []
        use = evidence.training.get(self.purpose)
        name = self.purpose.value
        if use is Use.ALLOWED:
            return []
        if use is Use.CONSTRAINED:
            info = f" ({evidence.training.constraint_info})" if evidence.training.constraint_info else ""
            return [Reason("permission-constrained", f"{name} is constrained{info}; counted as not allowed")]
        if use is Use.NOT_ALLOWED:
            return [Reason("permission-not-allowed", f"{name} is notAllowed")]
        return [Reason("permission-unspecified", f"{name} is not specified; permission is opt-in")]


@dataclass(frozen=True)
class ConsentCheck:
    def reasons(self, evidence: Evidence) -> list[Reason]:
        if evidence.integrity is not Integrity.VALID:
            return []
        status = evidence.consent.status
        if status in (ConsentStatus.GRANTED, ConsentStatus.NOT_NEEDED):
            return []
        code = f"consent-{status.value}"
        return [Reason(code, evidence.consent.message or REASON_CODES[code])]


@dataclass(frozen=True)
class AllOf:
    checks: Sequence[Check]

    def reasons(self, evidence: Evidence) -> list[Reason]:
        out: list[Reason] = []
        for check in self.checks:
            out.extend(check.reasons(evidence))
        return out


class DefaultPolicy:
    """Keep only a file that is intact, trusted, allows the purpose, and has consent or no people."""

    def __init__(self, purpose: Purpose = Purpose.AI_TRAINING) -> None:
        self.check = AllOf([IntegrityCheck(), TrustCheck(), ChainCheck(), PermissionCheck(purpose), ConsentCheck()])

    def decide(self, evidence: Evidence) -> tuple[Decision, list[Reason]]:
        reasons = self.check.reasons(evidence)
        return (Decision.DROP if reasons else Decision.KEEP), reasons
