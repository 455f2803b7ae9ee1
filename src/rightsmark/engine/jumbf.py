"""Just enough JUMBF and COSE to name the certificate chain that signed a manifest.

The engine validates the claim signature with the chain inside its COSE_Sign1 box but
does not expose the chain. Evaluating trust costs about half of a small file's
verification, and is the same for every file signed with the same chain; so rightsmark
reads the chain from the manifest store the engine hands back (``resource_to_stream`` of
the signature URI returns the store it validated) and evaluates trust once per distinct
chain. Anything unexpected here returns None and the caller falls back to the engine's
own trust evaluation: this module may be fast, it may never be wrong. In particular a
signature that carries more than one certificate chain yields none (see
:func:`certificate_chain`), and callers cross-check the leaf with the signer the engine reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

from rightsmark.media import StructureError, bmff

_COSE_SIGN1_TAG = 18
_X5CHAIN = 33


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in data[start:end], stopping quietly where a box is cut off.

    JUMBF boxes are BMFF boxes: :func:`rightsmark.media.bmff.boxes` walks them. A damaged box ends
    the walk here instead of raising: nothing from it on is found, so a lookup through it answers None.
    """
    try:
        yield from bmff.boxes(data, start, end)
    except StructureError:
        return


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


def _cbor_of(store: bytes, manifest_label: str, box_labels: tuple[str, ...]) -> bytes | None:
    """The payload of the ``cbor`` box in the first of ``box_labels`` found in manifest ``manifest_label``."""
    for kind, p0, p1 in _boxes(store, 0, len(store)):
        if kind != b"jumb":
            continue
        name, content = _label(store, p0, p1)
        if name != "c2pa":
            continue
        manifest = _child(store, content, p1, manifest_label)
        if manifest is None:
            return None
        for box_label in box_labels:
            found = _child(store, manifest[0], manifest[1], box_label)
            if found is not None:
                for box, q0, q1 in _boxes(store, found[0], found[1]):
                    if box == b"cbor":
                        return store[q0:q1]
                return None
        return None
    return None


def signature_box(store: bytes, manifest_label: str) -> bytes | None:
    """The COSE_Sign1 bytes of ``manifest_label`` in a manifest store (JUMBF), or None."""
    return _cbor_of(store, manifest_label, ("c2pa.signature",))


def claim_box(store: bytes, manifest_label: str) -> bytes | None:
    """The CBOR claim of ``manifest_label`` (what its signature covers), or None."""
    return _cbor_of(store, manifest_label, ("c2pa.claim.v2", "c2pa.claim"))


#: The header labels under which a COSE_Sign1 may carry an X.509 chain (RFC 9360 and the older text label).
_CHAIN_LABELS: tuple[int | str, ...] = (_X5CHAIN, "x5chain")


def certificate_chain(cose: bytes) -> tuple[bytes, ...] | None:
    """The DER certificates (leaf first) of a COSE_Sign1 structure that carries exactly one chain, or None.

    The engine verifies the signature with the chain it finds first, and a chain may sit in the
    protected header (label 33 or ``"x5chain"``) or the unprotected one, which the signature does not
    cover. A reading that could differ from the engine's is refused rather than guessed at: the
    structure must have exactly one CBOR encoding (no duplicate map keys, no indefinite lengths, no
    trailing bytes: decoding and encoding again gives the same bytes), and exactly one chain label may
    be present in both headers together. Anything else returns None: the caller then lets the engine
    judge the file on its own and derives nothing about the signer from these bytes.
    """
    import cbor2

    try:
        obj = cbor2.loads(cose)
        if cbor2.dumps(obj) != cose:
            return None  # duplicate keys, non-shortest or indefinite encodings, trailing data
        if isinstance(obj, cbor2.CBORTag):
            if obj.tag != _COSE_SIGN1_TAG:
                return None
            obj = obj.value
        if not isinstance(obj, (list, tuple)) or len(obj) != 4 or not isinstance(obj[0], bytes):
            return None
        protected = cbor2.loads(obj[0]) if obj[0] else {}
        if obj[0] and cbor2.dumps(protected) != obj[0]:
            return None
        unprotected = obj[1]
    except Exception:  # malformed CBOR of any kind: the engine decides
        return None
    if not isinstance(protected, Mapping) or not isinstance(unprotected, Mapping):
        return None
    found = [h[label] for h in (protected, unprotected) for label in _CHAIN_LABELS if label in h]
    if len(found) != 1:
        return None  # no chain, or more than one place that could hold it: ambiguous
    value = found[0]
    if isinstance(value, bytes) and value:
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, bytes) and c for c in value):
        return tuple(value)
    return None


def signing_chain(store: bytes, manifest_label: str) -> tuple[bytes, ...] | None:
    """The one DER signing chain (leaf first) of ``manifest_label`` in a manifest store, or None (see
    :func:`certificate_chain`: absent and ambiguous are both None)."""
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
