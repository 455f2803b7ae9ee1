"""How a manifest recovered through a soft binding weighs in a decision.

A recovered manifest can always take permission away and gives it only where the policy says so:

- what it *states* against the purpose (not allowed, constrained, a license the policy refuses, consent
  withdrawn, expired or not covering the use) drops the file with that reason, whoever signed it;
- a file that its own terms keep (``[treat] absent = "keep"``, say) stays kept when the recovered manifest
  states nothing against it;
- otherwise a recovered manifest that passes the whole policy (trust included) keeps the file only under
  ``[treat] recovered = "keep"``: perceptual fingerprints can be made to collide, so the default drops with
  ``recovered-only``;
- several different manifests matching, a watermark and a fingerprint naming different manifests, a store
  that no longer validates, or a repository that could not be asked: never a keep.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from rightsmark.models import Decision, Reason, RecoveredManifest, Trust

if TYPE_CHECKING:
    from rightsmark.verify.facts import Facts, Match, Recovery
    from rightsmark.verify.policy import Policy

#: reason codes by which a manifest says something against the use (as opposed to failing to grant it)
RESTRICTING = frozenset(
    {
        "permission-not-allowed",
        "permission-constrained",
        "license-not-allowed",
        "license-denied",
        "license-non-commercial",
        "consent-invalid",
        "consent-expired",
        "consent-not-yet-valid",
        "consent-not-covered",
        "consent-withdrawn",
        "declared-opt-out",
    }
)
#: the file's own reasons that a recovered manifest answers, where the policy accepts recovered manifests
_ANSWERED = frozenset({"integrity-absent", "integrity-invalid", "manifest-remote"})


def _judged(match: Match, policy: Policy, now: dt.datetime | None) -> tuple[Decision, list[Reason]]:
    from rightsmark.verify.policy import judge

    _consent, decision, reasons = judge(match.facts, policy, now)
    return decision, reasons


def _how(match: Match) -> str:
    return match.method + (f", distance {match.distance}" if match.distance is not None else "")


def judge_recovery(
    recovery: Recovery, policy: Policy, now: dt.datetime | None, decision: Decision, reasons: list[Reason]
) -> tuple[Decision, list[Reason]]:
    """The decision on a file whose own reading gave ``decision`` and ``reasons``, now that ``recovery`` is known."""
    out = list(reasons)
    if recovery.problem is not None:
        code, message = recovery.problem
        return Decision.DROP, [*out, Reason(code, message)]
    if not recovery.matches:
        return decision, out
    restricting: list[Reason] = []
    granting = True
    for match in recovery.matches:
        verdict, why = _judged(match, policy, now)
        granting = granting and verdict is Decision.KEEP
        restricting += [
            Reason(r.code, f"recovered manifest {match.manifest_id} ({_how(match)}): {r.message}")
            for r in why
            if r.code in RESTRICTING
        ]
    if restricting:
        return Decision.DROP, [*out, *restricting]
    if decision is Decision.KEEP:
        return decision, out  # kept on its own terms; the recovered manifest says nothing against it
    ids = sorted({m.manifest_id for m in recovery.matches})
    if len(ids) > 1:
        message = f"{len(ids)} different manifests match this file's soft bindings: {', '.join(ids)}"
        return Decision.DROP, [*out, Reason("recovered-ambiguous", message)]
    best = recovery.matches[0]
    if policy.keep_recovered and granting:
        rest = [r for r in out if r.code not in _ANSWERED]
        return (Decision.DROP if rest else Decision.KEEP), rest
    if policy.keep_recovered:  # the recovered manifest does not pass the policy itself: say why
        _verdict, why = _judged(best, policy, now)
        prefix = f"recovered manifest {best.manifest_id} ({_how(best)}): "
        return Decision.DROP, [*out, *(Reason(r.code, prefix + r.message) for r in why)]
    message = (
        f"only manifest {best.manifest_id}, recovered from {recovery.repository} by {_how(best)}, speaks for this"
        ' file; a recovered manifest keeps a file only where the policy says [treat] recovered = "keep"'
    )
    return Decision.DROP, [*out, Reason("recovered-only", message)]


def recovered_manifest(facts: Facts, policy: Policy, now: dt.datetime | None) -> RecoveredManifest | None:
    """What a record shows of the best recovered manifest (None where nothing was recovered)."""
    recovery = facts.recovery
    if recovery is None or not recovery.matches:
        return None
    from rightsmark.verify.policy import judge

    best = recovery.matches[0]
    consent, _decision, _reasons = judge(best.facts, policy, now)
    rf = best.facts
    return RecoveredManifest(
        manifest_id=best.manifest_id,
        method=best.method,
        distance=best.distance,
        repository=recovery.repository,
        trust=Trust.TRUSTED if rf.trusted else Trust.UNTRUSTED,
        signer=rf.signer,
        author=rf.authors,
        license=rf.license,
        training=rf.training,
        consent=consent,
        others=tuple(dict.fromkeys(m.manifest_id for m in recovery.matches[1:] if m.manifest_id != best.manifest_id)),
    )
