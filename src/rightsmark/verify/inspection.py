"""``inspect``: everything a file records, manifest by manifest, for a person to read.

Unlike :mod:`rightsmark.verify.verifier` this shows content of every manifest in the store,
including ingredients, each with its own validity. Content of a manifest that does not
validate is still shown (an auditor wants to see it) but clearly marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.engine.reading import TRUST_CODES, signer_info
from rightsmark.rights.consent import CONSENT_LABEL
from rightsmark.rights.manifest import (
    assertions_by_label,
    read_authors,
    read_copyright,
    read_license,
    read_source_type,
    read_training,
)
from rightsmark.softbinding.model import read_bindings
from rightsmark.verify.verifier import Verifier, make_record, read_file

if TYPE_CHECKING:
    from rightsmark.verify.facts import Recovery


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        first = info[0]
        return " ".join(str(x) for x in (first.get("name"), first.get("version")) if x)
    gen = manifest.get("claim_generator")
    return str(gen) if gen else None


def _actions(assertions: dict[str, Any]) -> list[dict[str, Any]]:
    data = assertions.get("c2pa.actions")
    out = []
    for a in (data or {}).get("actions") or () if isinstance(data, dict) else ():
        if isinstance(a, dict):
            entry = {"action": a.get("action")}
            if a.get("digitalSourceType"):
                entry["digitalSourceType"] = a["digitalSourceType"]
            if a.get("when"):
                entry["when"] = a["when"]
            out.append(entry)
    return out


def describe_manifest(label: str, manifest: dict[str, Any]) -> dict[str, Any]:
    assertions = assertions_by_label(manifest)
    lic = read_license(assertions)
    created = {
        str(a.get("label")) for a in manifest.get("assertions") or () if isinstance(a, dict) and a.get("created")
    }
    signer = signer_info(manifest)
    return {
        "label": label,
        "title": manifest.get("title"),
        "format": manifest.get("format"),
        "claim_generator": _generator(manifest),
        "signer": signer.to_dict() if signer else None,
        "timestamped": bool(signer and signer.time),
        "actions": _actions(assertions),
        "digital_source_type": read_source_type(assertions),
        "author": list(read_authors(assertions)),
        "copyright": read_copyright(assertions),
        "license": lic.to_dict() if lic else None,
        "training": read_training(assertions).to_dict(),
        "consent": assertions.get(CONSENT_LABEL),
        "soft_bindings": [b.to_dict() for b in read_bindings(manifest)],
        "assertions": [
            {"label": str(a.get("label")), "created": str(a.get("label")) in created}
            for a in manifest.get("assertions") or ()
            if isinstance(a, dict)
        ],
        "ingredients": [
            {
                "title": ing.get("title"),
                "relationship": ing.get("relationship"),
                "manifest": ing.get("active_manifest"),
                "validation_failures": [
                    str(e.get("code"))
                    for e in ((ing.get("validation_results") or {}).get("activeManifest") or {}).get("failure") or ()
                    if isinstance(e, dict) and e.get("code") not in TRUST_CODES
                ],
            }
            for ing in manifest.get("ingredients") or ()
            if isinstance(ing, dict)
        ],
    }


def inspect_file(
    path: str | Path, trust: Sequence[str | Path] = (), verifier: Verifier | None = None
) -> dict[str, Any]:
    """A JSON-ready description of everything ``path`` records."""
    own = verifier is None
    v = verifier or Verifier(trust)
    recovered: dict[str, Any] | None = None
    try:
        data, failed = read_file(path)  # a regular file only: a FIFO or a device never blocks or fills memory
        if failed is not None or data is None:
            record, reading = v.verify_file(path), None  # the record carries the error
        else:
            record, reading = v.examine(data, str(path))
            if v.recovers:
                facts = v.facts(data, str(path))  # with what recovery found, for a file without a valid manifest
                if facts.recovery is not None:
                    record = make_record(str(path), facts, v.policy, v.now)
                    recovered = describe_recovery(facts.recovery)
    finally:
        if own:
            v.close()
    store = reading.store if reading else None
    manifests = []
    if store:
        active = store.get("active_manifest")
        ordered = sorted((store.get("manifests") or {}).items(), key=lambda kv: kv[0] != active)
        manifests = [describe_manifest(label, m) | {"active": label == active} for label, m in ordered]
    return {
        "path": str(path),
        "integrity": record.integrity.value,
        "trust": record.trust.value,
        "decision": record.decision.value,
        "reasons": [r.to_dict() for r in record.reasons],
        "engine": {"state": record.engine_state, "failure_codes": list(record.engine_codes)},
        "remote_manifest": record.remote_manifest,
        "error": record.error,
        "declared": [d.to_dict() for d in record.declared],
        "manifests": manifests,
        "recovered": recovered,
        "trust_sources": v.trust.describe(),
    }


def describe_recovery(recovery: Recovery) -> dict[str, Any]:
    """What recovery found, for ``inspect``: the problem, or each recovered manifest described in full."""
    from rightsmark.verify.recovered import EMBEDDED

    matches = []
    for match in recovery.matches:
        if match.method == EMBEDDED:  # the file's own manifest, already shown as such: not a recovered one
            continue
        active = match.reading.active if match.reading is not None else None
        manifest = describe_manifest(match.manifest_id, active) if active else {"label": match.manifest_id}
        matches.append(
            {"manifest_id": match.manifest_id, "method": match.method, "distance": match.distance, "manifest": manifest}
        )
    return {
        "repository": recovery.repository,
        "problem": list(recovery.problem) if recovery.problem else None,
        "matches": matches,
    }
