"""The audit of one file as a tree for a terminal: its chain of custody, then its findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rightsmark.audit.findings import SEVERITIES
from rightsmark.rights.consent import subject_entries

if TYPE_CHECKING:
    from rightsmark.audit.auditor import FileAudit


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
