"""The IPTC/XMP mirror of the signed rights, for tools that ignore C2PA.

Lightroom, ExifTool and photo sites read author, license and the AI-use choice from the
file's XMP packet, not from a C2PA manifest. :func:`embed` writes them there before the
file is signed (so the signature covers them too); :func:`read` takes them back out of a
file cheaply (header segments or chunks only); :func:`drift` says where an embedded packet
disagrees with what the manifest signed.

The values come from :func:`rightsmark.rights.manifest.metadata_assertion`, the very dictionary
that is signed as ``cawg.metadata``, so the packet and the signed mirror cannot disagree.

Writing merges into an XMP packet already in the file: every property stays, only the
properties rightsmark writes are replaced. A property rightsmark has no value for (no
author, no copyright, no license given) is not written, and the file's own value stays;
``plus:ModelReleaseID`` is replaced together with ``plus:ModelReleaseStatus`` (ids of an
earlier status would contradict the new one). Pixels are never re-encoded: the file's other
segments or chunks are copied byte for byte, and a JPEG's extended-XMP segments are kept.

Formats: JPEG (APP1), PNG (iTXt ``XML:com.adobe.xmp``), WebP (``XMP `` chunk, a simple
VP8/VP8L file is converted to the extended VP8X layout) and classic TIFF (tag 700). For any
other format :func:`embed` returns :class:`NotEmbedded` and leaves the bytes alone. Extended
XMP (a JPEG packet over 64 KB split across several segments) is not written.

Only the standard library is used: no maintained pure-Python XMP library writes into
JPEG, PNG, WebP and TIFF (python-xmp-toolkit wraps the Exempi C library, pyexiv2 wraps Exiv2).
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from xml.etree import ElementTree as ET

from rightsmark.errors import InputError
from rightsmark.media.formats import ImageFormat
from rightsmark.models import Drift
from rightsmark.rights.manifest import METADATA_LABEL, Rights, metadata_assertion, read_authors

# ---------------------------------------------------------------------------------------------
# Namespaces and the properties rightsmark writes

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
DC = "http://purl.org/dc/elements/1.1/"
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"

#: The prefixes rightsmark uses for namespaces a packet does not already name.
PREFIXES = {X: "x", RDF: "rdf", XML: "xml", DC: "dc", XMP_RIGHTS: "xmpRights", PLUS: "plus", IPTC_EXT: "Iptc4xmpExt"}

Kind = Literal["text", "alt", "seq", "bag", "bool"]


@dataclass(frozen=True)
class _Prop:
    name: str  # prefixed, as reports show it
    ns: str
    local: str
    kind: Kind
    attr: str  # the XmpFields attribute
    compared: bool  # reported by drift()

    @property
    def tag(self) -> str:
        return f"{{{self.ns}}}{self.local}"


_PROPS = (
    _Prop("dc:creator", DC, "creator", "seq", "creators", True),
    _Prop("dc:rights", DC, "rights", "alt", "rights", True),
    _Prop("xmpRights:WebStatement", XMP_RIGHTS, "WebStatement", "text", "web_statement", True),
    _Prop("xmpRights:UsageTerms", XMP_RIGHTS, "UsageTerms", "alt", "usage_terms", False),
    _Prop("xmpRights:Marked", XMP_RIGHTS, "Marked", "bool", "marked", False),
    _Prop("plus:DataMining", PLUS, "DataMining", "text", "data_mining", True),
    _Prop("plus:ModelReleaseStatus", PLUS, "ModelReleaseStatus", "text", "model_release_status", True),
    _Prop("plus:ModelReleaseID", PLUS, "ModelReleaseID", "bag", "model_release_ids", True),
    _Prop("Iptc4xmpExt:DigitalSourceType", IPTC_EXT, "DigitalSourceType", "text", "digital_source_type", True),
)
_BY_TAG = {p.tag: p for p in _PROPS}
_CONTAINERS = {"seq": "Seq", "bag": "Bag", "alt": "Alt"}


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


@dataclass(frozen=True)
class NotEmbedded:
    """:func:`embed` wrote nothing: the bytes are unchanged, ``reason`` says why (one sentence)."""

    format: str
    reason: str


class XmpError(InputError):
    """The XMP packet cannot be written into this file without damaging it."""


# ---------------------------------------------------------------------------------------------
# Values


def _scalar(value: object) -> str | None:
    """A JSON-LD value as text: a string, ``{"@value"|"@id"|"x-default": ...}`` or the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value", value.get("@id", value.get("x-default")))
    return value if isinstance(value, str) and value else None


def _texts(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(t for t in (_scalar(v) for v in items) if t)


def from_metadata(meta: Mapping[str, Any]) -> XmpFields:
    """The XMP fields that a ``cawg.metadata`` assertion (JSON-LD with XMP property names) states."""
    marked = meta.get("xmpRights:Marked")
    return XmpFields(
        creators=read_authors({METADATA_LABEL: meta}),
        rights=_scalar(meta.get("dc:rights")),
        web_statement=_scalar(meta.get("xmpRights:WebStatement")),
        usage_terms=_scalar(meta.get("xmpRights:UsageTerms")),
        marked=marked if isinstance(marked, bool) else None,
        data_mining=_scalar(meta.get("plus:DataMining")),
        model_release_status=_scalar(meta.get("plus:ModelReleaseStatus")),
        model_release_ids=_texts(meta.get("plus:ModelReleaseID") or []),
        digital_source_type=_scalar(meta.get("Iptc4xmpExt:DigitalSourceType")),
    )


def fields_for(rights: Rights) -> XmpFields:
    """What :func:`embed` writes for ``rights``: exactly the values signed in ``cawg.metadata``."""
    return from_metadata(metadata_assertion(rights))


def signed_fields(assertions: Mapping[str, Any]) -> XmpFields:
    """The XMP fields a manifest signs, from its assertions by label (:func:`manifest.assertions_by_label`).

    The ``cawg.metadata`` assertion (the signed IPTC/XMP mirror) says everything; authors also
    come from ``stds.schema-org.CreativeWork`` when it names none.
    """
    meta = assertions.get(METADATA_LABEL)
    fields = from_metadata(meta) if isinstance(meta, dict) else XmpFields()
    if not fields.creators:
        fields = replace(fields, creators=read_authors(assertions))
    return fields


# ---------------------------------------------------------------------------------------------
# Drift


def _norm(prop: _Prop, value: str) -> str:
    value = value.strip()
    if prop.ns in (PLUS, IPTC_EXT):
        return value.rstrip("/").rsplit("/", 1)[-1]  # vocabulary codes: the URI's last segment decides
    if prop.attr == "web_statement":
        return value.rstrip("/")
    return value


def _comparable(prop: _Prop, value: str | tuple[str, ...]) -> object:
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
    for prop in _PROPS:
        if not prop.compared:
            continue
        mine, theirs = getattr(xmp, prop.attr), getattr(signed, prop.attr)
        if not mine or not theirs:
            continue
        if _comparable(prop, mine) != _comparable(prop, theirs):
            out.append(Drift(prop.name, mine, theirs))
    return out


# ---------------------------------------------------------------------------------------------
# The packet: parse, merge, serialise

_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_PADDING = 2048
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class _MalformedError(Exception):
    pass


@dataclass
class _Packet:
    root: ET.Element  # x:xmpmeta
    rdf: ET.Element
    prefixes: dict[str, str]  # uri -> prefix


def _parse(raw: bytes) -> _Packet:
    """The packet's tree and namespace prefixes; raises :class:`_MalformedError`."""
    start = raw.find(b"<")
    body = raw[start:].rstrip(b"\x00 \t\r\n") if start != -1 else b""
    if not body or b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # XMP has no DTD; refuse entity tricks
        raise _MalformedError("no XML")
    prefixes: dict[str, str] = {}
    try:
        events = ET.iterparse(io.BytesIO(body), events=("start-ns",))
        for _, item in events:
            if isinstance(item, tuple):
                prefixes.setdefault(str(item[1]), str(item[0]))
        top = events.root  # type: ignore[attr-defined]
    except (ET.ParseError, UnicodeError, ValueError, LookupError, RecursionError) as exc:  # LookupError: encoding
        raise _MalformedError(str(exc).split("\n", 1)[0]) from None
    assert isinstance(top, ET.Element)
    rdf = top if top.tag == f"{{{RDF}}}RDF" else top.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise _MalformedError("no rdf:RDF")
    if top.tag != f"{{{X}}}xmpmeta" or rdf not in list(top):
        top = ET.Element(f"{{{X}}}xmpmeta")
        top.append(rdf)
    return _Packet(top, rdf, prefixes)


def _descriptions(packet: _Packet) -> list[ET.Element]:
    return [d for d in packet.rdf if d.tag == f"{{{RDF}}}Description"]


def _items(elem: ET.Element) -> list[str]:
    """The text values of a property element: an array's items, or its one simple value."""
    for container in ("Seq", "Bag", "Alt"):
        arr = elem.find(f"{{{RDF}}}{container}")
        if arr is not None:
            lis = arr.findall(f"{{{RDF}}}li")
            if container == "Alt":  # the x-default item first
                lis.sort(key=lambda li: li.get(f"{{{XML}}}lang") != "x-default")
            return [t for t in (_simple(li) for li in lis) if t is not None]
    value = _simple(elem)
    return [value] if value is not None else []


def _simple(elem: ET.Element) -> str | None:
    resource = elem.get(f"{{{RDF}}}resource")
    if resource is not None:
        return resource
    value = elem.find(f"{{{RDF}}}value")  # a qualified value (rdf:parseType="Resource")
    if value is None:
        desc = elem.find(f"{{{RDF}}}Description")
        value = desc.find(f"{{{RDF}}}value") if desc is not None else None
    if value is not None:
        return _simple(value)
    if len(elem):
        return None
    text = elem.text or ""
    return text if text.strip() else None  # exact: whitespace inside a value is the value's


def _fields(packet: _Packet) -> XmpFields:
    found: dict[str, list[str]] = {}
    for desc in _descriptions(packet):
        for key, value in desc.attrib.items():
            prop = _BY_TAG.get(key)
            if prop is not None and value.strip():
                found.setdefault(prop.attr, [value])
        for child in desc:
            prop = _BY_TAG.get(child.tag)
            if prop is not None and prop.attr not in found:
                values = _items(child)
                if values:
                    found[prop.attr] = values
    out: dict[str, Any] = {}
    for prop in _PROPS:
        got = found.get(prop.attr)
        if not got:
            continue
        if prop.kind in ("seq", "bag"):
            out[prop.attr] = tuple(got)
        elif prop.kind == "bool":
            out[prop.attr] = {"true": True, "false": False}.get(got[0].lower())
        else:
            out[prop.attr] = got[0]
    return XmpFields(**out)


def _check_text(prop: _Prop, value: str) -> str:
    if _INVALID_XML.search(value):
        raise XmpError(f"{prop.name} {value!r} holds a control character that XMP (XML) cannot carry")
    return value


def _property(prop: _Prop, value: object) -> ET.Element:
    elem = ET.Element(prop.tag)
    if prop.kind in ("seq", "bag", "alt"):
        arr = ET.SubElement(elem, f"{{{RDF}}}{_CONTAINERS[prop.kind]}")
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            li = ET.SubElement(arr, f"{{{RDF}}}li")
            if prop.kind == "alt":
                li.set(f"{{{XML}}}lang", "x-default")
            li.text = _check_text(prop, str(item))
    elif prop.kind == "bool":
        elem.text = "True" if value else "False"
    else:
        elem.text = _check_text(prop, str(value))
    return elem


def _written(fields: XmpFields) -> list[tuple[_Prop, object]]:
    """The properties :func:`embed` sets, with their values (unset ones are left as the file has them)."""
    out: list[tuple[_Prop, object]] = []
    for prop in _PROPS:
        value = getattr(fields, prop.attr)
        if value or value is False:
            out.append((prop, value))
    return out


def _replaced(fields: XmpFields) -> set[str]:
    """Tags removed from an existing packet: the ones written, and the release ids with their status."""
    tags = {prop.tag for prop, _ in _written(fields)}
    if fields.model_release_status:
        tags.add(f"{{{PLUS}}}ModelReleaseID")  # ids of an earlier status would contradict the new one
    return tags


def _merge(existing: bytes | None, fields: XmpFields, *, padding: int = _PADDING) -> bytes:
    """An XMP packet holding ``existing``'s properties with ours replaced (raises :class:`_MalformedError`)."""
    written = _written(fields)
    if existing is not None:
        packet = _parse(existing)
    else:
        top = ET.Element(f"{{{X}}}xmpmeta")
        packet = _Packet(top, ET.SubElement(top, f"{{{RDF}}}RDF"), {})
    drop = _replaced(fields)
    descs = _descriptions(packet)
    for desc in descs:
        for key in [k for k in desc.attrib if k in drop]:
            del desc.attrib[key]
        for child in [c for c in desc if c.tag in drop]:
            desc.remove(child)
    target = descs[0] if descs else ET.SubElement(packet.rdf, f"{{{RDF}}}Description")
    if target.get(f"{{{RDF}}}about") is None:
        target.set(f"{{{RDF}}}about", "")
    for prop, value in written:
        target.append(_property(prop, value))
    if packet.root.get(f"{{{X}}}xmptk") is None:
        packet.root.set(f"{{{X}}}xmptk", "rightsmark")
    try:
        return _serialise(packet, padding)
    except RecursionError:
        raise _MalformedError("elements nested too deeply") from None


# -- serialisation: namespace prefixes kept as the packet had them, declared where Adobe's toolkit
#    declares them (each top-level rdf:Description names the namespaces its properties use)


def _esc_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _esc_attr(text: str) -> str:
    return _esc_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _names(prefixes: Mapping[str, str], uris: list[str]) -> dict[str, str]:
    """A prefix for every namespace in ``uris``: the packet's own, else ours, else a fresh ``nsN``."""
    out: dict[str, str] = {XML: "xml"}
    used = {"xml"}
    for uri in [X, RDF, *uris]:
        if uri in out:
            continue
        want = prefixes.get(uri) or PREFIXES.get(uri) or "ns"
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", want) or want.lower().startswith("xml"):
            want = "ns"
        name, n = want, 1
        while name in used:
            name, n = f"{want}{n}", n + 1
        out[uri] = name
        used.add(name)
    return out


def _namespaces(elem: ET.Element) -> list[str]:
    """Namespaces used by ``elem`` and everything below it, in order of first use."""
    seen: dict[str, None] = {}
    for e in elem.iter():
        for tag in (e.tag, *e.attrib):
            if isinstance(tag, str) and tag.startswith("{"):
                seen.setdefault(tag[1:].split("}", 1)[0])
    return [u for u in seen if u != XML]


def _qname(names: Mapping[str, str], tag: str) -> str:
    if tag.startswith("{"):
        uri, local = tag[1:].split("}", 1)
        return f"{names[uri]}:{local}"
    return tag


def _open_tag(elem: ET.Element, names: Mapping[str, str], declare: list[str]) -> str:
    attrs = [f' xmlns:{names[u]}="{_esc_attr(u)}"' for u in declare]
    attrs += [f' {_qname(names, k)}="{_esc_attr(v)}"' for k, v in elem.attrib.items()]
    return f"<{_qname(names, elem.tag)}{''.join(attrs)}"


def _write(out: list[str], elem: ET.Element, names: Mapping[str, str], declare: list[str], depth: int) -> None:
    out.append(_open_tag(elem, names, declare))
    children = list(elem)
    text = elem.text or ""
    if not children and not text:
        out.append("/>")
        return
    out.append(">")
    if not children:
        out.append(_esc_text(text))
    elif text.strip() or any((c.tail or "").strip() for c in children):  # mixed content: keep text exactly
        out.append(_esc_text(text))
        for child in children:
            _write(out, child, names, [], depth + 1)
            out.append(_esc_text(child.tail or ""))
    else:  # whitespace between elements is not content in RDF/XML: indent afresh
        for child in children:
            out.append("\n" + " " * (depth + 1))
            _write(out, child, names, [], depth + 1)
        out.append("\n" + " " * depth)
    out.append(f"</{_qname(names, elem.tag)}>")


def _serialise(packet: _Packet, padding: int) -> bytes:
    """The packet as UTF-8 with its xpacket wrapper. Namespace prefixes stay as the packet had them;
    each top-level rdf:Description declares the namespaces it uses (as Adobe's toolkit writes)."""
    names = _names(packet.prefixes, _namespaces(packet.root))
    root, rdf = packet.root, packet.rdf
    out: list[str] = [f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n', _open_tag(root, names, [X]), ">"]
    for child in root:
        out.append("\n ")
        if child is rdf:
            out.append(_open_tag(rdf, names, [RDF]) + ">")
            for desc in rdf:
                out.append("\n  ")
                _write(out, desc, names, [u for u in _namespaces(desc) if u not in (X, RDF)], 2)
            out.append(f"\n </{_qname(names, rdf.tag)}>")
        else:
            _write(out, child, names, [u for u in _namespaces(child) if u not in (X, RDF)], 1)
    out.append(f"\n</{_qname(names, root.tag)}>\n")
    out.append((" " * 99 + "\n") * (padding // 100))
    out.append('<?xpacket end="w"?>')
    return "".join(out).encode("utf-8")


def packet_fields(raw: bytes) -> XmpFields | None:
    """The rightsmark fields an XMP packet states, or None when it is not well-formed XMP."""
    try:
        return _fields(_parse(raw))
    except (_MalformedError, RecursionError):  # (a chain of nested rdf:value thousands deep)
        return None


# ---------------------------------------------------------------------------------------------
# Containers: where the packet lives in each format


@dataclass(frozen=True)
class _Found:
    """Where a packet lies (``start:end`` holds the whole segment/chunk) and its bytes."""

    packet: bytes
    start: int
    end: int


# -- JPEG

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_MAX_PACKET = 0xFFFF - 2 - len(_JPEG_XMP)


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each header segment up to the first scan; raises XmpError when damaged."""
    if not data.startswith(b"\xff\xd8"):
        raise XmpError("not a JPEG (no start-of-image marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise XmpError("JPEG segment structure is broken")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise XmpError("JPEG is truncated inside a segment")
        yield marker, pos, pos + 2 + length
        if marker == 0xDA:
            return
        pos += 2 + length
    raise XmpError("JPEG is truncated before its image data")


def _jpeg_find(data: bytes) -> _Found | None:
    for marker, start, end in _jpeg_segments(data):
        if marker == 0xE1 and data.startswith(_JPEG_XMP, start + 4):
            return _Found(data[start + 4 + len(_JPEG_XMP) : end], start, end)
    return None


def _jpeg_embed(data: bytes, fields: XmpFields) -> bytes:
    found = _jpeg_find(data)
    packet = _merge(found.packet if found else None, fields)
    if len(packet) > _JPEG_MAX_PACKET:
        packet = _merge(found.packet if found else None, fields, padding=0)
    if len(packet) > _JPEG_MAX_PACKET:
        raise XmpError(
            f"the merged XMP packet ({len(packet)} bytes) does not fit one JPEG segment ({_JPEG_MAX_PACKET} bytes)",
            hint="extended XMP is not written; shorten the file's existing XMP (e.g. exiftool -XMP-crs:all=)",
        )
    segment = b"\xff\xe1" + (2 + len(_JPEG_XMP) + len(packet)).to_bytes(2, "big") + _JPEG_XMP + packet
    if found is not None:
        view = memoryview(data)  # one copy of a 12 MP file, not three
        return b"".join((view[: found.start], segment, view[found.end :]))
    at = 2
    for marker, start, end in _jpeg_segments(data):
        if marker == 0xE0 or (marker == 0xE1 and data.startswith(b"Exif\x00", start + 4)):
            at = end
        else:
            break
    view = memoryview(data)
    return b"".join((view[:at], segment, view[at:]))


# -- PNG

_PNG_KEY = b"XML:com.adobe.xmp"
_MAX_INFLATE = 16 * 1024 * 1024


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk up to IEND; raises XmpError when damaged."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise XmpError("not a PNG (bad signature)")
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise XmpError("PNG is truncated inside a chunk")
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end
    raise XmpError("PNG is truncated (no IEND chunk)")


def _png_itxt_text(body: bytes) -> bytes | None:
    """The text of an XMP iTXt chunk body, or None when it is another iTXt."""
    if not body.startswith(_PNG_KEY + b"\x00"):
        return None
    rest = body[len(_PNG_KEY) + 1 :]
    if len(rest) < 2:
        return b""
    compressed = rest[0] == 1
    rest = rest[2:]
    lang_end = rest.find(b"\x00")
    key_end = rest.find(b"\x00", lang_end + 1) if lang_end != -1 else -1
    if key_end == -1:
        return b""
    text = rest[key_end + 1 :]
    if compressed:
        try:
            text = zlib.decompressobj().decompress(text, _MAX_INFLATE)
        except zlib.error:
            return b""
    return text


def _png_find(data: bytes) -> _Found | None:
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt":
            text = _png_itxt_text(data[start + 8 : end - 4])
            if text is not None:
                return _Found(text, start, end)
    return None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _png_embed(data: bytes, fields: XmpFields) -> bytes:
    found = _png_find(data)
    packet = _merge(found.packet if found else None, fields)
    chunk = _png_chunk(b"iTXt", _PNG_KEY + b"\x00\x00\x00\x00\x00" + packet)
    if found is not None:
        return data[: found.start] + chunk + data[found.end :]
    for kind, start, _ in _png_chunks(data):
        if kind in (b"IDAT", b"IEND"):
            return data[:start] + chunk + data[start:]
    raise XmpError("PNG has no image data")  # pragma: no cover - _png_chunks ends at IEND or raises


# -- WebP

_WEBP_BEFORE_XMP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}
_VP8X_XMP, _VP8X_ALPHA = 0x04, 0x10


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end) of every chunk (end includes the pad byte); raises XmpError when damaged."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise XmpError("not a WebP (bad RIFF header)")
    total = int.from_bytes(data[4:8], "little") + 8
    if total > len(data):
        raise XmpError("WebP is truncated (shorter than its RIFF header says)")
    chunks: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos + 8 <= total:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > total:
            raise XmpError("WebP is truncated inside a chunk")
        chunks.append((data[pos : pos + 4], pos, min(end, total)))
        pos = end
    if not chunks:
        raise XmpError("WebP holds no chunk")
    return chunks


def _webp_find(data: bytes) -> _Found | None:
    for kind, start, end in _webp_chunks(data):
        if kind == b"XMP ":
            size = int.from_bytes(data[start + 4 : start + 8], "little")
            return _Found(data[start + 8 : start + 8 + size], start, end)
    return None


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "little") + body + (b"\x00" if len(body) & 1 else b"")


def _vp8x_for(data: bytes, kind: bytes, start: int) -> bytes:
    """A VP8X chunk for a simple-format file whose image chunk ``kind`` starts at ``start``."""
    body = data[start + 8 : start + 18]
    flags = _VP8X_XMP
    if kind == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a" or body[0] & 1:
            raise XmpError("WebP lossy bitstream has no key frame header")
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
    elif kind == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise XmpError("WebP lossless bitstream has a bad signature")
        bits = int.from_bytes(body[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if bits >> 28 & 1:
            flags |= _VP8X_ALPHA
    else:
        raise XmpError(f"WebP starts with an unknown chunk {kind!r}")
    if not width or not height:
        raise XmpError("WebP bitstream declares an empty canvas")
    payload = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff_chunk(b"VP8X", payload)


def _webp_embed(data: bytes, fields: XmpFields) -> bytes:
    chunks = _webp_chunks(data)
    found = _webp_find(data)
    packet = _merge(found.packet if found else None, fields)
    xmp_chunk = _riff_chunk(b"XMP ", packet)
    first, first_start, _ = chunks[0]
    body = bytearray(data)
    if found is not None:
        body[found.start : found.end] = xmp_chunk
    else:
        at = max(end for kind, _, end in chunks if kind in _WEBP_BEFORE_XMP or end == chunks[0][2])
        body[at:at] = (b"\x00" if at & 1 else b"") + xmp_chunk  # (a writer that left out a pad byte)
    if first == b"VP8X":
        body[first_start + 8] |= _VP8X_XMP
    else:
        body[first_start:first_start] = _vp8x_for(data, first, first_start)
    riff = int.from_bytes(data[4:8], "little") + len(body) - len(data)
    body[4:8] = riff.to_bytes(4, "little")
    return bytes(body)


# -- TIFF (classic, not BigTIFF): IFD0 tag 700. The new XMP bytes and a copy of IFD0 holding tag 700
#    are appended; the header then points at the copy. Every offset in the file stays valid, and
#    the old IFD0 is left unreferenced.

_TIFF_XMP_TAG = 700
_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _tiff_ifd0(data: bytes) -> tuple[Literal["little", "big"], int, list[bytes], bytes]:
    """Byte order, IFD0 offset, its 12-byte entries and its next-IFD offset bytes; raises XmpError."""
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        raise XmpError("BigTIFF is not supported for XMP")
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise XmpError("not a TIFF (bad header)")
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    if ifd < 8 or ifd + 2 > len(data):
        raise XmpError("TIFF is truncated (its first directory lies past the end)")
    count = int.from_bytes(data[ifd : ifd + 2], order)
    end = ifd + 2 + 12 * count
    if end + 4 > len(data):
        raise XmpError("TIFF is truncated inside its first directory")
    entries = [data[ifd + 2 + 12 * i : ifd + 14 + 12 * i] for i in range(count)]
    return order, ifd, entries, data[end : end + 4]


def _tiff_find(data: bytes) -> _Found | None:
    order, _, entries, _ = _tiff_ifd0(data)
    for entry in entries:
        if int.from_bytes(entry[0:2], order) == _TIFF_XMP_TAG:
            kind = int.from_bytes(entry[2:4], order)
            n = int.from_bytes(entry[4:8], order) * _TIFF_SIZES.get(kind, 1)
            at = int.from_bytes(entry[8:12], order) if n > 4 else -1
            value = entry[8 : 8 + n] if n <= 4 else data[at : at + n]
            if len(value) != n:
                raise XmpError("TIFF is truncated (its XMP lies past the end)")
            return _Found(value, at, at + n)
    return None


def _tiff_embed(data: bytes, fields: XmpFields) -> bytes:
    order, _, entries, next_ifd = _tiff_ifd0(data)
    found = _tiff_find(data)
    packet = _merge(found.packet if found else None, fields)
    out = bytearray(data)
    if len(out) & 1:
        out.append(0)
    xmp_at = len(out)
    out += packet
    if len(out) & 1:
        out.append(0)
    if len(out) + 2 + 12 * (len(entries) + 1) + 4 > 0xFFFFFFFF:
        raise XmpError("TIFF would grow past 4 GiB (BigTIFF is not written)")
    entry = struct.pack(("<" if order == "little" else ">") + "HHII", _TIFF_XMP_TAG, 1, len(packet), xmp_at)
    kept = [e for e in entries if int.from_bytes(e[0:2], order) != _TIFF_XMP_TAG]
    new = sorted([*kept, entry], key=lambda e: int.from_bytes(e[0:2], order))
    ifd_at = len(out)
    out += len(new).to_bytes(2, order) + b"".join(new) + next_ifd
    out[4:8] = ifd_at.to_bytes(4, order)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Public entry points

_FINDERS = {"jpeg": _jpeg_find, "png": _png_find, "webp": _webp_find, "tiff": _tiff_find, "dng": _tiff_find}
_EMBEDDERS = {"jpeg": _jpeg_embed, "png": _png_embed, "webp": _webp_embed, "tiff": _tiff_embed}

#: Format names :func:`embed` writes into.
SUPPORTED = frozenset(_EMBEDDERS)

_BMFF = "its XMP is an item of the meta box, and rewriting item locations is not supported"
_UNSUPPORTED = {
    "gif": "XMP is not written into GIF files (the application-extension packet is not supported)",
    "dng": "XMP is not written into DNG files (raw files are left to raw converters)",
    "avif": f"XMP is not written into AVIF files ({_BMFF})",
    "heic": f"XMP is not written into HEIC files ({_BMFF})",
    "heif": f"XMP is not written into HEIF files ({_BMFF})",
}


def embed(data: bytes, fmt: ImageFormat, fields: XmpFields) -> bytes | NotEmbedded:
    """``data`` with ``fields`` merged into its XMP packet (pixels and other metadata untouched).

    Returns :class:`NotEmbedded` (nothing written; sign on and say ``reason`` once) for a format
    outside :data:`SUPPORTED`, or when the file's own packet cannot be merged into (not
    well-formed XML, no ``rdf:RDF``, nested beyond reason): another tool's packet is never
    overwritten. Raises :class:`XmpError` (an :class:`~rightsmark.errors.InputError`) when the
    file is damaged, a value holds a character XML cannot carry, or a JPEG packet cannot fit
    one segment. Nothing is ever half-written: the input bytes are not modified in any case.
    """
    write = _EMBEDDERS.get(fmt.name)
    if write is None:
        reason = _UNSUPPORTED.get(fmt.name, f"XMP is not written into {fmt.name.upper()} files")
        return NotEmbedded(fmt.name, reason)
    try:
        return write(data, fields)
    except _MalformedError as exc:
        return NotEmbedded(fmt.name, f"the file's XMP packet cannot be merged into ({exc}); left unchanged")


def find_packet(data: bytes, fmt: ImageFormat) -> bytes | None:
    """The raw XMP packet of a JPEG, PNG, WebP or TIFF file, or None (also for damaged files)."""
    find = _FINDERS.get(fmt.name)
    if find is None:
        return None
    try:
        found = find(data)
    except XmpError:
        return None
    return found.packet if found else None


def read(data: bytes, fmt: ImageFormat) -> XmpFields | None:
    """The rightsmark fields in the file's XMP packet; None when there is none or it is unreadable.

    Cheap: only header segments (JPEG, up to the scan), the chunk list (PNG, WebP) or IFD0 (TIFF)
    are walked; no pixel is decoded. Never raises for bad input.
    """
    raw = find_packet(data, fmt)
    return packet_fields(raw) if raw is not None else None


__all__ = [
    "SUPPORTED",
    "Drift",
    "NotEmbedded",
    "XmpError",
    "XmpFields",
    "drift",
    "embed",
    "fields_for",
    "find_packet",
    "from_metadata",
    "packet_fields",
    "read",
    "signed_fields",
]
