"""Keep or drop: a policy of small checks, each returning stable reason codes.

A :class:`Policy` is plain data (loaded from a policy file by :mod:`rightsmark.verify.policyfile`,
or built from CLI flags); :meth:`Policy.checks` composes the checks it implies with :class:`AllOf`,
in the manner of sigstore-python's verification policies. Every check fails closed: an
unknown value, a missing fact or an error is a reason to drop, never permission. Reason
codes are public interface (reports, keep lists, pipelines filter on them): add codes,
never rename them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rightsmark.errors import RightsmarkError
from rightsmark.models import ConsentResult, ConsentStatus, Decision, Integrity, Purpose, Reason, Use
from rightsmark.rights import signals
from rightsmark.rights.licenses import KNOWN
from rightsmark.trust import lists as trustlists
from rightsmark.trust.lists import DEFAULT as DEFAULT_TRUST_LISTS
from rightsmark.trust.sources import CLAIM_SIGNER
from rightsmark.verify.facts import Facts
from rightsmark.verify.reasons import REASON_CODES

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources


class PolicyError(RightsmarkError):
    """A policy file or option is invalid."""


@dataclass(frozen=True)
class SignerRule:
    """An allowed signer: every field given must match (globs on names, exact fingerprint)."""

    fingerprint: str | None = None
    subject: str | None = None
    issuer: str | None = None

    def matches(self, facts: Facts) -> bool:
        s = facts.signer
        if self.fingerprint is not None and (facts.signer_fingerprint or "").lower() != self.fingerprint.lower():
            return False
        if self.subject is not None and not (s and s.common_name and fnmatch.fnmatchcase(s.common_name, self.subject)):
            return False
        return self.issuer is None or bool(s and s.issuer and fnmatch.fnmatchcase(s.issuer, self.issuer))

    def to_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("fingerprint", self.fingerprint), ("subject", self.subject), ("issuer", self.issuer))
            if v
        }


@dataclass(frozen=True)
class Policy:
    """What a file must show to be kept. The defaults are the strict policy."""

    purpose: Purpose = Purpose.AI_TRAINING
    commercial: bool = True
    #: the user's own claim-signer anchors (``--trust``)
    anchors: tuple[Path, ...] = ()
    #: bundled trust lists enabled (``--trust-list``; () is none), and snapshots replacing them
    trust_lists: tuple[str, ...] = DEFAULT_TRUST_LISTS
    trust_list_files: tuple[tuple[str, Path], ...] = ()
    #: the user's own timestamp-authority anchors (``--tsa-trust``): they never vouch for a claim signer
    tsa_anchors: tuple[Path, ...] = ()
    allow_untrusted: bool = False
    allowed_signers: tuple[SignerRule, ...] = ()
    license_allow: tuple[str, ...] | None = None
    license_deny: tuple[str, ...] = ()
    license_required: bool = False
    consent_required: bool = True
    constrained: Use = Use.NOT_ALLOWED
    keep_absent: bool = False
    keep_remote: bool = False
    keep_ingredient_invalid: bool = False
    #: keep a file without any manifest whose declared signals opt in to the purpose (and none opts out)
    keep_declared_allowed: bool = False
    #: release ids of withdrawn consent records (from signed withdrawal lists, ``--withdrawals``)
    withdrawn: frozenset[str] = frozenset()
    #: the manifest repository (a path or URL) that ``--recover`` finds lost manifests in, or None
    recover: str | None = None
    #: keep a file on a recovered manifest that allows it (``[treat] recovered = "keep"``)
    keep_recovered: bool = False
    source: str | None = field(default=None, compare=False)

    @property
    def needs_fingerprints(self) -> bool:
        return any(r.fingerprint for r in self.allowed_signers)

    def trust_sources(self) -> TrustSources:
        """The trust lists and anchor files, loaded and checked (once per policy object).

        :class:`~rightsmark.errors.TrustError` for an unknown or damaged list or an unreadable file.
        """
        return self._trust_sources

    @functools.cached_property
    def _trust_sources(self) -> TrustSources:
        from rightsmark.trust.sources import resolve

        return resolve(
            self.trust_lists, anchors=self.anchors, tsa_anchors=self.tsa_anchors, overrides=self.trust_list_files
        )

    @property
    def trusts_claim_signers(self) -> bool:
        """Whether any source vouches for claim signers (else no signer can be trusted)."""
        return bool(self.anchors) or any(trustlists.role(n) == CLAIM_SIGNER for n in self.trust_lists)

    def trust_phrase(self) -> str:
        """What trust was sought from, for messages: ``trust lists c2pa, c2pa-tsa and your anchors (--trust)``."""
        parts = []
        if self.trust_lists:
            parts.append(f"trust list{'s' if len(self.trust_lists) > 1 else ''} {', '.join(self.trust_lists)}")
        if self.anchors:
            parts.append("the anchors given (--trust)")
        return " and ".join(parts) if parts else "no trust source"

    @functools.cached_property
    def _checks(self) -> AllOf:
        return self.checks()

    def checks(self) -> AllOf:
        return AllOf(
            [
                IntegrityCheck(self.keep_absent, self.keep_remote),
                TrustCheck(self.allow_untrusted, self.trusts_claim_signers, self.allowed_signers, self.trust_phrase()),
                ChainCheck(self.keep_ingredient_invalid),
                PermissionCheck(self.purpose, self.constrained),
                LicenseCheck(self.license_allow, self.license_deny, self.license_required, self.commercial),
                ConsentCheck(self.consent_required),
                WithdrawalCheck(self.withdrawn),
                DeclaredCheck(self.purpose),
            ]
        )

    def decide(self, facts: Facts, consent: ConsentResult) -> tuple[Decision, list[Reason]]:
        if facts.integrity is Integrity.ABSENT and (
            (self.keep_remote and facts.remote_manifest)
            or (not facts.remote_manifest and (self.keep_absent or self._declared_allows(facts)))
        ):
            reasons = DeclaredCheck(self.purpose).reasons(facts, consent)  # an opt-out always counts
            return (Decision.DROP if reasons else Decision.KEEP), reasons
        reasons = self._checks.reasons(facts, consent)
        return (Decision.DROP if reasons else Decision.KEEP), reasons

    def _declared_allows(self, facts: Facts) -> bool:
        return self.keep_declared_allowed and signals.opted_in(facts.declared, self.purpose)

    def to_dict(self) -> dict[str, Any]:
        """The policy as data (anchors by path and sha256), recorded in reports and cache keys."""
        return {
            "purpose": self.purpose.value,
            "commercial": self.commercial,
            "trust": {
                "lists": list(self.trust_lists),
                "list_files": [
                    {"name": n, "path": str(f), "sha256": _sha256_file(f)} for n, f in self.trust_list_files
                ],
                "anchors": [{"path": str(a), "sha256": _sha256_file(a)} for a in self.anchors],
                "tsa_anchors": [{"path": str(a), "sha256": _sha256_file(a)} for a in self.tsa_anchors],
                "allow_untrusted": self.allow_untrusted,
                "allowed_signers": [r.to_dict() for r in self.allowed_signers],
            },
            "licenses": {
                "allow": list(self.license_allow) if self.license_allow is not None else None,
                "deny": list(self.license_deny),
                "required": self.license_required,
            },
            "consent": {"required": self.consent_required, "withdrawn": sorted(self.withdrawn)},
            "treat": {
                "constrained": self.constrained.value,
                "absent": "keep" if self.keep_absent else "drop",
                "remote": "keep" if self.keep_remote else "drop",
                "ingredient_invalid": "keep" if self.keep_ingredient_invalid else "drop",
                "declared_allowed": "keep" if self.keep_declared_allowed else "drop",
                "recovered": "keep" if self.keep_recovered else "drop",
            },
            "recover": _shown(self.recover),
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _shown(location: str | None) -> str | None:
    from rightsmark.repository.base import shown_location

    return None if location is None else shown_location(location)


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Checks


class Check(Protocol):
    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        """Reasons to drop; an empty list means the check passes."""


@dataclass(frozen=True)
class AllOf:
    checks: Sequence[Check]

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        out: list[Reason] = []
        for check in self.checks:
            out.extend(check.reasons(facts, consent))
        return out


@dataclass(frozen=True)
class IntegrityCheck:
    keep_absent: bool = False
    keep_remote: bool = False

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        i = facts.integrity
        if i is Integrity.VALID:
            return []
        if i is Integrity.ABSENT and facts.remote_manifest:
            return [Reason("manifest-remote", f"only a remote manifest at {facts.remote_manifest}; not fetched")]
        return [Reason(f"integrity-{i.value}", facts.message or REASON_CODES[f"integrity-{i.value}"])]


@dataclass(frozen=True)
class TrustCheck:
    allow_untrusted: bool = False
    anchors_given: bool = False
    allowed_signers: tuple[SignerRule, ...] = ()
    #: what trust was sought from, named in the reason (see :meth:`Policy.trust_phrase`)
    consulted: str = "the trust anchors given"

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        if facts.integrity is not Integrity.VALID:
            return []
        out = []
        if not facts.trusted and not self.allow_untrusted:
            hint = ""
            if facts.trust_hint:
                lists = " ".join(f"--trust-list {n}" for n in facts.trust_hint)
                hint = f"; the bundled list {', '.join(facts.trust_hint)} would trust it: add {lists}"
            if not self.anchors_given:
                out.append(
                    Reason(
                        "no-trust-anchors",
                        "no trust list or anchor vouches for claim signers (add --trust CA.pem or a claim-signer "
                        f"--trust-list), so {_signer_phrase(facts)} cannot be trusted{hint}",
                    )
                )
            else:
                out.append(Reason("untrusted", f"{_signer_phrase(facts)} does not chain to {self.consulted}{hint}"))
        if self.allowed_signers and not any(r.matches(facts) for r in self.allowed_signers):
            who = facts.signer.common_name if facts.signer else "unknown"
            out.append(Reason("signer-not-allowed", f"signer '{who}' is not one of the allowed signers"))
        return out


def _signer_phrase(facts: Facts) -> str:
    s = facts.signer
    who = f"the signer '{s.common_name}'" if s and s.common_name else "the signer"
    return f"{who} (issued by '{s.issuer}')" if s and s.issuer else who


@dataclass(frozen=True)
class ChainCheck:
    keep_ingredient_invalid: bool = False

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        out = []
        if facts.ingredient_codes and not self.keep_ingredient_invalid:
            codes = ", ".join(facts.ingredient_codes)
            out.append(Reason("ingredient-invalid", f"an ingredient fails validation: {codes}"))
        if facts.identity_problems:
            codes = ", ".join(facts.identity_problems)
            out.append(Reason("identity-invalid", f"an identity assertion fails validation: {codes}"))
        return out


@dataclass(frozen=True)
class PermissionCheck:
    purpose: Purpose
    constrained: Use = Use.NOT_ALLOWED

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        if facts.integrity is not Integrity.VALID:
            return []
        use = facts.training.get(self.purpose)
        name = self.purpose.value
        if use is Use.ALLOWED or (use is Use.CONSTRAINED and self.constrained is Use.ALLOWED):
            return []
        if use is Use.CONSTRAINED:
            info = f" ({facts.training.constraint_info})" if facts.training.constraint_info else ""
            return [Reason("permission-constrained", f"{name} is constrained{info}; counted as not allowed")]
        if use is Use.NOT_ALLOWED:
            return [Reason("permission-not-allowed", f"{name} is notAllowed")]
        return [Reason("permission-unspecified", f"{name} is not specified; permission is opt-in")]


@dataclass(frozen=True)
class LicenseCheck:
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    required: bool = False
    commercial: bool = True

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        if facts.integrity is not Integrity.VALID:
            return []
        lic = facts.license
        spdx = lic.id if lic else None
        shown = spdx or (lic.url if lic else None)
        if lic is None:
            if self.required or self.allow is not None:
                return [Reason("license-missing", "the file records no license")]
            return []
        out = []
        if spdx is not None and spdx in self.deny:
            out.append(Reason("license-denied", f"license {spdx} is on the deny list"))
        if self.allow is not None and spdx not in self.allow:
            out.append(Reason("license-not-allowed", f"license {shown} is not on the allow list"))
        info = KNOWN.get(spdx) if spdx else None
        if self.commercial and info is not None and not info.commercial:
            out.append(Reason("license-non-commercial", f"license {spdx} does not allow commercial use"))
        return out


@dataclass(frozen=True)
class ConsentCheck:
    required: bool = True

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        if facts.integrity is not Integrity.VALID or not self.required:
            return []
        if consent.status in (ConsentStatus.GRANTED, ConsentStatus.NOT_NEEDED, ConsentStatus.WITHDRAWN):
            return []  # (a withdrawal is WithdrawalCheck's reason, whether consent is required or not)
        code = f"consent-{consent.status.value}"
        return [Reason(code, consent.message or REASON_CODES[code])]


@dataclass(frozen=True)
class WithdrawalCheck:
    """Drop files whose consent assertion names a withdrawn release, whatever else it grants."""

    withdrawn: frozenset[str] = frozenset()

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        if not self.withdrawn or facts.integrity is not Integrity.VALID or not facts.consent_present:
            return []
        subjects = facts.consent.get("subjects") if isinstance(facts.consent, dict) else None
        hits = [
            f"{s.get('ref')} (release {s['release_id']})"
            for s in (subjects if isinstance(subjects, list) else ())
            if isinstance(s, dict) and isinstance(s.get("release_id"), str) and s["release_id"] in self.withdrawn
        ]
        if not hits:
            return []
        return [Reason("consent-withdrawn", f"consent withdrawn for {', '.join(hits)}")]


@dataclass(frozen=True)
class DeclaredCheck:
    """Drop files with a declared signal opting out of the purpose, whatever their integrity and whatever
    the manifest allows (the more restrictive statement wins; a conflict with a valid manifest is said)."""

    purpose: Purpose

    def reasons(self, facts: Facts, consent: ConsentResult) -> list[Reason]:
        signed = facts.training.get(self.purpose) if facts.integrity is Integrity.VALID else None
        reason = signals.opt_out_reason(facts.declared, self.purpose, signed)
        return [reason] if reason else []


# ---------------------------------------------------------------------------------------------
# Applying


def with_overrides(policy: Policy, **changes: Any) -> Policy:
    """``policy`` with the given fields replaced (CLI flags override the file); None means unchanged."""
    return replace(policy, **{k: v for k, v in changes.items() if v is not None})


def judge(facts: Facts, policy: Policy, now: dt.datetime | None = None) -> tuple[ConsentResult, Decision, list[Reason]]:
    """Consent, decision and reasons for ``facts`` under ``policy`` at ``now``."""
    if facts.integrity is Integrity.VALID:
        from rightsmark.rights.consent import judge_consent

        assertion = facts.consent if facts.consent_present else None
        consent = judge_consent(
            assertion, policy.purpose, now, commercial=policy.commercial, withdrawn=policy.withdrawn
        )
    else:
        consent = ConsentResult(ConsentStatus.MISSING, message="no valid manifest to read consent from")
    decision, reasons = policy.decide(facts, consent)
    if facts.recovery is not None:
        from rightsmark.verify.recovered import judge_recovery

        def of(other: Facts) -> tuple[ConsentResult, Decision, list[Reason]]:
            return judge(other, policy, now)

        decision, reasons = judge_recovery(facts.recovery, of, policy.keep_recovered, decision, reasons)
    return consent, decision, reasons


def run_meta(policy: Policy) -> dict[str, Any]:
    """What a verification run's verdicts rest on, as reports record it: tool, policy, trust sources."""
    from rightsmark._version import __version__

    return {
        "tool": f"rightsmark {__version__}",
        "policy": policy.to_dict(),
        "trust_sources": policy.trust_sources().describe(),
    }
