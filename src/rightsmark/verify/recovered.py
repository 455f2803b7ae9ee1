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

from collections.abc import Callable
from typing import TYPE_CHECKING

from rightsmark.models import ConsentResult, Decision, Reason, RecoveredManifest, Trust

if TYPE_CHECKING:
    from rightsmark.verify.facts import Facts, Match, Recovery

#: the policy's judgement of one reading (:func:`rightsmark.verify.policy.judge` at a given time)
Judge = Callable[["Facts"], tuple[ConsentResult, Decision, list[Reason]]]

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
#: the method of a "match" that is the file's own manifest, signed but no longer matching its changed pixels:
#: heard for what it forbids, never a recovered manifest itself
EMBEDDED = "embedded"
#: the file's own reasons that a recovered manifest answers, where the policy accepts recovered manifests
_ANSWERED = frozenset({"integrity-absent", "integrity-invalid", "manifest-remote"})


def _judged(match: Match, judge: Judge) -> tuple[Decision, list[Reason]]:
    _consent, decision, reasons = judge(match.facts)
    return decision, reasons


def how(method: str | None, distance: int | None) -> str:
    """``fingerprint, distance 3``, ``watermark``: how a manifest was matched, as every report says it."""
    return (method or "") + (f", distance {distance}" if distance is not None else "")


def _how(match: Match) -> str:
    return how(match.method, match.distance)


def _speaker(match: Match) -> str:
    if match.method == EMBEDDED:
        return f"the file's own manifest {match.manifest_id} (its signature holds; the file was changed)"
    return f"recovered manifest {match.manifest_id} ({_how(match)})"


def judge_recovery(
    recovery: Recovery, judge: Judge, keep_recovered: bool, decision: Decision, reasons: list[Reason]
) -> tuple[Decision, list[Reason]]:
    """The decision on a file whose own reading gave ``decision`` and ``reasons``, now that ``recovery`` is
    known; ``judge`` is the policy's judgement, ``keep_recovered`` its ``[treat] recovered = "keep"``.

    Every match is heard for what it forbids (a manifest found by its watermark alone, and the file's own
    manifest whose pixels changed, included); only one found by the fingerprint may speak for the file."""
    out = list(reasons)
    if recovery.problem is not None:
        code, message = recovery.problem
        return Decision.DROP, [*out, Reason(code, message)]
    found = [m for m in recovery.matches if m.method != EMBEDDED]
    if not found:
        return decision, out
    restricting: list[Reason] = []
    for match in recovery.matches:
        _verdict, why = _judged(match, judge)
        restricting += [Reason(r.code, f"{_speaker(match)}: {r.message}") for r in why if r.code in RESTRICTING]
    if restricting:
        return Decision.DROP, [*out, *restricting]
    ids = sorted({m.manifest_id for m in found})
    if len(ids) > 1:  # an ambiguity is never read as permission, not even the file's own terms'
        message = f"{len(ids)} different manifests match this file's soft bindings: {', '.join(ids)}"
        return Decision.DROP, [*out, Reason("recovered-ambiguous", message)]
    if decision is Decision.KEEP:
        return decision, out  # kept on its own terms; the manifest found says nothing against it
    best = found[0]
    if "fingerprint" not in best.method:
        message = (
            f"manifest {best.manifest_id} was found by its watermark alone, which anyone can copy onto another"
            " picture, and this file's fingerprint does not match it: it can forbid, never allow"
        )
        return Decision.DROP, [*out, Reason("recovered-only", message)]
    verdict, why = _judged(best, judge)
    if keep_recovered and verdict is Decision.KEEP:
        rest = [r for r in out if r.code not in _ANSWERED]
        return (Decision.DROP if rest else Decision.KEEP), rest
    if keep_recovered:  # the recovered manifest does not pass the policy itself: say why
        return Decision.DROP, [*out, *(Reason(r.code, f"{_speaker(best)}: {r.message}") for r in why)]
    message = (
        f"only manifest {best.manifest_id}, recovered from {recovery.repository} by {_how(best)}, speaks for this"
        ' file; a recovered manifest keeps a file only where the policy says [treat] recovered = "keep"'
    )
    return Decision.DROP, [*out, Reason("recovered-only", message)]


def recovered_manifest(facts: Facts, judge: Judge) -> RecoveredManifest | None:
    """What a record shows of the best recovered manifest (None where nothing was recovered)."""
    recovery = facts.recovery
    found = [m for m in recovery.matches if m.method != EMBEDDED] if recovery is not None else []
    if recovery is None or not found:
        return None
    best = found[0]
    consent, _decision, _reasons = judge(best.facts)
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
        others=tuple(dict.fromkeys(m.manifest_id for m in found[1:] if m.manifest_id != best.manifest_id)),
    )
