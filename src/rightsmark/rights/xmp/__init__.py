"""The IPTC/XMP mirror of the signed rights, for tools that ignore C2PA.

Lightroom, ExifTool and photo sites read author, license and the AI-use choice from the
file's XMP packet, not from a C2PA manifest. :func:`embed` writes them there before the
file is signed (so the signature covers them too); :func:`read` takes them back out of a
file cheaply (header segments or chunks only); :func:`drift` says where an embedded packet
disagrees with what the manifest signed.

Modules: :mod:`~rightsmark.rights.xmp.fields` (the properties, the values a manifest
signs, drift), :mod:`~rightsmark.rights.xmp.packet` (parse, merge and serialise the packet),
:mod:`~rightsmark.rights.xmp.reading` (the values of any properties a packet states: the fields,
and the declared signals of :mod:`rightsmark.rights.signals_xmp`), :mod:`~rightsmark.rights.xmp.locate`
(where the packet lies in each container), :mod:`~rightsmark.rights.xmp.embedding` (writing a merged packet in
its place) and :mod:`~rightsmark.rights.xmp.namespaces`. Their public names are all here, each imported when
first used: finding a packet (every verified file) loads neither the XML parser nor the writing of packets.
Outside rightsmark they import only the standard library, and defusedxml when a packet is parsed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rightsmark.models import Drift
from rightsmark.rights.xmp.namespaces import DC, IPTC_EXT, PLUS, RDF, XML, XMP_RIGHTS, X

if TYPE_CHECKING:
    from rightsmark.rights.xmp.embedding import SUPPORTED, NotEmbedded, embed, embed_parts, read
    from rightsmark.rights.xmp.fields import (
        PREFIXES,
        Kind,
        XmpFields,
        drift,
        fields_for,
        from_metadata,
        scalar,
        signed_fields,
    )
    from rightsmark.rights.xmp.locate import XmpError, find_packet, read_packet
    from rightsmark.rights.xmp.packet import MalformedError
    from rightsmark.rights.xmp.reading import packet_fields, packet_properties

#: The names imported when first used, and their modules: looking for a packet (every verified file) needs only
#: :mod:`~rightsmark.rights.xmp.locate`, not the XML parser or the writing of packets.
_LAZY = {
    **dict.fromkeys(("SUPPORTED", "NotEmbedded", "embed", "embed_parts", "read"), "rightsmark.rights.xmp.embedding"),
    **dict.fromkeys(
        ("PREFIXES", "Kind", "XmpFields", "drift", "fields_for", "from_metadata", "scalar", "signed_fields"),
        "rightsmark.rights.xmp.fields",
    ),
    **dict.fromkeys(("XmpError", "find_packet", "read_packet"), "rightsmark.rights.xmp.locate"),
    "MalformedError": "rightsmark.rights.xmp.packet",
    **dict.fromkeys(("packet_fields", "packet_properties"), "rightsmark.rights.xmp.reading"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups find it here
    return value


__all__ = [
    "DC",
    "IPTC_EXT",
    "PLUS",
    "PREFIXES",
    "RDF",
    "SUPPORTED",
    "XML",
    "XMP_RIGHTS",
    "Drift",
    "Kind",
    "MalformedError",
    "NotEmbedded",
    "X",
    "XmpError",
    "XmpFields",
    "drift",
    "embed",
    "embed_parts",
    "fields_for",
    "find_packet",
    "from_metadata",
    "packet_fields",
    "packet_properties",
    "read",
    "read_packet",
    "scalar",
    "signed_fields",
]
