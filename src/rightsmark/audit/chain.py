"""The chain of custody of one file: every manifest reachable from the active one, as nodes.

:func:`walk` follows each manifest's ingredients (parentOf, componentOf, inputTo) recursively
through the engine's manifest store, recording with each ingredient the failures the engine
found in it (read through :mod:`rightsmark.engine.reading`, the one reader of the engine's
validation results). Nothing here judges trust or compares manifests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rightsmark.engine.reading import delta_failures, ingredient_failures, ingredient_problems, signer_info
from rightsmark.rights.consent import CONSENT_LABEL, parse_time
from rightsmark.rights.manifest import (
    assertions_by_label,
    read_authors,
    read_license,
    read_source_type,
    read_training,
)
from rightsmark.softbinding.model import read_bindings


@dataclass
class ManifestNode:
    """One manifest of the chain (or an ingredient without one: ``label`` None)."""

    label: str | None
    depth: int
    parent: str | None
    relationship: str | None
    title: str | None
    data: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    trusted: bool | None = None
    children: list[ManifestNode] = field(default_factory=list)

    @property
    def assertions(self) -> dict[str, Any]:
        return assertions_by_label(self.data) if self.data else {}

    @property
    def signed_at(self) -> dt.datetime | None:
        sig = self.data.get("signature_info") or {}
        when = sig.get("time")
        try:
            return parse_time(when) if isinstance(when, str) else None
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        s = signer_info(self.data) if self.data else None
        a = self.assertions
        lic = read_license(a)
        gen = self.data.get("claim_generator_info")
        generator = None
        if isinstance(gen, list) and gen and isinstance(gen[0], dict):
            generator = " ".join(str(x) for x in (gen[0].get("name"), gen[0].get("version")) if x)
        elif self.data.get("claim_generator"):
            generator = str(self.data["claim_generator"])
        actions = a.get("c2pa.actions") if isinstance(a.get("c2pa.actions"), dict) else {}
        return {
            "label": self.label,
            "depth": self.depth,
            "parent": self.parent,
            "relationship": self.relationship,
            "title": self.title,
            "has_manifest": self.label is not None,
            "validation": "valid" if self.label and not self.failures else ("invalid" if self.failures else "unknown"),
            "failure_codes": self.failures,
            "trust": None if self.trusted is None else ("trusted" if self.trusted else "untrusted"),
            "signer": s.to_dict() if s else None,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamped": bool(s and s.time),
            "claim_generator": generator,
            "actions": [x.get("action") for x in (actions or {}).get("actions") or () if isinstance(x, dict)],
            "digital_source_type": read_source_type(a),
            "author": list(read_authors(a)),
            "license": lic.to_dict() if lic else None,
            "training": read_training(a).to_dict(),
            "consent": a.get(CONSENT_LABEL),
            "soft_bindings": [b.to_dict() for b in read_bindings(self.data)] if self.data else [],
        }


def walk(store: dict[str, Any]) -> list[ManifestNode]:
    """Every manifest reachable from the active one, in depth-first pre-order (a shared or cyclic
    ingredient is listed where it appears but walked once). Each ingredient's failures are its own
    (as the manifest using it recorded them) and the read-time deltas naming its manifest."""
    manifests = store.get("manifests") or {}
    deltas: dict[str, list[str]] = {}
    for label, code in delta_failures(store):
        if label:
            deltas.setdefault(label, []).append(code)
    active = store.get("active_manifest")
    if not active or active not in manifests:
        return []
    nodes: list[ManifestNode] = []
    seen: set[str] = set()

    def visit(node: ManifestNode) -> None:
        nodes.append(node)
        if node.label is None or node.label in seen:
            return
        seen.add(node.label)
        for ing in node.data.get("ingredients") or ():
            if not isinstance(ing, dict):
                continue
            label = ing.get("active_manifest")
            codes = ingredient_failures(ing)
            data: dict[str, Any] = {}
            if label and label in manifests:
                codes += deltas.get(label, [])
                data = manifests[label]
            else:
                label = None
            failures = ingredient_problems(codes, revocation=True)
            child = ManifestNode(
                label, node.depth + 1, node.label, ing.get("relationship"), ing.get("title"), data, failures
            )
            node.children.append(child)
            visit(child)

    visit(ManifestNode(active, 0, None, None, manifests[active].get("title"), manifests[active]))
    return nodes
