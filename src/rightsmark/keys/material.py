"""Signing material: a private key with its certificate chain, loaded from PEM files and checked.

:class:`SigningMaterial` hides whether the key is a software key or a key in a token: its
:meth:`~SigningMaterial.sign` is the engine's callback signer for both. Every way of loading
(:func:`load_signing_material`, :func:`checked_material`) runs the certificate rules of
:mod:`rightsmark.keys.checks` first; where else a key lives is :mod:`rightsmark.keys.source`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from rightsmark.errors import KeyMaterialError, PassphraseError, TrustError
from rightsmark.keys.algorithms import SOFTWARE_KEYS, PrivateKey, SigningKey, algorithm_for, sign_with
from rightsmark.keys.checks import check_signing_certificate
from rightsmark.models import Algorithm


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
