"""The XMP properties rightsmark writes: their namespaces, the values a manifest signs, and drift.

The values come from :func:`rightsmark.rights.manifest.metadata_assertion`, the very dictionary
that is signed as ``cawg.metadata``, so the packet and the signed mirror cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from rightsmark.models import Drift
from rightsmark.rights.xmp.namespaces import DC, IPTC_EXT, PLUS, RDF, XML, XMP_RIGHTS, X

if TYPE_CHECKING:
    from rightsmark.rights.manifest import Rights

#: The prefixes rightsmark uses for namespaces a packet does not already name.
PREFIXES = {X: "x", RDF: "rdf", XML: "xml", DC: "dc", XMP_RIGHTS: "xmpRights", PLUS: "plus", IPTC_EXT: "Iptc4xmpExt"}

Kind = Literal["text", "alt", "seq", "bag", "bool"]


@dataclass(frozen=True)
class Prop:
    """One XMP property rightsmark writes: its name, namespace, value shape and :class:`XmpFields` attribute."""

    name: str  # prefixed, as reports show it
    ns: str
    local: str
    kind: Kind
    attr: str  # the XmpFields attribute
    compared: bool  # reported by drift()

    @property
    def tag(self) -> str:
        return f"{{{self.ns}}}{self.local}"


#: The properties rightsmark writes, in the order it writes them.
PROPS = (
    Prop("dc:creator", DC, "creator", "seq", "creators", True),
    Prop("dc:rights", DC, "rights", "alt", "rights", True),
    Prop("xmpRights:WebStatement", XMP_RIGHTS, "WebStatement", "text", "web_statement", True),
    Prop("xmpRights:UsageTerms", XMP_RIGHTS, "UsageTerms", "alt", "usage_terms", False),
    Prop("xmpRights:Marked", XMP_RIGHTS, "Marked", "bool", "marked", False),
    Prop("plus:DataMining", PLUS, "DataMining", "text", "data_mining", True),
    Prop("plus:ModelReleaseStatus", PLUS, "ModelReleaseStatus", "text", "model_release_status", True),
    Prop("plus:ModelReleaseID", PLUS, "ModelReleaseID", "bag", "model_release_ids", True),
    Prop("Iptc4xmpExt:DigitalSourceType", IPTC_EXT, "DigitalSourceType", "text", "digital_source_type", True),
)
#: The properties by Clark-notation tag (``{namespace}local``).
BY_TAG = {p.tag: p for p in PROPS}


@dataclass(frozen=True)
class XmpFields:
    """The XMP properties rightsmark writes (and reads back). Empty means "not stated"."""

    creators: tuple[str, ...] = ()
    rights: str | None = None
    #: the license URL
    web_statement: str | None = None
    usage_terms: str | None = None
    marked: bool | None = None
    #: a PLUS vocabulary URI, e.g. ``http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED``
    data_mining: str | None = None
    model_release_status: str | None = None
    model_release_ids: tuple[str, ...] = ()
    digital_source_type: str | None = None


# ---------------------------------------------------------------------------------------------
# Values


def scalar(value: object) -> str | None:
    """A JSON-LD value as text: a string, ``{"@value"|"@id"|"x-default": ...}`` or the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value", value.get("@id", value.get("x-default")))
    return value if isinstance(value, str) and value else None


def _texts(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(t for t in (scalar(v) for v in items) if t)


def from_metadata(meta: Mapping[str, Any]) -> XmpFields:
    """The XMP fields that a ``cawg.metadata`` assertion (JSON-LD with XMP property names) states."""
    from rightsmark.rights.manifest import METADATA_LABEL, read_authors

    marked = meta.get("xmpRights:Marked")
    return XmpFields(
        creators=read_authors({METADATA_LABEL: meta}),
        rights=scalar(meta.get("dc:rights")),
        web_statement=scalar(meta.get("xmpRights:WebStatement")),
        usage_terms=scalar(meta.get("xmpRights:UsageTerms")),
        marked=marked if isinstance(marked, bool) else None,
        data_mining=scalar(meta.get("plus:DataMining")),
        model_release_status=scalar(meta.get("plus:ModelReleaseStatus")),
        model_release_ids=_texts(meta.get("plus:ModelReleaseID") or []),
        digital_source_type=scalar(meta.get("Iptc4xmpExt:DigitalSourceType")),
    )


def fields_for(rights: Rights) -> XmpFields:
    """What :func:`embed` writes for ``rights``: exactly the values signed in ``cawg.metadata``."""
    from rightsmark.rights.manifest import metadata_assertion

    return from_metadata(metadata_assertion(rights))


def signed_fields(assertions: Mapping[str, Any]) -> XmpFields:
    """The XMP fields a manifest signs, from its assertions by label (:func:`manifest.assertions_by_label`).

    The ``cawg.metadata`` assertion (the signed IPTC/XMP mirror) says everything; authors also
    come from ``stds.schema-org.CreativeWork`` when it names none.
    """
    from rightsmark.rights.manifest import METADATA_LABEL, read_authors

    meta = assertions.get(METADATA_LABEL)
    fields = from_metadata(meta) if isinstance(meta, dict) else XmpFields()
    if not fields.creators:
        fields = replace(fields, creators=read_authors(assertions))
    return fields


# ---------------------------------------------------------------------------------------------
# Drift


def _norm(prop: Prop, value: str) -> str:
    value = value.strip()
    if prop.ns in (PLUS, IPTC_EXT):
        return value.rstrip("/").rsplit("/", 1)[-1]  # vocabulary codes: the URI's last segment decides
    if prop.attr == "web_statement":
        return value.rstrip("/")
    return value


def _comparable(prop: Prop, value: str | tuple[str, ...]) -> object:
    if isinstance(value, str):
        return _norm(prop, value)
    values = [_norm(prop, v) for v in value]
    return sorted(set(values)) if prop.kind == "bag" else values


def drift(xmp: XmpFields | None, signed: XmpFields) -> list[Drift]:
    """Where the file's XMP states a value the signed manifest contradicts.

    Only disagreement counts: a property missing from either side (tools strip XMP; other
    signers state less) is no drift. Creators compare in order (``dc:creator`` is a sequence),
    model release ids as a set (a bag), vocabulary URIs by their code.
    """
    if xmp is None:
        return []
    out: list[Drift] = []
    for prop in PROPS:
        if not prop.compared:
            continue
        mine, theirs = getattr(xmp, prop.attr), getattr(signed, prop.attr)
        if not mine or not theirs:
            continue
        if _comparable(prop, mine) != _comparable(prop, theirs):
            out.append(Drift(prop.name, mine, theirs))
    return out
