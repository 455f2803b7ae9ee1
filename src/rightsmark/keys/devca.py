"""New keys and the development CA: ``rightsmark keys init`` and the key files ``keys csr --new-key`` writes.

:func:`init_keys` makes a root, an intermediate and a C2PA signing certificate shaped as validators
require; nobody else trusts that CA, so it is for development only. Key files are created, never
overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from rightsmark.errors import KeyMaterialError, PassphraseError, UsageError
from rightsmark.keys.algorithms import PrivateKey
from rightsmark.keys.ekus import EKU_EMAIL_PROTECTION
from rightsmark.models import Algorithm

EXAMPLE_MARK = "EXAMPLE KEY - proves nothing about anyone"


@dataclass(frozen=True)
class KeyFiles:
    """Where :func:`init_keys` wrote its files."""

    ca: Path
    chain: Path
    key: Path


def _key_files(directory: Path) -> KeyFiles:
    return KeyFiles(ca=directory / "ca.pem", chain=directory / "signer.pem", key=directory / "signer.key")


def existing_keys(directory: Path) -> KeyFiles | None:
    """The development keys :func:`init_keys` wrote into ``directory``, loaded and checked; None when
    there are none. An encrypted key is taken as it is (its passphrase is asked when signing)."""
    from rightsmark.keys.material import load_signing_material

    files = _key_files(directory)
    if not all(p.exists() for p in (files.ca, files.chain, files.key)):
        return None
    try:
        load_signing_material(files.key, files.chain)
    except PassphraseError:
        pass
    return files


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
    files = _key_files(out)
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
