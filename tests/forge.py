"""Forged claim signatures, made the way an attacker with their own key would make them.

A C2PA claim signature is a COSE_Sign1 structure whose headers may carry the signing certificate
chain in more than one place: the protected header under the integer label 33 or the text label
``"x5chain"``, and the unprotected header (which the signature does not cover). An attacker who
signs with an untrusted key can put a trusted signer's chain in another of those places, hoping a
verifier reads that one while the engine verifies the signature with the attacker's own.

:func:`forge` rewrites the COSE_Sign1 of a file signed by the attacker: the protected header is
rebuilt with the chains given and signed again with the attacker's key over the claim (so the
signature verifies), the unprotected header gets the chains given, and the padding is resized so
that the signature box keeps its length: every hard binding of the file stays intact.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from rightsmark.engine import adapter as engine
from rightsmark.engine.jumbf import claim_box, signature_box
from rightsmark.keys.algorithms import sign_with
from rightsmark.keys.material import SigningMaterial
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, open_rights

#: (label, chain) pairs: label 33 or "x5chain"
Headers = Sequence[tuple[int | str, Sequence[x509.Certificate]]]


def der_chain(chain: Sequence[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in chain]


def _store_and_label(data: bytes) -> tuple[bytes, str]:
    c2pa = engine.c2pa()
    context = engine.reading_context(None, verify_trust=False)
    with c2pa.Reader("image/jpeg", io.BytesIO(data), context=context) as reader:
        label = json.loads(reader.json())["active_manifest"]
        raw = io.BytesIO()
        reader.resource_to_stream(engine.signature_uri(label), raw)
    return raw.getvalue(), label


def _raw_signature(material: SigningMaterial, to_sign: bytes) -> bytes:
    signature = sign_with(material.key, to_sign, material.algorithm)
    if isinstance(material.key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(signature)
        size = (material.key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return signature


def forge(
    signed: Path,
    out: Path,
    attacker: SigningMaterial,
    *,
    protected: Headers,
    unprotected: Headers = (),
) -> Path:
    """Rewrite ``signed`` (a JPEG signed by ``attacker``) with the certificate chains given in each header."""
    data = signed.read_bytes()
    store, label = _store_and_label(data)
    cose, claim = signature_box(store, label), claim_box(store, label)
    assert cose is not None and claim is not None
    old = cbor2.loads(cose)
    assert isinstance(old, cbor2.CBORTag) and old.tag == 18
    alg = cbor2.loads(old.value[0])[1]
    prot: dict[int | str, object] = {1: alg}
    for key, chain in protected:
        prot[key] = der_chain(chain)
    prot_bytes = cbor2.dumps(prot)
    to_sign = cbor2.dumps(["Signature1", prot_bytes, b"", claim])
    signature = _raw_signature(attacker, to_sign)
    extra = {key: der_chain(chain) for key, chain in unprotected}
    pad = 0
    for _ in range(8):
        unprot: dict[int | str, object] = {**extra, "pad": b"\x00" * pad}
        new = cbor2.dumps(cbor2.CBORTag(18, [prot_bytes, unprot, None, signature]))
        if len(new) == len(cose):
            break
        pad += len(cose) - len(new)
        assert pad >= 0, "the signature box has too little padding for these chains"
    assert len(new) == len(cose), "could not keep the signature box's length"
    at = data.find(cose)
    assert at != -1 and data.find(cose, at + 1) == -1, "the COSE_Sign1 must lie in one JPEG segment"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data[:at] + new + data[at + len(cose) :])
    return out


#: Forgeries that carry Mallory's chain (the one she signed with) and the trusted chain elsewhere.
#: Each names where the engine finds a chain: "P" protected, "U" unprotected header; 33 or x5 (text).
FORGERIES: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "Px5-mallory_U33-trusted": lambda m, t: {"protected": [("x5chain", m)], "unprotected": [(33, t)]},
    "Px5-mallory_P33-trusted": lambda m, t: {"protected": [("x5chain", m), (33, t)]},
    "P33-mallory_U33-trusted": lambda m, t: {"protected": [(33, m)], "unprotected": [(33, t)]},
    "Ux5-mallory_U33-trusted": lambda m, t: {"protected": [], "unprotected": [("x5chain", m), (33, t)]},
    "U33-trusted_Ux5-mallory": lambda m, t: {"protected": [], "unprotected": [(33, t), ("x5chain", m)]},
}


def forged_batch(root: Path, trusted: SigningMaterial, attacker: SigningMaterial) -> Path:
    """A folder where each forgery comes both before and after a legitimate file of the trusted signer.

    Names sort as: forgeries (a-*), the legitimate files (m-*), the same forgeries again (z-*).
    """
    work = root / "work"
    work.mkdir()
    src = EXAMPLE_IMAGES / "harbour.jpg"
    signed_by_attacker = Path(Signer(attacker).sign_file(src, work / "mallory.jpg", open_rights()).output)
    folder = root / "batch"
    folder.mkdir()
    Signer(trusted).sign_file(src, folder / "m-legit-1.jpg", open_rights())
    shutil.copy(folder / "m-legit-1.jpg", folder / "m-legit-2.jpg")
    for name, make in FORGERIES.items():
        forge(signed_by_attacker, folder / f"a-{name}.jpg", attacker, **make(attacker.chain, trusted.chain))
        shutil.copy(folder / f"a-{name}.jpg", folder / f"z-{name}.jpg")
    return folder
