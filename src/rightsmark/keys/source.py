"""Where a signing key lives: a PEM file, a PKCS#12 bundle, or a PKCS#11 token.

:func:`key_source` turns what the user typed (``--key`` and ``--cert``) into a :class:`KeySource`:
a small, frozen, picklable description holding the resolved passphrase or PIN. It opens nothing.
:meth:`KeySource.load` opens the key (a token session, in that process), reads the certificate
chain and runs every certificate check before returning :class:`~rightsmark.keys.material.SigningMaterial`.

A batch signer sends the KeySource to its worker processes; each calls ``load()`` once and signs
many files. ``load()`` is memoised per process, so loading in the parent to check the key first
costs nothing more when the parent signs too. A token key never leaves the token: the engine's
callback signer asks the token for each signature.

PKCS#11 keys are named by an RFC 7512 URI (:mod:`rightsmark.keys.pkcs11uri`)::

    pkcs11:token=Photo%20Key;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin

The module comes from the URI, else the ``pkcs11_module`` argument, else ``$RIGHTSMARK_PKCS11_MODULE``.
The certificate comes from ``cert`` or, when absent, from a certificate object on the token with the
key's id or label (with any intermediates stored on the token).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from rightsmark.errors import KeyMaterialError, TokenError
from rightsmark.keys.algorithms import SigningKey
from rightsmark.keys.material import SigningMaterial, checked_material, load_chain, load_private_key
from rightsmark.keys.pkcs11 import TokenKey, open_token_key
from rightsmark.keys.pkcs11uri import MODULE_ENV, MODULE_HINT, Pkcs11Uri, parse_pkcs11_uri, pin_from_source
from rightsmark.keys.pkcs12 import read_pkcs12

Kind = Literal["pem", "pkcs12", "pkcs11"]


@dataclass(frozen=True)
class KeySource:
    """Where a signing key lives, with its resolved passphrase or PIN; picklable, opens nothing.

    ``kind``: ``pem`` (a PEM private key file), ``pkcs12`` (a .p12/.pfx bundle) or ``pkcs11``
    (a key on a token). ``location``: the key file, the bundle, or the ``pkcs11:`` URI (without
    any PIN). ``secret``: the passphrase (pem, pkcs12) or PIN (pkcs11), or None.
    """

    kind: Kind
    location: str
    cert: Path | None = None
    secret: bytes | None = field(default=None, repr=False)
    module: str | None = None
    uri: Pkcs11Uri | None = field(default=None, repr=False)
    _loaded: dict[int, SigningMaterial] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    # -- pickling: the memoised material (token sessions, keys) never leaves its process

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_loaded"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @property
    def is_token(self) -> bool:
        return self.kind == "pkcs11"

    @property
    def secret_name(self) -> str:
        """What the secret is called to the user: ``PIN`` or ``passphrase``."""
        return "PIN" if self.kind == "pkcs11" else "passphrase"

    def with_secret(self, secret: bytes | None) -> KeySource:
        """The same source with another passphrase or PIN (nothing loaded yet)."""
        return replace(self, secret=secret)

    def describe(self) -> str:
        """The key for a person: 'key file signer.key', "key 'signer' on token 'Photo Key'"."""
        if self.kind == "pkcs11":
            assert self.uri is not None
            return self.uri.describe()
        if self.kind == "pkcs12":
            return f"PKCS#12 bundle {self.location}"
        return f"key file {self.location}"

    def load(self) -> SigningMaterial:
        """Open the key, read its chain and run every certificate check (memoised per process).

        Missing passphrase or PIN: :class:`PassphraseError` (the caller may ask for it and retry
        with :meth:`with_secret`); wrong one: :class:`PassphraseError` too; token, module or object
        not found: :class:`TokenError`; a certificate the engine would refuse: :class:`CertificateError`.
        """
        pid = os.getpid()
        material = self._loaded.get(pid)
        if material is not None and not _closed(material):
            return material
        material = self._load()
        self._loaded.clear()
        self._loaded[pid] = material
        return material

    def load_key(self) -> SigningKey:
        """Only the private key (software, or a handle on the token): for a certificate request."""
        if self.kind == "pem":
            return load_private_key(self.location, self.secret)
        if self.kind == "pkcs12":
            return read_pkcs12(Path(self.location), self.secret).key
        return self._open_token_key()

    def _open_token_key(self) -> TokenKey:
        assert self.uri is not None and self.module is not None
        return open_token_key(self.uri, self.module, self.secret, self.location)

    def _load(self) -> SigningMaterial:
        if self.kind == "pem":
            key = load_private_key(self.location, self.secret)
            if self.cert is not None:
                return checked_material(key, load_chain(self.cert), path=self.cert)
            try:
                chain = x509.load_pem_x509_certificates(Path(self.location).read_bytes())
            except (OSError, ValueError):
                chain = []
            if not chain:
                raise KeyMaterialError(
                    "a PEM key needs its certificate chain",
                    path=self.location,
                    hint="pass --cert CHAIN.pem (leaf first)",
                )
            return checked_material(key, chain, path=self.location)
        if self.kind == "pkcs12":
            bundle = read_pkcs12(Path(self.location), self.secret)
            if self.cert is not None:
                return checked_material(bundle.key, load_chain(self.cert), path=self.cert)
            if bundle.chain is None:
                raise KeyMaterialError(
                    "the PKCS#12 bundle holds no certificate for its key",
                    path=self.location,
                    hint="pass --cert CHAIN.pem (leaf first)",
                )
            return checked_material(bundle.key, bundle.chain, path=self.location)
        token_key = self._open_token_key()
        try:
            if self.cert is not None:
                return checked_material(token_key, load_chain(self.cert), path=self.cert)
            return checked_material(token_key, token_key.chain_from_token(), path=self.location)
        except BaseException:
            token_key.close()
            raise


def _closed(material: SigningMaterial) -> bool:
    return bool(getattr(material.key, "closed", False))


def _looks_like_pkcs12(path: Path) -> bool:
    if path.suffix.lower() in (".p12", ".pfx"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head[:1] == b"\x30" and b"-----BEGIN" not in head


def key_source(
    key: str | Path,
    cert: str | Path | None = None,
    *,
    passphrase: bytes | None = None,
    pin: bytes | None = None,
    pkcs11_module: str | None = None,
) -> KeySource:
    """Describe where ``key`` lives (see the module docstring); reads only what it must to tell.

    ``passphrase`` is for PEM and PKCS#12 keys, ``pin`` for token keys (else the URI's
    ``pin-value`` or ``pin-source``, read now so that the source carries it to other processes).
    """
    text = str(key)
    cert_path = Path(cert) if cert is not None and str(cert) != "" else None
    if text.startswith("pkcs11:"):
        uri = parse_pkcs11_uri(text)
        module = uri.module_path or pkcs11_module or os.environ.get(MODULE_ENV) or None
        if not module:
            raise TokenError("no PKCS#11 module given for the token key", hint=MODULE_HINT)
        secret = pin
        if secret is None:
            secret = uri.pin_value if uri.pin_value is not None else None
        if secret is None and uri.pin_source:
            secret = pin_from_source(uri.pin_source)
        return KeySource(
            kind="pkcs11",
            location=str(replace(uri, module_path=None)),
            cert=cert_path,
            secret=secret,
            module=module,
            uri=replace(uri, pin_value=None),
        )
    if not text:
        raise KeyMaterialError("no key given", hint="pass --key KEY.pem, a .p12 bundle or a pkcs11: URI")
    path = Path(text)
    kind: Kind = "pkcs12" if _looks_like_pkcs12(path) else "pem"
    return KeySource(kind=kind, location=str(path), cert=cert_path, secret=passphrase)
