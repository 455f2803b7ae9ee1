"""The JSON Schemas in the repository's ``schemas/`` folder, loaded once and compiled.

Wheels carry them as ``rightsmark/schemas/*.json`` (see pyproject); a source checkout or
an editable install reads the top-level folder itself.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

CONSENT_INPUT = "consent.schema.json"
CONSENT_ASSERTION = "consent-assertion.schema.json"
VERIFY_RECORD = "verify-record.schema.json"
POLICY = "policy.schema.json"
AUDIT = "audit.schema.json"
WITHDRAWALS = "withdrawals.schema.json"
DETACHED_SIGNATURE = "detached-signature.schema.json"
PROFILE = "profile.schema.json"
CONSENT_MAP = "consent-map.schema.json"


def _schema_text(name: str) -> str:
    from importlib import resources  # here: importing it costs a start-up that never reads a schema

    packaged = resources.files("rightsmark").joinpath("schemas", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "schemas" / name).read_text(encoding="utf-8")


@functools.cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_schema_text(name))
    return data


_ALL = (
    CONSENT_INPUT,
    CONSENT_ASSERTION,
    VERIFY_RECORD,
    POLICY,
    AUDIT,
    WITHDRAWALS,
    DETACHED_SIGNATURE,
    PROFILE,
    CONSENT_MAP,
)


@functools.cache
def _registry() -> Any:
    """Our schemas by their ``$id``, so a ``$ref`` between them resolves locally; nothing is ever fetched."""
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Resource[Any]:
        raise NoSuchResource(uri)  # never retrieve a schema over the network

    resources = [(load(n)["$id"], Resource.from_contents(load(n))) for n in _ALL]
    return Registry(retrieve=refuse).with_resources(resources)  # type: ignore[call-arg]  # attrs init


@functools.cache
def validator(name: str) -> Any:
    """A compiled Draft 2020-12 validator for one of the schemas (jsonschema is imported lazily)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load(name), registry=_registry())


def errors(name: str, instance: object) -> list[str]:
    """Human-readable schema violations, most relevant first; empty when valid."""
    found = sorted(validator(name).iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.message)))
    out = []
    for e in found:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        out.append(f"{where}: {e.message}")
    return out
