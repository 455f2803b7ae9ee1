"""PKCS#12 bundles (.p12/.pfx): the private key and its certificates, with the bundle's password rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from rightsmark.errors import KeyMaterialError, PassphraseError
from rightsmark.keys.algorithms import SigningKey
from rightsmark.keys.material import PASSPHRASE_HINT, check_key_type, order_chain, read_key_file


@dataclass(frozen=True)
class Pkcs12Bundle:
    """The key of a bundle and its chain (leaf first), or None when the bundle holds no certificate for it."""

    key: SigningKey
    chain: tuple[x509.Certificate, ...] | None


def read_pkcs12(path: Path, passphrase: bytes | None) -> Pkcs12Bundle:
    """Open a bundle; a missing or wrong passphrase is a :class:`PassphraseError`, anything else a KeyMaterialError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = read_key_file(path, "PKCS#12 bundle")

    def attempt(password: bytes | None) -> pkcs12.PKCS12KeyAndCertificates:
        return pkcs12.load_pkcs12(data, password)

    try:
        bundle = attempt(passphrase)
    except ValueError as exc:
        if "deserialize" in str(exc).lower():
            raise KeyMaterialError(
                "is neither a PEM private key nor a PKCS#12 bundle (or it is damaged)",
                path=path,
                hint="export the key and certificate again as .p12, or pass a PEM key with --cert",
            ) from None
        if passphrase is None:
            try:
                bundle = attempt(b"")  # some tools protect bundles with an empty password
            except ValueError:
                raise PassphraseError(
                    "the PKCS#12 bundle is encrypted and no passphrase was given", path=path, hint=PASSPHRASE_HINT
                ) from None
        else:
            try:
                attempt(None)
            except ValueError:
                raise PassphraseError(
                    "wrong passphrase for the PKCS#12 bundle", path=path, hint="check the passphrase"
                ) from None
            raise PassphraseError(
                "a passphrase was given but the PKCS#12 bundle is not encrypted",
                path=path,
                hint="give no passphrase for this bundle (check $RIGHTSMARK_KEY_PASSPHRASE)",
            ) from None
    if bundle.key is None:
        raise KeyMaterialError(
            "the PKCS#12 bundle holds no private key", path=path, hint="export it again with its private key"
        )
    key = check_key_type(bundle.key, path)
    certs = [c.certificate for c in bundle.additional_certs]
    leaf = bundle.cert.certificate if bundle.cert is not None else None
    if leaf is None:  # some tools file the leaf among the others: the one with the key's public key
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        mine = key.public_key().public_bytes(serialization.Encoding.DER, spki)
        leaf = next((c for c in certs if c.public_key().public_bytes(serialization.Encoding.DER, spki) == mine), None)
    return Pkcs12Bundle(key=key, chain=order_chain(leaf, certs) if leaf is not None else None)
