"""The IPTC/XMP mirror of the signed rights, for tools that ignore C2PA.

Lightroom, ExifTool and photo sites read author, license and the AI-use choice from the
file's XMP packet, not from a C2PA manifest. :func:`embed` writes them there before the
file is signed (so the signature covers them too); :func:`read` takes them back out of a
file cheaply (header segments or chunks only); :func:`drift` says where an embedded packet
disagrees with what the manifest signed.

Four modules: :mod:`~rightsmark.rights.xmp.fields` (the properties, the values a manifest
signs, drift), :mod:`~rightsmark.rights.xmp.packet` (parse, merge and serialise the packet),
:mod:`~rightsmark.rights.xmp.reading` (the values of any properties a packet states: the fields,
and the declared signals of :mod:`rightsmark.rights.signals_xmp`) and
:mod:`~rightsmark.rights.xmp.embed` (where the packet lives in each container). Their
public names are all here. Outside rightsmark they import only the standard library, and
defusedxml when a packet is parsed.
"""

from __future__ import annotations

from rightsmark.models import Drift
from rightsmark.rights.xmp.embed import SUPPORTED, NotEmbedded, embed, embed_parts, find_packet, read
from rightsmark.rights.xmp.fields import (
    DC,
    IPTC_EXT,
    PLUS,
    PREFIXES,
    RDF,
    XML,
    XMP_RIGHTS,
    Kind,
    X,
    XmpFields,
    drift,
    fields_for,
    from_metadata,
    scalar,
    signed_fields,
)
from rightsmark.rights.xmp.packet import MalformedError, XmpError
from rightsmark.rights.xmp.reading import packet_fields, packet_properties

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
    "scalar",
    "signed_fields",
]
