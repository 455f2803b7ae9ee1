"""The certificate rules the C2PA engine applies to a signing certificate, checked before any file is touched.

The engine is strict about signing certificates and its refusal is a bare ``the certificate is
invalid``. :func:`check_signing_certificate` runs the same rules first (each measured against the
engine, see ``C2PA_ENGINE_NOTES``) so the user hears what is wrong and how to get a good certificate.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier, SignatureAlgorithmOID

from rightsmark.errors import CertificateError, KeyMaterialError
from rightsmark.keys.algorithms import SOFTWARE_KEYS, SigningKey, algorithm_for, public_der, verify_signature
from rightsmark.keys.ekus import EKU_C2PA_CLAIM_SIGNING as EKU_C2PA_CLAIM_SIGNING  # (named here too)
from rightsmark.keys.ekus import EKU_DOCUMENT_SIGNING as EKU_DOCUMENT_SIGNING
from rightsmark.keys.ekus import EKU_EMAIL_PROTECTION as EKU_EMAIL_PROTECTION
from rightsmark.keys.ekus import EKU_MS_C2PA_SIGNING as EKU_MS_C2PA_SIGNING
from rightsmark.keys.ekus import SIGNING_EKUS

#: How to get a good certificate (every refusal ends with this or a more specific hint).
HINT_GET = (
    "request a new one from your CA with 'rightsmark keys csr' (it asks for what C2PA needs); "
    "for development, 'rightsmark keys init DIR' makes one"
)

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth (a TLS server certificate)",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth (a TLS client certificate)",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning (a code signing certificate)",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping (a timestamp authority's certificate)",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning (an OCSP responder's certificate)",
    ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE",
    ExtendedKeyUsageOID.SMARTCARD_LOGON: "smartcardLogon",
    ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC: "pkInitKDC",
}

#: Extensions the engine accepts marked critical (measured: IssuerAltName, SubjectInfoAccess, FreshestCRL,
#: OCSPNoCheck, TLSFeature, privateKeyUsagePeriod and unknown extensions are refused when critical).
_ENGINE_CRITICAL_OK = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.INHIBIT_ANY_POLICY,
        ExtensionOID.POLICY_CONSTRAINTS,
    }
)

#: Signature algorithms the engine accepts on the signing certificate (SHA-224 and SHA-1 are refused).
_CERT_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
        SignatureAlgorithmOID.ED25519,
    }
)


def _key_matches(key: SigningKey, leaf: x509.Certificate, path: str | Path) -> bool:
    """Software keys: same public key. Token keys: same public key (when the token holds it) and a
    trial signature that verifies under the certificate, which also proves the token can sign."""
    if isinstance(key, SOFTWARE_KEYS):
        return public_der(key.public_key()) == public_der(leaf.public_key())
    try:
        if public_der(key.public_key()) != public_der(leaf.public_key()):
            return False
    except KeyMaterialError:
        pass  # the token holds no public key object: the trial signature decides
    algorithm = algorithm_for(leaf.public_key(), path)
    challenge = b"rightsmark key check " + secrets.token_bytes(16)
    return verify_signature(leaf.public_key(), algorithm, key.sign(challenge, algorithm), challenge)


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _eku_name(oid: ObjectIdentifier) -> str:
    return _EKU_NAMES.get(oid, _oid_name(oid))


def _oid_name(oid: ObjectIdentifier) -> str:
    name = getattr(oid, "_name", None)
    return oid.dotted_string if not name or name == "Unknown OID" else f"{name}, {oid.dotted_string}"


def check_signing_certificate(
    chain: Sequence[x509.Certificate],
    key: SigningKey | None,
    *,
    path: str | Path,
    at: dt.datetime | None = None,
) -> None:
    """Raise :class:`CertificateError` if the engine (or a C2PA validator) would refuse this chain.

    Each rule was measured against the engine (c2pa-python 0.38.1): what it refuses, this refuses,
    with a message that says what is wrong and how to get a good certificate. The one deliberate
    difference: a certificate whose only extended key usages are timeStamping or OCSPSigning (which
    rightsmark's engine settings list for timestamp authorities) is refused as a claim signer, as
    validators with default settings refuse it.
    """
    now = at or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    for child, parent in itertools.pairwise(chain):
        if child.issuer != parent.subject:
            raise CertificateError(
                "the chain is out of order: each certificate must be followed by its issuer, leaf first",
                path=path,
                hint="put the signing certificate first, then the intermediate that issued it",
            )
    if key is not None and not _key_matches(key, leaf, path):
        raise CertificateError(
            "the private key does not match the certificate",
            path=path,
            hint="pass the certificate issued for this key; for a new one, send your CA a request made "
            "from this key with 'rightsmark keys csr --key ...'",
        )
    if leaf.not_valid_after_utc < now:
        raise CertificateError(
            f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
            path=path,
            hint="ask your CA to renew it with a request from 'rightsmark keys csr'; "
            "for development, 'rightsmark keys init DIR' makes a new one",
        )
    if leaf.not_valid_before_utc > now:
        raise CertificateError(
            f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            path=path,
            hint="wait until then, or check this computer's clock",
        )
    _check_profile(leaf, path)


def _check_profile(leaf: x509.Certificate, path: str | Path) -> None:
    """The extensions, key and signature of a signing certificate, as the engine checks them."""
    bc = _extension(leaf, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise CertificateError(
            "the certificate is a CA certificate, not a signing certificate",
            path=path,
            hint="sign with the end-entity certificate the CA issued to you, first in --cert; "
            "to get one, send a request made with 'rightsmark keys csr' to the CA "
            "(development: 'rightsmark keys init DIR')",
        )
    ku = _extension(leaf, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage):
        raise CertificateError(
            "the certificate has no key usage extension; C2PA needs digitalSignature", path=path, hint=HINT_GET
        )
    if not (ku.digital_signature or ku.content_commitment):
        raise CertificateError(
            "the certificate's key usage does not allow signing; C2PA needs digitalSignature", path=path, hint=HINT_GET
        )
    if ku.key_cert_sign:
        raise CertificateError(
            "the certificate's key usage includes keyCertSign, which only a CA certificate may have",
            path=path,
            hint=HINT_GET,
        )
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage) or not list(eku):
        raise CertificateError(
            "the certificate has no extended key usage; C2PA needs emailProtection or documentSigning",
            path=path,
            hint=HINT_GET,
        )
    ekus = list(eku)
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus:
        raise CertificateError(
            "the certificate's extended key usage includes anyExtendedKeyUsage, which C2PA forbids",
            path=path,
            hint=HINT_GET,
        )
    if not set(ekus) & set(SIGNING_EKUS):
        raise CertificateError(
            "the certificate's extended key usage does not allow C2PA signing: it has "
            + ", ".join(_eku_name(o) for o in ekus)
            + "; C2PA needs emailProtection or documentSigning",
            path=path,
            hint=HINT_GET,
        )
    if _extension(leaf, x509.AuthorityKeyIdentifier) is None:
        raise CertificateError(
            "the certificate has no authority key identifier, which C2PA requires", path=path, hint=HINT_GET
        )
    for ext in leaf.extensions:
        if ext.critical and ext.oid not in _ENGINE_CRITICAL_OK:
            raise CertificateError(
                f"the certificate has a critical extension the C2PA engine does not support ({_oid_name(ext.oid)})",
                path=path,
                hint=HINT_GET,
            )
    algorithm_for(leaf.public_key(), path)
    hash_ok = leaf.signature_algorithm_oid in _CERT_SIGNATURES
    if hash_ok and leaf.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
        hash_ok = isinstance(leaf.signature_hash_algorithm, (hashes.SHA256, hashes.SHA384, hashes.SHA512))
    if not hash_ok:
        raise CertificateError(
            f"the CA signed the certificate with {_oid_name(leaf.signature_algorithm_oid)}, which C2PA does not accept "
            "(needs SHA-256, SHA-384 or SHA-512, or Ed25519)",
            path=path,
            hint=HINT_GET,
        )
