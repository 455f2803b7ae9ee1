"""Keys and certificates: a development CA, signing material, checks, and certificate requests.

The C2PA engine is strict about signing certificates and its refusal is a bare
``the certificate is invalid``. :func:`check_signing_certificate` runs the same
rules first (each measured against the engine, see ``C2PA_ENGINE_NOTES``) so the
user hears what is wrong and how to get a good certificate before any file is touched.

A signing key is either a software key (``cryptography``) or an :class:`ExternalKey`
that signs inside its store and never leaves it (a PKCS#11 token, see
:mod:`rightsmark.keys.source`). :class:`SigningMaterial` hides the difference: its
:meth:`~SigningMaterial.sign` is the engine's callback signer for both.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier, SignatureAlgorithmOID

from rightsmark.errors import CertificateError, KeyMaterialError, PassphraseError, TrustError, UsageError
from rightsmark.models import Algorithm

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

#: Extended key usages a C2PA claim signer may carry (C2PA 2.x, section 14.5.1).
EKU_EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EKU_C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
EKU_MS_C2PA_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
SIGNING_EKUS = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING, EKU_C2PA_CLAIM_SIGNING, EKU_MS_C2PA_SIGNING)

EXAMPLE_MARK = "EXAMPLE KEY - proves nothing about anyone"


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


@dataclass(frozen=True)
class KeyFiles:
    """Where :func:`init_keys` wrote its files."""

    ca: Path
    chain: Path
    key: Path


@dataclass(frozen=True)
class SigningMaterial:
    """A private key (software or in a token) with its certificate chain (leaf first), ready to sign.

    Not picklable when the key is in a token; send a :class:`rightsmark.keys.source.KeySource` to
    other processes instead and call its ``load()`` there.
    """

    key: SigningKey
    chain: tuple[x509.Certificate, ...]
    algorithm: Algorithm

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in self.chain)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` as the C2PA engine's callback signer expects for :attr:`algorithm`."""
        return sign_with(self.key, data, self.algorithm)

    def close(self) -> None:
        """Close the token session, if the key lives in a token (software keys: nothing to do)."""
        if not isinstance(self.key, SOFTWARE_KEYS):
            self.key.close()

    def __enter__(self) -> SigningMaterial:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Creating a development CA


def _new_key(algorithm: Algorithm) -> PrivateKey:
    if algorithm is Algorithm.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is Algorithm.ES384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is Algorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _sign_hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(common_name: str, organization: str, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    days: int,
    *,
    ca: bool,
    path_length: int | None = None,
) -> x509.Certificate:
    """A certificate shaped as C2PA validators require: a CA (keyCertSign, cRLSign) or a claim signer
    (digitalSignature, emailProtection EKU, the EKU every validator accepts with default settings)."""
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([EKU_EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key, _sign_hash(issuer_key))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never overwrite (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def init_keys(
    directory: str | Path,
    *,
    subject: str = "rightsmark development signer",
    organization: str = "rightsmark development CA",
    algorithm: Algorithm = Algorithm.ES256,
    years: int = 12,
    passphrase: bytes | None = None,
    example: bool = False,
) -> KeyFiles:
    """Create a development CA (root and intermediate) and a C2PA signing certificate.

    Writes ``ca.pem`` (root), ``signer.pem`` (leaf then intermediate) and ``signer.key``
    (PKCS#8, mode 0600, encrypted when ``passphrase`` is given). Refuses to overwrite.
    """
    out = Path(directory)
    files = KeyFiles(ca=out / "ca.pem", chain=out / "signer.pem", key=out / "signer.key")
    existing = [p for p in (files.ca, files.chain, files.key) if p.exists()]
    if existing:
        raise KeyMaterialError(
            "already exists; refusing to overwrite keys",
            path=existing[0],
            hint="choose an empty directory or move the old keys away first",
        )
    if out.exists() and not out.is_dir():
        raise KeyMaterialError("is not a directory", path=out, hint="give a directory for the new keys")
    if years < 1:
        raise KeyMaterialError("validity must be at least one year", hint="pass --years 1 or more")

    unit = EXAMPLE_MARK if example else "development use only"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    leaf_days = 365 * years + years // 4 + 1
    # Standard path validation (cryptography's verifier, used for audit ancestors and withdrawal-list
    # signers) accepts the WebPKI algorithms only: an Ed25519 signer gets its CAs on P-256.
    ca_algorithm = Algorithm.ES256 if algorithm is Algorithm.ED25519 else algorithm
    root_key = _new_key(ca_algorithm)
    root_name = _name(f"{organization} root", organization, unit)
    root = _issue(root_name, root_key, root_name, root_key, now, leaf_days + 3650, ca=True)
    inter_key = _new_key(ca_algorithm)
    inter_name = _name(f"{organization} intermediate", organization, unit)
    inter = _issue(inter_name, inter_key, root_name, root_key, now, leaf_days + 1825, ca=True, path_length=0)
    leaf_key = _new_key(algorithm)
    leaf = _issue(_name(subject, organization, unit), leaf_key, inter_name, inter_key, now, leaf_days, ca=False)

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_new(
        files.key,
        leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption),
        0o600,
    )
    _write_new(
        files.chain,
        leaf.public_bytes(serialization.Encoding.PEM) + inter.public_bytes(serialization.Encoding.PEM),
        0o644,
    )
    _write_new(files.ca, root.public_bytes(serialization.Encoding.PEM), 0o644)
    return files


# ---------------------------------------------------------------------------------------------
# Loading and checking


def load_certificates(path: str | Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file, in order."""
    from rightsmark.keys.pem import read_pem_file

    p = Path(path)
    data = read_pem_file(p)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise TrustError("holds no PEM certificate", path=p, hint="expected '-----BEGIN CERTIFICATE-----' blocks")
    return certs


def read_key_file(path: Path, what: str = "key file") -> bytes:
    """The bytes of a key file or bundle; every problem a :class:`KeyMaterialError` naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyMaterialError(
            f"no such {what}", path=path, hint="check --key, or create keys with 'rightsmark keys init DIR'"
        ) from None
    except IsADirectoryError:
        raise KeyMaterialError(f"is a directory, not a {what}", path=path, hint="name the file itself") from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {what}: {exc.strerror}", path=path) from None


PASSPHRASE_HINT = "pass --passphrase-file, --passphrase-fd or set RIGHTSMARK_KEY_PASSPHRASE"


def check_key_type(key: object, path: str | Path) -> PrivateKey:
    if not isinstance(key, SOFTWARE_KEYS):
        raise KeyMaterialError(
            f"unsupported key type {type(key).__name__}", path=path, hint="use an EC P-256/P-384, RSA or Ed25519 key"
        )
    return key


def _pem_is_encrypted(data: bytes) -> bool:
    """Whether a PEM file holds an encrypted private key, judged by its structure alone: a PKCS#8
    ``ENCRYPTED PRIVATE KEY`` block or a legacy (OpenSSL) block with a ``Proc-Type: 4,ENCRYPTED`` header."""
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
        return True
    return any(
        line.strip().replace(b" ", b"").upper().startswith(b"PROC-TYPE:4,ENCRYPTED") for line in data.splitlines()
    )


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    """A software private key from a PEM file; every problem is a one-line typed error.

    Whether the key is encrypted is decided by the file's structure, not by the library's error text:
    a wrong passphrase sometimes decrypts to bytes with valid padding (about 1 time in 256), and the
    library then reports undecodable data instead of a bad password. With an encrypted key and a
    passphrase given, any failure to load is a :class:`PassphraseError`.
    """
    p = Path(path)
    data = read_key_file(p)
    encrypted = _pem_is_encrypted(data)
    if encrypted and passphrase is None:
        raise PassphraseError("the private key is encrypted and no passphrase was given", path=p, hint=PASSPHRASE_HINT)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise PassphraseError(
                "the private key is encrypted and no passphrase was given", path=p, hint=PASSPHRASE_HINT
            ) from None
        raise PassphraseError(
            "a passphrase was given but the key is not encrypted",
            path=p,
            hint="give no passphrase for this key (check $RIGHTSMARK_KEY_PASSPHRASE)",
        ) from None
    except UnsupportedAlgorithm as exc:
        raise KeyMaterialError(
            f"the private key uses an algorithm or encryption this program does not support ({exc})",
            path=p,
            hint="export it again as PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)",
        ) from None
    except ValueError:
        if encrypted:
            raise PassphraseError("wrong passphrase for the private key", path=p, hint="check the passphrase") from None
        raise KeyMaterialError(
            "is not a PEM private key", path=p, hint="expected '-----BEGIN PRIVATE KEY-----' or a PKCS#12 bundle"
        ) from None
    return check_key_type(key, p)


def public_key_of(key: SigningKey) -> PublicKey:
    """The public half of a software key or of a token key (which may not know it: KeyMaterialError)."""
    public = key.public_key()
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyMaterialError(f"unsupported public key type {type(public).__name__}")
    return public


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


def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]


#: How to get a good certificate (every refusal ends with this or a more specific hint).
HINT_GET = (
    "request a new one from your CA with 'rightsmark keys csr' (it asks for what C2PA needs); "
    "for development, 'rightsmark keys init DIR' makes one"
)
HINT_NEW_KEY = "make a new key and request with 'rightsmark keys csr --new-key KEY', or 'rightsmark keys init DIR'"

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
        return _public_der(key.public_key()) == _public_der(leaf.public_key())
    try:
        if _public_der(key.public_key()) != _public_der(leaf.public_key()):
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


def load_signing_material(
    key_path: str | Path, cert_path: str | Path, passphrase: bytes | None = None
) -> SigningMaterial:
    """Load and check a PEM key and its certificate chain; every problem is a typed error."""
    chain = load_chain(cert_path)
    key = load_private_key(key_path, passphrase)
    return checked_material(key, chain, path=cert_path)


def load_chain(cert_path: str | Path) -> list[x509.Certificate]:
    """A certificate chain file for signing (a missing or empty file is a KeyMaterialError)."""
    try:
        return load_certificates(cert_path)
    except TrustError as exc:
        raise KeyMaterialError(exc.message, path=exc.path, hint=exc.hint) from None


def checked_material(key: SigningKey, chain: Sequence[x509.Certificate], *, path: str | Path) -> SigningMaterial:
    """Signing material from a key and its chain, after every check the engine would make."""
    check_signing_certificate(chain, key, path=path)
    return SigningMaterial(key=key, chain=tuple(chain), algorithm=algorithm_for(chain[0].public_key(), path))


def order_chain(leaf: x509.Certificate, others: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """``leaf`` followed by its issuers found among ``others`` (a self-signed root is left out)."""
    chain = [leaf]
    pool = [c for c in others if c != leaf]
    while True:
        last = chain[-1]
        if last.issuer == last.subject:
            break
        parent = next((c for c in pool if c.subject == last.issuer and c.issuer != c.subject), None)
        if parent is None:
            break
        chain.append(parent)
        pool.remove(parent)
    return tuple(chain)


# ---------------------------------------------------------------------------------------------
# Certificate signing requests (for a real CA), signed through the same key abstraction


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


_SHA256_ID = _seq(_oid("2.16.840.1.101.3.4.2.1"), b"\x05\x00")
#: AlgorithmIdentifier of each C2PA algorithm for the CSR's own signature.
_CSR_SIGNATURE_ALGORITHMS = {
    Algorithm.ES256: _seq(_oid("1.2.840.10045.4.3.2")),
    Algorithm.ES384: _seq(_oid("1.2.840.10045.4.3.3")),
    Algorithm.ED25519: _seq(_oid("1.3.101.112")),
    # RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32 (the PS256 of C2PA, so a token needs one mechanism)
    Algorithm.PS256: _seq(
        _oid("1.2.840.113549.1.1.10"),
        _seq(
            _der(0xA0, _SHA256_ID),
            _der(0xA1, _seq(_oid("1.2.840.113549.1.1.8"), _SHA256_ID)),
            _der(0xA2, _der(0x02, b"\x20")),
        ),
    ),
}


def request_extensions(*, email: str | None, document_signing: bool) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions a C2PA signing certificate needs, as (value, critical) pairs."""
    ekus = [EKU_EMAIL_PROTECTION] + ([EKU_DOCUMENT_SIGNING] if document_signing else [])
    out: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
        (x509.ExtendedKeyUsage(ekus), False),
    ]
    if email:
        out.append((x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
    return out


def request_subject(
    common_name: str, *, organization: str | None = None, country: str | None = None, email: str | None = None
) -> x509.Name:
    if not common_name.strip():
        raise UsageError("the subject (common name) is empty", hint="pass --subject 'Your Name'")
    if country is not None and (len(country) != 2 or not country.isascii() or not country.isalpha()):
        raise UsageError(f"country '{country}' is not a two-letter ISO 3166 code", hint="for example --country DE")
    if email is not None and ("@" not in email or email.startswith("@") or email.endswith("@") or " " in email):
        raise UsageError(f"'{email}' is not an email address", hint="for example --email jane@example.org")
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country.upper()))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def certificate_request(
    key: SigningKey,
    subject: x509.Name,
    *,
    email: str | None = None,
    document_signing: bool = False,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for a C2PA signing certificate, signed by ``key`` (software or token).

    Requested extensions: BasicConstraints ca=false and KeyUsage digitalSignature (both critical),
    ExtendedKeyUsage emailProtection (+ documentSigning), SubjectAltName email when given.
    The request is built here (not by cryptography) so that a key that never leaves its token
    can sign it; it is parsed back and its signature verified before it is returned.
    """
    public = public_key_of(key)
    algorithm = algorithm_for(public)
    extensions = _seq(
        *(
            _seq(_oid(value.oid.dotted_string), b"\x01\x01\xff" if critical else b"", _der(0x04, value.public_bytes()))
            for value, critical in request_extensions(email=email, document_signing=document_signing)
        )
    )
    attribute = _seq(_oid("1.2.840.113549.1.9.14"), _der(0x31, extensions))  # extensionRequest
    info = _seq(
        b"\x02\x01\x00",  # version 0
        subject.public_bytes(),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        _der(0xA0, attribute),
    )
    signature = sign_with(key, info, algorithm)
    der = _seq(info, _CSR_SIGNATURE_ALGORITHMS[algorithm], _der(0x03, b"\x00" + signature))
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
    except ValueError:
        valid = False
    if not valid:
        raise KeyMaterialError(
            "the key made a signature that does not verify under its own public key",
            hint="the key store returned a bad signature or a public key that is not this key's",
        )
    return csr


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``data``; an existing file is never replaced (a one-line error instead)."""
    try:
        _write_new(path, data, mode)
    except FileExistsError:
        raise UsageError(
            "already exists; refusing to overwrite", path=path, hint="choose another name or move it away"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.strerror}", path=path) from None


def new_private_key(algorithm: Algorithm) -> PrivateKey:
    """A fresh software key for ``algorithm`` (RSA: 3072 bits)."""
    return _new_key(algorithm)


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None) -> None:
    """Write ``key`` as PKCS#8 PEM, mode 0600, encrypted when ``passphrase`` is given; never overwrite."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    write_new_file(
        path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption), 0o600
    )


# ---------------------------------------------------------------------------------------------
# A trial signature by the engine itself


def engine_trial(material: SigningMaterial, *, path: str | Path | None = None) -> None:
    """Sign a tiny in-memory JPEG with the real engine and read it back; nothing is written to disk.

    Raises :class:`CertificateError` with the engine's own words when it refuses the material or the
    result does not validate (apart from trust, which depends on the reader's anchors).
    """
    import io

    from PIL import Image

    from rightsmark._version import __version__
    from rightsmark.engine import adapter as engine
    from rightsmark.engine.reading import TRUST_CODES, read_manifest_store
    from rightsmark.models import Integrity
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights, manifest_definition
    from rightsmark.sign.signer import engine_signer

    c2pa = engine.c2pa()
    image = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(image, "JPEG")
    definition = manifest_definition(
        Rights(consent=ConsentDeclaration.no_people()),
        title="rightsmark key check",
        generator=engine.GENERATOR,
        version=__version__,
        edit=False,
    )
    out = io.BytesIO()
    try:
        with (
            engine.signing_context() as context,
            engine_signer(material) as signer,
            c2pa.Builder.from_json(definition, context=context) as builder,
        ):
            builder.sign(signer, "image/jpeg", io.BytesIO(image.getvalue()), out)
    except c2pa.C2paError as exc:
        raise CertificateError(f"the C2PA engine refuses to sign with it: {exc}", path=path, hint=HINT_GET) from None
    with engine.reading_context(None) as context:
        reading = read_manifest_store(out.getvalue(), "key-check.jpg", context, anchors_given=False)
    failures = [c for c in reading.failure_codes if c not in TRUST_CODES]
    if failures or reading.integrity is not Integrity.VALID:
        raise CertificateError(
            "the C2PA engine signed a test image but does not accept the result: " + ", ".join(failures),
            path=path,
            hint=HINT_GET,
        )
