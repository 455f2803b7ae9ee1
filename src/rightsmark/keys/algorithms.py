"""Key types and the C2PA signature algorithms: which algorithm a key signs with, and signatures made and
verified as the engine's callback signer expects them.

A signing key is either a software key (``cryptography``) or an :class:`ExternalKey` that signs inside
its store and never leaves it (a PKCS#11 token, see :mod:`rightsmark.keys.pkcs11`). This module is the
bottom of :mod:`rightsmark.keys`: it imports nothing else from the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from rightsmark.errors import CertificateError, KeyMaterialError
from rightsmark.models import Algorithm

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class ExternalKey(Protocol):
    """A private key that stays in its store (a PKCS#11 token): it signs, it is never read out."""

    def sign(self, data: bytes, algorithm: Algorithm) -> bytes:
        """Sign ``data`` as :func:`sign_with` does for a software key of the same kind."""
        ...

    def public_key(self) -> PublicKey:
        """The public half; raises :class:`KeyMaterialError` when the store does not hold it."""
        ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


#: What signs: a software private key or a key in a token.
SigningKey = PrivateKey | ExternalKey


#: The classes of software keys (anything else that signs is an :class:`ExternalKey`).
SOFTWARE_KEYS = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)

HINT_NEW_KEY = "make a new key and request with 'rightsmark keys csr --new-key KEY', or 'rightsmark keys init DIR'"


def _digest(algorithm: Algorithm) -> hashes.HashAlgorithm:
    return hashes.SHA384() if algorithm is Algorithm.ES384 else hashes.SHA256()


PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def sign_with(key: SigningKey, data: bytes, algorithm: Algorithm) -> bytes:
    """The signature over ``data`` the C2PA engine's callback signer expects for ``algorithm``.

    ES256/ES384: ECDSA with SHA-256/SHA-384, DER-encoded (the engine accepts DER and raw r||s for
    both; DER is what verifiers of detached signatures expect). PS256: RSASSA-PSS with SHA-256,
    MGF1-SHA-256 and a 32-byte salt (the engine refuses other PSS parameters). Ed25519: raw.
    """
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_digest(algorithm)))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, PSS, hashes.SHA256())
    return key.sign(data, algorithm)


def verify_signature(public_key: object, algorithm: Algorithm, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (as :func:`sign_with` makes it) verifies under ``public_key``."""
    try:
        if algorithm is Algorithm.ED25519 and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif algorithm in (Algorithm.ES256, Algorithm.ES384) and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(_digest(algorithm)))
        elif algorithm is Algorithm.PS256 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, PSS, hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_of(key: SigningKey) -> PublicKey:
    """The public half of a software key or of a token key (which may not know it: KeyMaterialError)."""
    public = key.public_key()
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyMaterialError(f"unsupported public key type {type(public).__name__}")
    return public


def public_der(key: object) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (to compare two keys)."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]


def algorithm_for(public_key: object, path: str | Path | None = None) -> Algorithm:
    """The C2PA signature algorithm for a public key; keys C2PA (or the engine) refuses raise CertificateError."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return Algorithm.ED25519
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise CertificateError(
                f"the certificate's RSA key has {public_key.key_size} bits; C2PA needs 2048 or more",
                path=path,
                hint=HINT_NEW_KEY,
            )
        return Algorithm.PS256
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return Algorithm.ES256
        if isinstance(public_key.curve, ec.SECP384R1):
            return Algorithm.ES384
        raise CertificateError(
            f"the certificate's key is on EC curve {public_key.curve.name}, which rightsmark cannot sign with",
            path=path,
            hint="use a P-256 or P-384 key: " + HINT_NEW_KEY,
        )
    raise CertificateError(
        f"the certificate's key type ({type(public_key).__name__}) cannot sign C2PA manifests",
        path=path,
        hint="use an EC P-256/P-384, RSA (2048 bits or more) or Ed25519 key: " + HINT_NEW_KEY,
    )
