"""The XMP packet itself: parse it (with defusedxml), merge rightsmark's properties in, serialise it.

Hand-written serialisation, because no maintained pure-Python XMP library writes packets (python-xmp-toolkit
wraps the Exempi C library, pyexiv2 wraps Exiv2) and ElementTree's writer renames namespace prefixes.

Writing merges into the packet already in the file: every property stays, only the properties
rightsmark writes are replaced. A property rightsmark has no value for (no author, no copyright,
no license given) is not written, and the file's own value stays; ``plus:ModelReleaseID`` is
replaced together with ``plus:ModelReleaseStatus`` (ids of an earlier status would contradict the
new one). Packets are read in UTF-8, UTF-16 or UTF-32 (XMP's encodings) and written in UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from rightsmark.rights.xmp.fields import PREFIXES, PROPS, Prop, XmpFields
from rightsmark.rights.xmp.locate import XmpError
from rightsmark.rights.xmp.namespaces import PLUS, RDF, XML, X

_CONTAINERS = {"seq": "Seq", "bag": "Bag", "alt": "Alt"}
_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_PADDING = 2048
_RDF_TAG = f"{{{RDF}}}RDF"
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class MalformedError(Exception):
    """A file's own packet is not well-formed XMP (the message says why): it is neither read nor merged into."""


@dataclass
class _Packet:
    root: ET.Element  # x:xmpmeta
    rdf: ET.Element
    prefixes: dict[str, str]  # uri -> prefix


# -- parsing: defusedxml's parser refuses any DTD (so no entity, internal or external, is ever
#    declared or expanded) whatever the packet's encoding; XMP never has a DTD

#: Byte order marks of the wide encodings XMP allows (UTF-32's before UTF-16's: they share a prefix).
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)


def wide_encoding(raw: bytes) -> tuple[str, int] | None:
    """(codec, start) of a UTF-16 or UTF-32 packet: by its byte order mark, else by the zero bytes
    around its first ``<`` (as XML's appendix F detects them, allowing blanks before it); None otherwise."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return codec, len(bom)
    at = raw.find(b"<")
    if at == -1:
        return None
    if at % 4 == 0 and raw[at + 1 : at + 4] == b"\x00\x00\x00":
        return "utf-32-le", at
    if at % 4 == 3 and raw[at - 3 : at] == b"\x00\x00\x00":
        return "utf-32-be", at - 3
    if at % 2 == 0 and raw[at + 1 : at + 2] == b"\x00":
        return "utf-16-le", at
    if at % 2 == 1 and raw[at - 1 : at] == b"\x00" == raw[at + 1 : at + 2]:
        return "utf-16-be", at - 1
    return None


def _body(raw: bytes) -> bytes | str:
    """The packet from its first ``<`` to its last non-blank character.

    UTF-8 (and an 8-bit encoding an XML declaration names) stays bytes for the parser to decode;
    UTF-16 and UTF-32 are decoded here (expat has no UTF-32, and it would take zero padding at the
    end for part of a character). Raises :class:`UnicodeError` for bytes that are not that encoding.
    """
    wide = wide_encoding(raw)
    if wide is None:
        at = raw.find(b"<")
        return raw[at:].rstrip(b"\x00 \t\r\n") if at != -1 else b""
    codec, start = wide
    text = raw[start:].decode(codec)
    at = text.find("<")
    return text[at:].rstrip("\x00 \t\r\n") if at != -1 else ""


class _Builder:
    """A parser target that builds the tree with the standard :class:`~xml.etree.ElementTree.TreeBuilder`
    and keeps the first prefix each namespace URI is declared with.

    defusedxml's parser is ElementTree's pure-Python one; building with the standard TreeBuilder gives
    the same element class the merge adds elements of (``SubElement`` refuses a mix).
    """

    def __init__(self) -> None:
        self.tree = ET.TreeBuilder()
        self.prefixes: dict[str, str] = {}  # uri -> prefix

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        return self.tree.start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        return self.tree.end(tag)

    def data(self, data: str) -> None:
        self.tree.data(data)

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.setdefault(uri, prefix)

    def close(self) -> ET.Element:
        return self.tree.close()


def parse(raw: bytes) -> _Packet:
    """The packet's tree and namespace prefixes; raises :class:`MalformedError`."""
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from defusedxml.ElementTree import DefusedXMLParser  # type: ignore[import-untyped]

    builder = _Builder()
    try:
        body = _body(raw)
        if not body:
            raise MalformedError("no XML")
        parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        parser.feed(body)
        top = parser.close()
    except DefusedXmlException:
        raise MalformedError("it has a DTD, which XMP never has") from None
    except (ET.ParseError, UnicodeError, ValueError, LookupError, RecursionError) as exc:  # LookupError: encoding
        raise MalformedError(str(exc).split("\n", 1)[0]) from None
    if not isinstance(top, ET.Element):
        raise MalformedError("no XML")
    rdf = top if top.tag == f"{{{RDF}}}RDF" else top.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise MalformedError("no rdf:RDF")
    if top.tag != f"{{{X}}}xmpmeta" or rdf not in list(top):
        top = ET.Element(f"{{{X}}}xmpmeta")
        top.append(rdf)
    return _Packet(top, rdf, builder.prefixes)


def _descriptions(packet: _Packet) -> list[ET.Element]:
    return [d for d in packet.rdf if d.tag == f"{{{RDF}}}Description"]


def _check_text(prop: Prop, value: str) -> str:
    if _INVALID_XML.search(value):
        raise XmpError(f"{prop.name} {value!r} holds a control character that XMP (XML) cannot carry")
    return value


def _property(prop: Prop, value: object) -> ET.Element:
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


def _written(fields: XmpFields) -> list[tuple[Prop, object]]:
    """The properties :func:`embed` sets, with their values (unset ones are left as the file has them)."""
    out: list[tuple[Prop, object]] = []
    for prop in PROPS:
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


def merge(existing: bytes | None, fields: XmpFields, *, padding: int = _PADDING) -> bytes:
    """An XMP packet holding ``existing``'s properties with ours replaced (raises :class:`MalformedError`)."""
    written = _written(fields)
    if existing is not None:
        packet = parse(existing)
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
        raise MalformedError("elements nested too deeply") from None


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
