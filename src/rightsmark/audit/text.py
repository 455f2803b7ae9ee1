"""The audit of one file as a tree for a terminal: its chain of custody, what recovery found, its findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rightsmark.audit.findings import SEVERITIES
from rightsmark.rights.consent import subject_entries

if TYPE_CHECKING:
    from rightsmark.audit.auditor import FileAudit
    from rightsmark.audit.chain import ManifestNode
    from rightsmark.audit.recovery import RecoveredAudit


def _node_lines(nodes: Sequence[ManifestNode], margin: str = "") -> list[str]:
    """Each manifest of a chain: who signed it when, with what, and what it records."""
    lines = []
    for node in nodes:
        d = node.to_dict()
        indent = margin + "    " * node.depth
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
        lines += [f"{indent}   soft binding {b['alg']} {b['display']}" for b in d["soft_bindings"]]
    return lines


def _recovered_lines(recovered: RecoveredAudit) -> list[str]:
    """What ``--recover`` found: the recovered chain, marked as not embedded in the file, or why there is none."""
    where = recovered.repository
    if recovered.problem is not None:
        code, message = recovered.problem
        return [f"  recovery from {where} failed: {code}: {message}"]
    if recovered.manifest_id is None:
        return [f"  recovery: no manifest in {where} matches this file's soft bindings"]
    lines = [
        f"  RECOVERED through a soft binding, not embedded in this file: manifest {recovered.manifest_id}",
        f"  from {where} by {recovered.how}",
    ]
    if recovered.others:
        lines.append(f"  also matching: {', '.join(recovered.others)}")
    return lines + _node_lines(recovered.nodes, "  ")


def tree_text(audit: FileAudit) -> str:
    """A readable tree of the chain with its findings, for a terminal."""
    lines = [f"{audit.path}  (integrity {audit.integrity.value}, {'trusted' if audit.trusted else 'untrusted'})"]
    lines += _node_lines(audit.nodes)
    if audit.recovered is not None:
        lines += _recovered_lines(audit.recovered)
    if audit.findings:
        lines.append("  findings:")
        for f in sorted(audit.findings, key=lambda f: -SEVERITIES.index(f.severity)):
            mark = " (recovered manifest)" if f.recovered else ""
            lines.append(f"    [{f.severity}] {f.code}{mark}: {f.message}")
    else:
        lines.append("  no findings")
    from rightsmark.reports.formats import safe_lines

    return safe_lines(lines)
