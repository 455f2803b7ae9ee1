"""Declared signals in a file's XMP packet: IPTC ``plus:DataMining``, TDMRep, license and rights statements.

The packet is found where :mod:`rightsmark.rights.xmp` finds it (JPEG APP1, PNG iTXt, WebP ``XMP ``, TIFF
tag 700) and only the properties below are read; a packet that mentions none of them is not even parsed
(the unsigned fast path stays fast). What each value means is :mod:`rightsmark.rights.signals`' table.

A packet that is not well-formed XMP but names a property that can opt out (``DataMining``, TDMRep's
``reservation``) fails closed: it is reported as that signal, unreadable, opting out of every use. Where a
valid manifest signs the same value for a property (its ``cawg.metadata`` mirror, which rightsmark writes into
the packet as well), that property is the manifest's own statement, not one declared beside it.
"""

from __future__ import annotations

import functools

from rightsmark.media.formats import ImageFormat
from rightsmark.models import DeclaredSignal, Purpose, SignalSource, Use
from rightsmark.rights import signals, xmp
from rightsmark.rights.xmp.namespaces import DC, PLUS, XMP_RIGHTS

TDMREP = "http://www.w3.org/ns/tdmrep/"
TDMREP_EPUB = "http://www.w3.org/ns/tdmrep#"
CC = "http://creativecommons.org/ns#"

#: Property (Clark notation) -> the name it is reported under (its usual prefixed name).
PROPERTIES = {
    f"{{{PLUS}}}DataMining": "plus:DataMining",
    f"{{{TDMREP}}}reservation": "tdm:reservation",
    f"{{{TDMREP}}}policy": "tdm:policy",
    f"{{{TDMREP_EPUB}}}reservation": "tdm:reservation",
    f"{{{TDMREP_EPUB}}}policy": "tdm:policy",
    f"{{{XMP_RIGHTS}}}WebStatement": "xmpRights:WebStatement",
    f"{{{CC}}}license": "cc:license",
    f"{{{DC}}}rights": "dc:rights",
    f"{{{XMP_RIGHTS}}}UsageTerms": "xmpRights:UsageTerms",
}
#: Properties read one value (the x-default alternative, the first item); the others (vocabularies,
#: reservations) are read item by item, each item counting.
_TEXTS = {"dc:rights", "xmpRights:UsageTerms", "xmpRights:WebStatement", "cc:license", "tdm:policy"}
#: Local names of the properties that can opt out: a packet that names one and cannot be read fails closed.
_RESTRICTING = {"DataMining": "plus:DataMining", "reservation": "tdm:reservation"}
_CODECS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
WHERE = "the XMP packet"


@functools.lru_cache(maxsize=64)  # a dataset repeats its packets (a photographer's profile, an export preset)
def packet_signals(raw: bytes) -> tuple[DeclaredSignal, ...]:
    """The declared signals an XMP packet states, in :data:`PROPERTIES` order."""
    try:
        found = xmp.packet_properties(raw, PROPERTIES, every=True)  # a restriction stated twice counts
    except xmp.MalformedError as exc:
        names = [name for local, name in _RESTRICTING.items() if any(local.encode(codec) in raw for codec in _CODECS)]
        return _unreadable(f"not well-formed XMP: {exc}", names)
    out: list[DeclaredSignal] = []
    for tag, name in PROPERTIES.items():
        values = found.get(tag, [])
        for value in values[:1] if name in _TEXTS else values:
            out.append(_declared(name, value))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _declared(name: str, value: str) -> DeclaredSignal:
    """One XMP signal (immutable; a dataset repeats its vocabulary codes and license URLs)."""
    return signals.declare(name, value, SignalSource.XMP, WHERE)


def file_signals(data: bytes, fmt: ImageFormat | None, *, before: int | None = None) -> tuple[DeclaredSignal, ...]:
    """The declared signals in the XMP packet of ``data`` (none when it has no packet or its format holds none;
    ``before``: a JPEG's scan start, see :func:`rightsmark.rights.xmp.find_packet`); a packet that may be there
    but cannot be read declares an opt-out of every use (:func:`unreadable_packet`)."""
    return file_packet(data, fmt, before=before)[1]


def file_packet(
    data: bytes, fmt: ImageFormat | None, *, before: int | None = None
) -> tuple[bytes | None, tuple[DeclaredSignal, ...]]:
    """The XMP packet of ``data`` (None when there is none, or it cannot be read) and its declared signals."""
    if fmt is None:
        return None, ()
    try:
        raw = xmp.read_packet(data, fmt, before=before)
    except xmp.XmpError as exc:
        return None, unreadable_packet(str(exc))
    return raw, (packet_signals(raw) if raw is not None else ())


def unreadable_packet(why: str) -> tuple[DeclaredSignal, ...]:
    """What an XMP packet that may be there but cannot be read declares: it might opt out, so it does, of
    every use (fail closed, as an unreadable sidecar does)."""
    return _unreadable(f"cannot be read: {why}", list(_RESTRICTING.values()))


def _unreadable(why: str, names: list[str]) -> tuple[DeclaredSignal, ...]:
    where, uses = f"{WHERE} ({why})", signals.uses(signals.ALL)
    return tuple(DeclaredSignal(name, "(unreadable)", SignalSource.XMP, where, uses) for name in names)


def unmirrored(declared: tuple[DeclaredSignal, ...], mirror: str | None) -> tuple[DeclaredSignal, ...]:
    """``declared`` less what is rightsmark's own mirror of a valid manifest: the ``plus:DataMining`` value
    that rightsmark writes for the manifest's signed permissions (``mirror``, the lossy code of
    :func:`rightsmark.rights.manifest.plus_data_mining`), and the statements that restrict nothing (license and
    rights texts, opt-ins: the manifest's own assertions decide those). Any other declaration stays, however
    the manifest's ``cawg.metadata`` repeats it: a signed copy of an opt-out is still an opt-out."""
    kept = []
    for s in declared:
        restricts = Use.NOT_ALLOWED in (s.uses.get(p) for p in Purpose)
        own = s.name == "plus:DataMining" and mirror is not None and s.value.strip() == mirror
        if s.source is SignalSource.XMP and (own or not restricts):
            continue
        kept.append(s)
    return tuple(kept)
