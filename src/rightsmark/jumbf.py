"""Just enough JUMBF and COSE to name the certificate chain that signed a manifest.

The engine validates the claim signature with the chain inside its COSE_Sign1 box but
does not expose the chain. Evaluating trust costs about half of a small file's
verification, and is the same for every file signed with the same chain; so rightsmark
reads the chain from the manifest store the engine hands back (``resource_to_stream`` of
the signature URI returns the store it validated) and evaluates trust once per distinct
chain. Anything unexpected here returns None and the caller falls back to the engine's
own trust evaluation: this module may be fast, it may never be wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

_COSE_SIGN1_TAG = 18
_X5CHAIN = 33


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _label(data: bytes, start: int, end: int) -> tuple[str | None, int]:
    """The label of a JUMBF superbox whose payload is data[start:end], and where its content starts."""
    for kind, p0, p1 in _boxes(data, start, end):
        if kind != b"jumd" or p1 - p0 < 17:
            return None, start
        toggles = data[p0 + 16]
        label = None
        if toggles & 0x02:  # label present, null-terminated
            stop = data.find(b"\x00", p0 + 17, p1)
            if stop != -1:
                label = data[p0 + 17 : stop].decode("utf-8", "replace")
        return label, p1
    return None, start


def _child(data: bytes, start: int, end: int, label: str) -> tuple[int, int] | None:
    """Content range of the child superbox called ``label`` inside a superbox's content."""
    for kind, p0, p1 in _boxes(data, start, end):
        if kind == b"jumb":
            name, content = _label(data, p0, p1)
            if name == label:
                return content, p1
    return None


def signature_box(store: bytes, manifest_label: str) -> bytes | None:
    """The COSE_Sign1 bytes of ``manifest_label`` in a manifest store (JUMBF), or None."""
    for kind, p0, p1 in _boxes(store, 0, len(store)):
        if kind != b"jumb":
            continue
        name, content = _label(store, p0, p1)
        if name != "c2pa":
            continue
        manifest = _child(store, content, p1, manifest_label)
        if manifest is None:
            return None
        sig = _child(store, manifest[0], manifest[1], "c2pa.signature")
        if sig is None:
            return None
        for box, q0, q1 in _boxes(store, sig[0], sig[1]):
            if box == b"cbor":
                return store[q0:q1]
        return None
    return None


def certificate_chain(cose: bytes) -> tuple[bytes, ...] | None:
    """The DER certificates of the x5chain header of a COSE_Sign1 structure, leaf first."""
    import cbor2

    try:
        obj = cbor2.loads(cose)
        if isinstance(obj, cbor2.CBORTag):
            if obj.tag != _COSE_SIGN1_TAG:
                return None
            obj = obj.value
        if not isinstance(obj, (list, tuple)) or len(obj) != 4:
            return None
        protected = cbor2.loads(obj[0]) if obj[0] else {}
        unprotected = obj[1]
    except Exception:  # malformed CBOR of any kind: fall back to the engine
        return None
    found = protected.get(_X5CHAIN) if isinstance(protected, Mapping) else None
    if found is None and isinstance(unprotected, Mapping):
        found = unprotected.get(_X5CHAIN)
    if isinstance(found, bytes):
        return (found,)
    if isinstance(found, (list, tuple)) and found and all(isinstance(c, bytes) for c in found):
        return tuple(found)
    return None


def signing_chain(store: bytes, manifest_label: str) -> tuple[bytes, ...] | None:
    """The DER signing chain (leaf first) of ``manifest_label`` in a manifest store, or None."""
    cose = signature_box(store, manifest_label)
    return certificate_chain(cose) if cose else None


def chain_digest(chain: tuple[bytes, ...]) -> str:
    """sha256 over a signing chain (length-prefixed certificates)."""
    h = hashlib.sha256()
    for der in chain:
        h.update(len(der).to_bytes(4, "big"))
        h.update(der)
    return h.hexdigest()


def leaf_fingerprint(chain: tuple[bytes, ...]) -> str:
    """``sha256:<hex>`` of the signing (leaf) certificate's DER, as ``openssl x509 -fingerprint -sha256`` shows it."""
    return f"sha256:{hashlib.sha256(chain[0]).hexdigest()}"
