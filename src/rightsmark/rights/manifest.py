"""What rightsmark writes into a manifest, and how it reads the same facts back.

Standard labels first (``c2pa.actions``, ``cawg.metadata``, ``cawg.training-mining``),
our own label only for consent. All are listed as created assertions so the signer
attests them. Reading accepts the legacy ``c2pa.training-mining`` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rightsmark.models import License, Purpose, Training, Use
from rightsmark.rights.consent import CONSENT_LABEL, ConsentDeclaration
from rightsmark.rights.licenses import KNOWN, license_from_url

ACTIONS_LABEL = "c2pa.actions"
METADATA_LABEL = "cawg.metadata"
TRAINING_LABEL = "cawg.training-mining"
LEGACY_TRAINING_LABEL = "c2pa.training-mining"
CREATED_LABELS = (ACTIONS_LABEL, METADATA_LABEL, TRAINING_LABEL, CONSENT_LABEL)

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: digitalSourceType values from the IPTC vocabulary that rightsmark accepts by short name.
SOURCE_TYPES = (
    "digitalCapture",
    "computationalCapture",
    "negativeFilm",
    "positiveFilm",
    "print",
    "humanEdits",
    "minorHumanEdits",
    "compositeCapture",
    "algorithmicallyEnhanced",
    "dataDrivenMedia",
    "digitalArt",
    "digitalCreation",
    "virtualRecording",
    "compositeSynthetic",
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "screenCapture",
    "composite",
)

_CONTEXT = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "cc": "http://creativecommons.org/ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}
_PLUS = "http://ns.useplus.org/ldf/vocab/"


@dataclass(frozen=True)
class Rights:
    """Everything a signer declares about a picture."""

    consent: ConsentDeclaration
    authors: tuple[str, ...] = ()
    author_url: str | None = None
    copyright: str | None = None
    license: License | None = None
    training: Training = field(default_factory=lambda: Training(*(Use.NOT_ALLOWED,) * 4))
    source_type: str = "digitalCapture"


def author_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be an author's web page, or ``None``: only ``http://`` and ``https://`` URLs
    with a host are signed (``javascript:``, ``data:``, ``file:`` and the rest would become live links
    in tools that show the licensor's page)."""
    from urllib.parse import urlsplit

    if any(c.isspace() or not c.isprintable() for c in value):
        return f"author URL {value!r} holds spaces or control characters"
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not host:
        return f"author URL {value!r} is not an http:// or https:// address"
    return None


def source_type_url(name: str) -> str:
    return name if name.startswith("http") else IPTC_SOURCE_TYPE + name


def plus_data_mining(t: Training) -> str:
    """Mirror the four permissions as one IPTC/PLUS DataMining value (lossy; the assertion is authoritative)."""
    uses = [t.get(p) for p in Purpose]
    if all(u is Use.ALLOWED for u in uses):
        code = "DMI-ALLOWED"
    elif all(u is Use.UNSPECIFIED for u in uses):
        code = "DMI-UNSPECIFIED"  # nothing said: "prohibited" would be a statement the signer never made
    elif all(u is Use.NOT_ALLOWED for u in uses):
        code = "DMI-PROHIBITED"
    elif any(u is Use.CONSTRAINED for u in uses):
        code = "DMI-PROHIBITED-SEECONSTRAINT"
    elif (
        t.data_mining is Use.ALLOWED
        and t.ai_training is Use.NOT_ALLOWED
        and t.ai_generative_training is Use.NOT_ALLOWED
    ):
        code = "DMI-PROHIBITED-AIMLTRAINING"
    elif t.data_mining is Use.ALLOWED and t.ai_training is Use.ALLOWED and t.ai_generative_training is Use.NOT_ALLOWED:
        code = "DMI-PROHIBITED-GENAIMLTRAINING"
    else:
        code = "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR"
    return _PLUS + code


def _model_release_status(consent: ConsentDeclaration) -> str:
    if not consent.identifiable_people:
        return _PLUS + "MR-NAP"
    unlimited = all(
        s.get("commercial") and "expires" not in s and all(s["purposes"].get(p.value) == "allowed" for p in Purpose)
        for s in consent.subjects
    )
    return _PLUS + ("MR-UMR" if unlimited else "MR-LMR")


def metadata_assertion(rights: Rights) -> dict[str, Any]:
    data: dict[str, Any] = {"@context": dict(_CONTEXT)}
    if rights.authors:
        data["dc:creator"] = list(rights.authors)
    if rights.copyright:
        data["dc:rights"] = rights.copyright
    lic = rights.license
    if lic is not None:
        if lic.url:
            data["xmpRights:WebStatement"] = lic.url
            data["cc:license"] = lic.url
        data["xmpRights:UsageTerms"] = f"Licensed under {lic.id}: {lic.url}" if lic.id else f"See {lic.url}"
        data["xmpRights:Marked"] = True
    if rights.authors:
        licensor: dict[str, str] = {"plus:LicensorName": rights.authors[0]}
        if rights.author_url:
            licensor["plus:LicensorURL"] = rights.author_url
        data["plus:Licensor"] = [licensor]
    data["plus:DataMining"] = plus_data_mining(rights.training)
    data["plus:ModelReleaseStatus"] = _model_release_status(rights.consent)
    if rights.consent.release_ids:
        data["plus:ModelReleaseID"] = rights.consent.release_ids
    data["Iptc4xmpExt:DigitalSourceType"] = source_type_url(rights.source_type)
    return data


def training_assertion(training: Training) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for purpose in Purpose:
        use = training.get(purpose)
        if use is Use.UNSPECIFIED:
            continue
        entry: dict[str, Any] = {"use": use.value}
        if use is Use.CONSTRAINED and training.constraint_info:
            entry["constraint_info"] = training.constraint_info
        entries[f"cawg.{purpose.value}"] = entry
    return {"entries": entries}


#: Parameter of the edit action naming what the signer deliberately allowed beyond the parent.
WIDENED_PARAMETER = "io.rightsmark.widened"


def manifest_definition(
    rights: Rights, *, title: str, generator: str, version: str, edit: bool, widened: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The Builder JSON for one file. For an edit the engine adds ``c2pa.opened`` itself.

    ``widened`` (edits only) lists what this version allows beyond its parent, in the edit action's
    parameters, so an auditor sees the widening was deliberate.
    """
    action: dict[str, Any] = (
        {"action": "c2pa.edited", "softwareAgent": {"name": generator, "version": version}}
        if edit
        else {"action": "c2pa.created", "digitalSourceType": source_type_url(rights.source_type)}
    )
    if edit and widened:
        action["parameters"] = {WIDENED_PARAMETER: list(widened)}
    if edit and rights.source_type != "digitalCapture":
        action["digitalSourceType"] = source_type_url(rights.source_type)
    return {
        "claim_generator_info": [{"name": generator, "version": version}],
        "title": title,
        "assertions": [
            {"label": ACTIONS_LABEL, "data": {"actions": [action]}},
            # CAWG requires a JSON content box for cawg.metadata; without "kind" the engine writes CBOR
            {"label": METADATA_LABEL, "data": metadata_assertion(rights), "kind": "Json"},
            {"label": TRAINING_LABEL, "data": training_assertion(rights.training)},
            {"label": CONSENT_LABEL, "data": rights.consent.assertion()},
        ],
    }


# ---------------------------------------------------------------------------------------------
# Reading back


def assertions_by_label(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Assertion data keyed by label with any ``.vN`` suffix removed; the first of duplicates wins."""
    out: dict[str, Any] = {}
    for a in manifest.get("assertions") or ():
        label = str(a.get("label", ""))
        base, _, suffix = label.rpartition(".v")
        if base and suffix.isdigit():
            label = base
        out.setdefault(label, a.get("data"))
    return out


_RESTRICTIVENESS = {Use.NOT_ALLOWED: 3, Use.CONSTRAINED: 2, Use.ALLOWED: 1, Use.UNSPECIFIED: 0}


def _use(value: object) -> Use:
    if value is None:
        return Use.UNSPECIFIED
    try:
        use = Use(value)
    except ValueError:
        return Use.NOT_ALLOWED  # an unknown value is never read as permission
    return Use.NOT_ALLOWED if use is Use.UNSPECIFIED else use


def read_training(assertions: Mapping[str, Any]) -> Training:
    """The most restrictive reading of ``cawg.training-mining`` and the legacy ``c2pa.training-mining``."""
    found: dict[Purpose, Use] = {p: Use.UNSPECIFIED for p in Purpose}
    constraint: str | None = None
    for label, prefix in ((TRAINING_LABEL, "cawg."), (LEGACY_TRAINING_LABEL, "c2pa.")):
        data = assertions.get(label)
        if data is None:
            continue
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            for p in Purpose:  # a malformed assertion says "no" to everything
                found[p] = Use.NOT_ALLOWED
            continue
        for p in Purpose:
            entry = entries.get(prefix + p.value)
            if entry is None:
                continue
            use = _use(entry.get("use") if isinstance(entry, dict) else "malformed")
            if _RESTRICTIVENESS[use] > _RESTRICTIVENESS[found[p]]:
                found[p] = use
            if isinstance(entry, dict) and entry.get("constraint_info") and constraint is None:
                constraint = str(entry["constraint_info"])
    return Training(
        ai_training=found[Purpose.AI_TRAINING],
        ai_generative_training=found[Purpose.AI_GENERATIVE_TRAINING],
        ai_inference=found[Purpose.AI_INFERENCE],
        data_mining=found[Purpose.DATA_MINING],
        constraint_info=constraint,
    )


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def read_authors(assertions: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    meta = assertions.get(METADATA_LABEL)
    if isinstance(meta, dict):
        for c in _as_list(meta.get("dc:creator")):
            if isinstance(c, str):
                names.append(c)
            elif isinstance(c, dict) and isinstance(c.get("name") or c.get("@value"), str):
                names.append(c.get("name") or c["@value"])
    work = assertions.get("stds.schema-org.CreativeWork")
    if isinstance(work, dict):
        for a in _as_list(work.get("author")):
            if isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"] not in names:
                names.append(a["name"])
    return tuple(names)


def read_license(assertions: Mapping[str, Any]) -> License | None:
    meta = assertions.get(METADATA_LABEL)
    if not isinstance(meta, dict):
        return None
    for key in ("cc:license", "xmpRights:WebStatement"):
        value = meta.get(key)
        if isinstance(value, dict):
            value = value.get("@id")
        if isinstance(value, str) and value:
            return license_from_url(value)
    terms = meta.get("xmpRights:UsageTerms")
    if isinstance(terms, str):
        for spdx in KNOWN:
            if terms.startswith(f"Licensed under {spdx}:"):
                return License(id=spdx, url=KNOWN[spdx].url)
    return None


def read_copyright(assertions: Mapping[str, Any]) -> str | None:
    meta = assertions.get(METADATA_LABEL)
    value = meta.get("dc:rights") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def read_source_type(assertions: Mapping[str, Any]) -> str | None:
    actions = assertions.get(ACTIONS_LABEL)
    if isinstance(actions, dict):
        for a in actions.get("actions") or ():
            if isinstance(a, dict) and a.get("digitalSourceType"):
                return str(a["digitalSourceType"])
    return None
