"""Keys and certificates: a development CA, loading signing material, and checking it.

The C2PA engine is strict about signing certificates and its refusal is a bare
``the certificate is invalid``. :func:`check_signing_certificate` runs the same
rules first (see docs in ``C2PA_ENGINE_NOTES``) so the user hears what is wrong
and how to fix it before any file is touched.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from rightsmark.errors import CertificateError, KeyMaterialError, PassphraseError, TrustError
from rightsmark.models import Algorithm

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: Extended key usages a C2PA claim signer may carry (C2PA 2.x, section 14.5.1).
EKU_EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EKU_C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
EKU_MS_C2PA_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
SIGNING_EKUS = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING, EKU_C2PA_CLAIM_SIGNING, EKU_MS_C2PA_SIGNING)

EXAMPLE_MARK = "EXAMPLE KEY - proves nothing about anyone"


@dataclass(frozen=True)
class KeyFiles:
    """Where :func:`init_keys` wrote its files."""

    ca: Path
    chain: Path
    key: Path


@dataclass(frozen=True)
class SigningMaterial:
    """A private key with its certificate chain (leaf first), ready to sign."""

    key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    algorithm: Algorithm

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in self.chain)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` as the C2PA engine's callback signer expects for :attr:`algorithm`."""
        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            digest: hashes.HashAlgorithm = hashes.SHA384() if self.algorithm is Algorithm.ES384 else hashes.SHA256()
            return key.sign(data, ec.ECDSA(digest))  # DER; the engine converts it
        return key.sign(
            data,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )


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
    root_key = _new_key(algorithm)
    root_name = _name(f"{organization} root", organization, unit)
    root = _issue(root_name, root_key, root_name, root_key, now, leaf_days + 3650, ca=True)
    inter_key = _new_key(algorithm)
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
    from rightsmark.pem import read_pem_file

    p = Path(path)
    data = read_pem_file(p)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise TrustError("holds no PEM certificate", path=p, hint="expected '-----BEGIN CERTIFICATE-----' blocks")
    return certs


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise KeyMaterialError(
            "no such key file", path=p, hint="check --key, or create keys with 'rightsmark keys init DIR'"
        ) from None
    except IsADirectoryError:
        raise KeyMaterialError("is a directory, not a key file", path=p, hint="name the .key file itself") from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key: {exc.strerror}", path=p) from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise PassphraseError(
                "the private key is encrypted and no passphrase was given",
                path=p,
                hint="set RIGHTSMARK_KEY_PASSPHRASE or pass --passphrase-file",
            ) from None
        raise PassphraseError("a passphrase was given but the key is not encrypted", path=p) from None
    except ValueError as exc:
        if passphrase is not None and ("decrypt" in str(exc).lower() or "password" in str(exc).lower()):
            raise PassphraseError("wrong passphrase for the private key", path=p, hint="check the passphrase") from None
        raise KeyMaterialError(
            "is not a PEM private key", path=p, hint="expected '-----BEGIN PRIVATE KEY-----'"
        ) from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyMaterialError(
            f"unsupported key type {type(key).__name__}", path=p, hint="use an EC P-256/P-384, RSA or Ed25519 key"
        )
    return key


def _algorithm_for(key: PrivateKey, path: Path) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Algorithm.ED25519
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CertificateError(
                f"RSA key of {key.key_size} bits is too short", path=path, hint="C2PA needs RSA 2048 bits or more"
            )
        return Algorithm.PS256
    if isinstance(key.curve, ec.SECP256R1):
        return Algorithm.ES256
    if isinstance(key.curve, ec.SECP384R1):
        return Algorithm.ES384
    raise CertificateError(f"EC curve {key.curve.name} is not allowed by C2PA", path=path, hint="use P-256 or P-384")


def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined,no-any-return]


def check_signing_certificate(
    chain: Sequence[x509.Certificate],
    key: PrivateKey | None,
    *,
    path: str | Path,
    at: dt.datetime | None = None,
) -> None:
    """Raise :class:`CertificateError` if the engine (or a C2PA validator) would refuse this chain."""
    now = at or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    hint_new = "create a suitable certificate with 'rightsmark keys init DIR'"
    if key is not None and _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise CertificateError(
            "the private key does not match the certificate",
            path=path,
            hint="pass the key that belongs to this certificate",
        )
    if leaf.not_valid_after_utc < now:
        raise CertificateError(
            f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}", path=path, hint="renew it or " + hint_new
        )
    if leaf.not_valid_before_utc > now:
        raise CertificateError(f"certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}", path=path)
    ext = leaf.extensions
    try:
        if ext.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CertificateError(
                "the certificate is a CA certificate, not a signing certificate", path=path, hint=hint_new
            )
    except x509.ExtensionNotFound:
        pass
    try:
        ku = ext.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise CertificateError("key usage lacks digitalSignature", path=path, hint=hint_new)
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no key usage extension", path=path, hint=hint_new) from None
    try:
        ekus = set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        raise CertificateError(
            "the certificate has no extended key usage; C2PA needs emailProtection or documentSigning",
            path=path,
            hint=hint_new,
        ) from None
    if not ekus & set(SIGNING_EKUS):
        raise CertificateError(
            "the certificate's extended key usage does not allow C2PA signing"
            " (needs emailProtection, documentSigning or C2PA claim signing)",
            path=path,
            hint=hint_new,
        )
    try:
        ext.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        if leaf.issuer != leaf.subject:
            raise CertificateError(
                "the certificate has no authority key identifier", path=path, hint=hint_new
            ) from None
    for e in ext:
        if e.critical and not isinstance(e.value, (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage)):
            raise CertificateError(
                f"the certificate has an unsupported critical extension {e.oid.dotted_string}", path=path, hint=hint_new
            )
    for child, parent in itertools.pairwise(chain):
        if child.issuer != parent.subject:
            raise CertificateError(
                "the chain is out of order: each certificate must be followed by its issuer, leaf first", path=path
            )


def load_signing_material(
    key_path: str | Path, cert_path: str | Path, passphrase: bytes | None = None
) -> SigningMaterial:
    """Load and check a key and its certificate chain; every problem is a typed error."""
    try:
        chain = load_certificates(cert_path)
    except TrustError as exc:
        raise KeyMaterialError(exc.message, path=exc.path, hint=exc.hint) from None
    key = load_private_key(key_path, passphrase)
    algorithm = _algorithm_for(key, Path(key_path))
    check_signing_certificate(chain, key, path=cert_path)
    return SigningMaterial(key=key, chain=tuple(chain), algorithm=algorithm)
