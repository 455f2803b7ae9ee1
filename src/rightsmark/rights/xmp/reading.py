"""Reading an XMP packet: the values of any properties, and the rightsmark fields.

Reading parses with the C parser where that is safe (:func:`_reading_rdf`), else with
:mod:`~rightsmark.rights.xmp.packet`'s defused parser; a packet that mentions none of the properties
asked for is not parsed at all. Values come out as :func:`_items` reads them: an array's items
(``x-default`` first in an alternative), a resource, a simple or a qualified value.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any
from xml.etree import ElementTree as ET

from rightsmark.rights.xmp.fields import BY_TAG, PROPS, XmpFields
from rightsmark.rights.xmp.namespaces import RDF, XML
from rightsmark.rights.xmp.packet import MalformedError, parse, wide_encoding

_RDF_TAG = f"{{{RDF}}}RDF"

_ARRAYS = {f"{{{RDF}}}{kind}": rank for rank, kind in enumerate(("Seq", "Bag", "Alt"))}
_LI, _LANG = f"{{{RDF}}}li", f"{{{XML}}}lang"
_RESOURCE, _VALUE, _DESCRIPTION = f"{{{RDF}}}resource", f"{{{RDF}}}value", f"{{{RDF}}}Description"


def _items(elem: ET.Element) -> list[str]:
    """The text values of a property element: an array's items (its first rdf:Seq, else rdf:Bag, else
    rdf:Alt), or its one simple value."""
    arr = None
    for child in elem:
        rank = _ARRAYS.get(child.tag)
        if rank is not None and (arr is None or rank < _ARRAYS[arr.tag]):
            arr = child
    if arr is not None:
        lis = arr.findall(_LI)
        if arr.tag.endswith("Alt"):  # the x-default item first
            lis.sort(key=lambda li: li.get(_LANG) != "x-default")
        return [t for t in (_simple(li) for li in lis) if t is not None]
    value = _simple(elem)
    return [value] if value is not None else []


def _simple(elem: ET.Element) -> str | None:
    resource = elem.get(_RESOURCE)
    if resource is not None:
        return resource
    if not len(elem):
        text = elem.text or ""
        return text if text.strip() else None  # exact: whitespace inside a value is the value's
    value = elem.find(_VALUE)  # a qualified value (rdf:parseType="Resource")
    if value is None:
        desc = elem.find(_DESCRIPTION)
        value = desc.find(_VALUE) if desc is not None else None
    return _simple(value) if value is not None else None


def _values(rdf: ET.Element, tags: Collection[str], *, every: bool = False) -> dict[str, list[str]]:
    """The values of the properties ``tags`` (Clark notation) in the packet's top-level descriptions:
    the first statement of each (attribute or element form) wins, as in :func:`_items`; with ``every``,
    the values of every statement, in packet order (a property stated twice, in two descriptions)."""
    found: dict[str, list[str]] = {}
    for desc in rdf:
        if desc.tag != _DESCRIPTION:
            continue
        for key, value in desc.attrib.items():
            if key in tags and value.strip() and (every or key not in found):
                found.setdefault(key, []).append(value)
        for child in desc:
            if child.tag in tags and (every or child.tag not in found):
                values = _items(child)
                if values:
                    found.setdefault(child.tag, []).extend(values)
    return found


def _fields(rdf: ET.Element) -> XmpFields:
    found = _values(rdf, BY_TAG)
    out: dict[str, Any] = {}
    for prop in PROPS:
        got = found.get(prop.tag)
        if not got:
            continue
        if prop.kind in ("seq", "bag"):
            out[prop.attr] = tuple(got)
        elif prop.kind == "bool":
            out[prop.attr] = {"true": True, "false": False}.get(got[0].lower())
        else:
            out[prop.attr] = got[0]
    return XmpFields(**out)


@functools.lru_cache(maxsize=2)
def _reading_rdf(raw: bytes) -> ET.Element:
    """The packet's ``rdf:RDF`` for reading only (never modify it: the last parses are shared, a file's
    packet is read for its fields and for its signals); raises :class:`MalformedError`.

    A UTF-8 packet without any markup declaration (``<!``: no DTD, so no entity can be declared, and no
    comment or CDATA section) and without an XML declaration (which could name another encoding) is parsed
    by the C parser, a few times faster; any other packet, and any packet the C parser refuses, goes
    through :func:`~rightsmark.rights.xmp.packet.parse` (defusedxml), which says why it is not well-formed.
    """
    if wide_encoding(raw) is None:
        at = raw.find(b"<")
        if at != -1 and b"<!" not in raw and not raw.startswith(b"<?xml", at):
            # up to the last end tag (the root's): the padding and the closing xpacket instruction need no parse
            close = raw.find(b">", raw.rfind(b"</"))
            try:
                top = ET.fromstring(raw[at : close + 1] if close > at else raw[at:])
            except (ET.ParseError, ValueError, RecursionError):
                pass  # said precisely below
            else:
                rdf = _find_rdf(top)
                if rdf is not None:
                    return rdf
    return parse(raw).rdf


def _find_rdf(top: ET.Element) -> ET.Element | None:
    if top.tag == _RDF_TAG:
        return top
    if len(top) and top[0].tag == _RDF_TAG:  # where it always is (x:xmpmeta's first child): what find() gives
        return top[0]
    return top.find(f".//{_RDF_TAG}")


def _mentions_none(raw: bytes, tags: Collection[str]) -> bool:
    """Whether a UTF-8 packet surely states none of ``tags``: no local name of one occurs in its bytes (an
    element or attribute name is never escaped). UTF-16/32 packets and packets with an XML declaration
    (another encoding) are never ruled out this way. The padding before a closing ``<?xpacket end ...?>``
    with nothing after it is not searched (blanks)."""
    at = raw.find(b"<")
    if wide_encoding(raw) is not None or at == -1 or raw.startswith(b"<?xml", at):
        return False
    stop = raw.rfind(b"<?xpacket")
    if stop <= at or raw.find(b"<", stop + 1) != -1:
        stop = len(raw)
    text = raw[:stop].rstrip()
    return not any(name in text for name in _local_names(tuple(tags)))


@functools.lru_cache(maxsize=16)
def _local_names(tags: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(tag.rpartition("}")[2].encode() for tag in tags))


def packet_properties(raw: bytes, tags: Collection[str], *, every: bool = False) -> dict[str, list[str]]:
    """The values of the properties ``tags`` (``{namespace}local``) an XMP packet states, each as a list
    (an array's items, the ``x-default`` alternative first; a simple value alone); ``every``: of every
    statement of a property, not only the first (see :func:`_values`).

    Cheap for a packet that mentions none of them (no parse at all). Raises :class:`MalformedError` (saying
    why) when the packet is not well-formed XMP: then nothing can be said about what it states.
    """
    if _mentions_none(raw, tags):
        return {}
    try:
        return _values(_reading_rdf(raw), tags, every=every)
    except RecursionError:  # (a chain of nested rdf:value thousands deep)
        raise MalformedError("elements nested too deeply") from None


@functools.lru_cache(maxsize=64)  # a dataset repeats its packets (a photographer's profile, an export preset)
def packet_fields(raw: bytes) -> XmpFields | None:
    """The rightsmark fields an XMP packet states, or None when it is not well-formed XMP."""
    try:
        return _fields(_reading_rdf(raw))
    except (MalformedError, RecursionError):  # (a chain of nested rdf:value thousands deep)
        return None
