"""A manifest found again through a soft binding, in the audit of a file that lost its own (``audit --recover``).

For a file whose own manifest is absent or fails validation, :class:`~rightsmark.verify.recover.Recoverer`
(the one recovery, shared with ``verify``) matches the pixels' soft bindings back to manifests in a
repository and validates each candidate store (signature, claim, the signer's trust). Here its outcome joins
the audit: the recovered manifest's chain, described as the file's own manifests are (the auditor audits the
recovered store as it audits a file: :mod:`rightsmark.audit.auditor` passes that audit in), and findings:

- ``recovered`` (warning): the file's manifest was found only through a soft binding, not in the file;
- ``recovered-restricted`` (error; warning where a use is only constrained): the recovered manifest does not
  allow an AI use: a restriction the file no longer carries;
- ``recovered-ambiguous`` (error): several different manifests match the file's soft bindings;
- ``recovered-conflict``, ``recovered-invalid``, ``recovery-failed`` (error): recovery could not be completed
  (watermark and fingerprint disagree, a store is missing or no longer validates, the repository could not
  be asked): never silence, never a clean audit;
- every finding of each recovered store's own audit (an untrusted signer, consent expired, expiring or
  withdrawn at audit time, an ingredient that fails), under its own code, marked ``recovered``.

The file's own integrity, trust and findings (``manifest-absent``, say) stay as they are: a recovered
manifest adds to the audit and never clears anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rightsmark.audit.chain import ManifestNode
from rightsmark.audit.findings import FINDING_CODES, Finding
from rightsmark.verify.recovered import EMBEDDED, how

if TYPE_CHECKING:
    from rightsmark.verify.facts import Match, Recovery

#: How the auditor audits one recovered store: its manifests (the recovered one first) and its findings.
AuditStore = Callable[["Match"], tuple[list[ManifestNode], list[Finding]]]

#: The problems a recovery can end in; any other code a recoverer gives is reported as ``recovery-failed``.
PROBLEMS = ("recovered-ambiguous", "recovered-conflict", "recovered-invalid", "recovery-failed")

_PURPOSES = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")


@dataclass
class RecoveredAudit:
    """What ``--recover`` found for one file: the best manifest matched (``nodes``: its chain, described as
    any chain is), how it matched, further manifests that matched too, or the problem that stopped it."""

    repository: str
    manifest_id: str | None = None
    method: str | None = None
    distance: int | None = None
    others: tuple[str, ...] = ()
    nodes: list[ManifestNode] = field(default_factory=list)
    problem: tuple[str, str] | None = None

    @property
    def how(self) -> str:
        """``fingerprint, distance 3``, ``watermark``: how the manifest was matched."""
        return how(self.method, self.distance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "manifest_id": self.manifest_id,
            "method": self.method,
            "distance": self.distance,
            "others": list(self.others),
            "manifests": [n.to_dict() for n in self.nodes],
            "problem": None if self.problem is None else {"code": self.problem[0], "message": self.problem[1]},
        }


def _problem(repository: str, code: str, message: str) -> tuple[RecoveredAudit, list[Finding]]:
    if code not in PROBLEMS:  # a problem this table does not know is still a failed recovery, never silence
        code, message = "recovery-failed", f"{code}: {message}"
    return RecoveredAudit(repository, problem=(code, message)), [Finding(code, "error", message, (), True)]


def _restricted(match: Match) -> list[Finding]:
    """``recovered-restricted`` where the recovered manifest does not allow a use (error) or constrains it."""
    training = match.facts.training.to_dict()
    refused = [p for p in _PURPOSES if training.get(p) == "notAllowed"]
    constrained = [p for p in _PURPOSES if training.get(p) == "constrained"]
    where = f"recovered manifest {match.manifest_id} ({how(match.method, match.distance)})"
    out = []
    if refused:
        message = f"{where} does not allow {', '.join(refused)}: a restriction this file no longer carries"
        out.append(Finding("recovered-restricted", "error", message, (match.manifest_id,), True))
    if constrained:
        message = f"{where} allows {', '.join(constrained)} only under constraints this file no longer carries"
        out.append(Finding("recovered-restricted", "warning", message, (match.manifest_id,), True))
    return out


def recovered_audit(recovery: Recovery, audit_store: AuditStore) -> tuple[RecoveredAudit, list[Finding]]:
    """The audit's view of ``recovery`` and its findings; ``audit_store`` audits one matched store."""
    if recovery.problem is not None:
        return _problem(recovery.repository, *recovery.problem)
    matches = [m for m in recovery.matches if m.method != EMBEDDED]  # the file's own manifest is audited as such
    if not matches:
        return RecoveredAudit(recovery.repository), []
    findings: list[Finding] = []
    described: list[ManifestNode] = []
    for match in matches:  # what any matching manifest says against the use is reported
        if match.reading is None or match.store is None:
            message = f"the store of manifest {match.manifest_id} was not kept to be audited"
            return _problem(recovery.repository, "recovered-invalid", message)
        nodes, found = audit_store(match)
        described = described or nodes
        prefix = f"recovered manifest {match.manifest_id} ({how(match.method, match.distance)}): "
        findings += [replace(f, message=prefix + f.message, recovered=True) for f in found]
        findings += _restricted(match)
    best = matches[0]
    ids = list(dict.fromkeys(m.manifest_id for m in matches))
    audit = RecoveredAudit(recovery.repository, best.manifest_id, best.method, best.distance, tuple(ids[1:]), described)
    message = (
        f"manifest {best.manifest_id} was found only through a soft binding in {recovery.repository}"
        f" ({audit.how}): it is not embedded in this file, and a perceptual fingerprint can be made to collide"
    )
    head = [Finding("recovered", FINDING_CODES["recovered"][0], message, (best.manifest_id,), True)]
    if len(ids) > 1:
        message = f"{len(ids)} different manifests match this file's soft bindings: {', '.join(ids)}"
        head.append(Finding("recovered-ambiguous", "error", message, tuple(ids), True))
    return audit, head + findings
