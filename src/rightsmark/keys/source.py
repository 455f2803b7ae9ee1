"""Where a signing key lives: a PEM file, a PKCS#12 bundle, or a PKCS#11 token.

:func:`key_source` turns what the user typed (``--key`` and ``--cert``) into a :class:`KeySource`:
a small, frozen, picklable description holding the resolved passphrase or PIN. It opens nothing.
:meth:`KeySource.load` opens the key (a token session, in that process), reads the certificate
chain and runs every certificate check before returning :class:`~rightsmark.keys.material.SigningMaterial`.

A batch signer sends the KeySource to its worker processes; each calls ``load()`` once and signs
many files. ``load()`` is memoised per process, so loading in the parent to check the key first
costs nothing more when the parent signs too. A token key never leaves the token: the engine's
callback signer asks the token for each signature.

PKCS#11 keys are named by an RFC 7512 URI::

    pkcs11:token=Photo%20Key;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin

Path attributes: ``token``, ``object``, ``id``, ``type`` (must be ``private``), ``serial``,
``manufacturer``, ``model``, ``slot-id``; query attributes: ``module-path``, ``pin-source``
(``file:PATH``, ``env:VAR`` or a plain path) and ``pin-value``. The module comes from the URI,
else the ``pkcs11_module`` argument, else ``$RIGHTSMARK_PKCS11_MODULE``. The certificate comes
from ``cert`` or, when absent, from a certificate object on the token with the key's id or label
(with any intermediates stored on the token).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote_to_bytes

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rightsmark.errors import KeyMaterialError, PassphraseError, TokenError
from rightsmark.keys.material import (
    PASSPHRASE_HINT,
    PublicKey,
    SigningKey,
    SigningMaterial,
    check_key_type,
    checked_material,
    load_chain,
    load_private_key,
    order_chain,
    read_key_file,
)
from rightsmark.models import Algorithm

Kind = Literal["pem", "pkcs12", "pkcs11"]

MODULE_ENV = "RIGHTSMARK_PKCS11_MODULE"
PIN_HINT = (
    "set RIGHTSMARK_PKCS11_PIN, add pin-source=file:PATH to the URI, pass --passphrase-file or "
    "--passphrase-fd, or run on a terminal to be asked"
)
_MODULE_HINT = (
    "add module-path=... to the pkcs11: URI, pass --pkcs11-module, or set RIGHTSMARK_PKCS11_MODULE "
    "(for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
)


# ---------------------------------------------------------------------------------------------
# PKCS#11 URIs (RFC 7512)

_PATH_ATTRS = {
    *("token", "object", "id", "type", "serial", "manufacturer", "model", "slot-id"),
    *("library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer"),
}
_QUERY_ATTRS = {"module-path", "module-name", "pin-source", "pin-value"}


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of a ``pkcs11:`` URI rightsmark uses (values percent-decoded)."""

    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    slot_id: int | None = None
    module_path: str | None = None
    pin_source: str | None = None
    pin_value: bytes | None = field(default=None, repr=False)

    def __str__(self) -> str:
        """The URI again, without the PIN."""
        parts = []
        for name, value in (
            ("token", self.token),
            ("manufacturer", self.manufacturer),
            ("model", self.model),
            ("serial", self.serial),
            ("object", self.object),
        ):
            if value is not None:
                parts.append(f"{name}={quote(value, safe='')}")
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02X}" for b in self.id))
        if self.slot_id is not None:
            parts.append(f"slot-id={self.slot_id}")
        query = [f"module-path={quote(self.module_path, safe='/')}"] if self.module_path else []
        if self.pin_source:
            query.append(f"pin-source={quote(self.pin_source, safe='/:')}")
        return "pkcs11:" + ";".join(parts) + ("?" + "&".join(query) if query else "")

    def describe(self) -> str:
        where = f"token '{self.token}'" if self.token is not None else "the token"
        what = f"key '{self.object}'" if self.object is not None else "key"
        if self.id is not None:
            what += f" (id {self.id.hex()})"
        return f"{what} on {where}"


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI; anything malformed or unknown is a one-line :class:`TokenError`."""
    hint = "write it as pkcs11:token=NAME;object=LABEL (RFC 7512), percent-encoding special characters"
    if not text.startswith("pkcs11:"):
        raise TokenError(f"'{text}' is not a pkcs11: URI", hint=hint)
    path, _, query = text[len("pkcs11:") :].partition("?")
    values: dict[str, bytes] = {}
    for section, allowed, sep in ((path, _PATH_ATTRS, ";"), (query, _QUERY_ATTRS, "&")):
        for item in filter(None, section.split(sep)):
            name, eq, raw = item.partition("=")
            name = name.strip().lower()
            if not eq:
                raise TokenError(f"PKCS#11 URI attribute '{item}' has no value", hint=hint)
            if name not in allowed and not name.startswith("x-"):
                where = "path" if allowed is _PATH_ATTRS else "query"
                raise TokenError(f"unknown PKCS#11 URI {where} attribute '{name}'", hint=hint)
            if name in values:
                raise TokenError(f"PKCS#11 URI attribute '{name}' is given twice", hint=hint)
            values[name] = unquote_to_bytes(raw)

    def text_of(name: str) -> str | None:
        value = values.get(name)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenError(f"PKCS#11 URI attribute '{name}' is not UTF-8", hint=hint) from None

    kind = text_of("type")
    if kind is not None and kind != "private":
        raise TokenError(
            f"the PKCS#11 URI names a '{kind}' object; signing needs the private key",
            hint="use type=private or leave type out",
        )
    slot = text_of("slot-id")
    if slot is not None and not slot.isdigit():
        raise TokenError(f"PKCS#11 URI slot-id '{slot}' is not a number", hint=hint)
    if text_of("object") is None and values.get("id") is None:
        raise TokenError("the PKCS#11 URI names no key", hint="add object=LABEL (or id=%01...) to " + text)
    return Pkcs11Uri(
        token=text_of("token"),
        object=text_of("object"),
        id=values.get("id"),
        serial=text_of("serial"),
        manufacturer=text_of("manufacturer"),
        model=text_of("model"),
        slot_id=int(slot) if slot is not None else None,
        module_path=text_of("module-path"),
        pin_source=text_of("pin-source"),
        pin_value=values.get("pin-value"),
    )


def _pin_from_source(source: str) -> bytes:
    """The PIN named by a ``pin-source``: ``env:VAR``, ``file:PATH`` (or file:///PATH) or a plain path."""
    if source.startswith("env:"):
        var = source[4:]
        value = os.environ.get(var)
        if not value:
            raise PassphraseError(
                f"the PKCS#11 URI takes the PIN from ${var}, which is empty or unset", hint=f"export {var} first"
            )
        return value.encode()
    if source.startswith("|"):
        raise TokenError(
            "pin-source commands ('|program') are not run", hint="use pin-source=file:PATH or pin-source=env:VAR"
        )
    path = source.removeprefix("file://") if source.startswith("file://") else source.removeprefix("file:")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PassphraseError(f"cannot read the PIN file: {exc.strerror}", path=path) from None
    pin = data.rstrip(b"\r\n")
    if not pin:
        raise PassphraseError("the PIN file is empty", path=path)
    return pin


# ---------------------------------------------------------------------------------------------
# KeySource


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
            return _read_pkcs12(Path(self.location), self.secret).key
        return _open_token_key(self)

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
            bundle = _read_pkcs12(Path(self.location), self.secret)
            if self.cert is not None:
                return checked_material(bundle.key, load_chain(self.cert), path=self.cert)
            if bundle.chain is None:
                raise KeyMaterialError(
                    "the PKCS#12 bundle holds no certificate for its key",
                    path=self.location,
                    hint="pass --cert CHAIN.pem (leaf first)",
                )
            return checked_material(bundle.key, bundle.chain, path=self.location)
        token_key = _open_token_key(self)
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
            raise TokenError("no PKCS#11 module given for the token key", hint=_MODULE_HINT)
        secret = pin
        if secret is None:
            secret = uri.pin_value if uri.pin_value is not None else None
        if secret is None and uri.pin_source:
            secret = _pin_from_source(uri.pin_source)
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


# ---------------------------------------------------------------------------------------------
# PKCS#12


@dataclass(frozen=True)
class _Bundle:
    key: SigningKey
    chain: tuple[x509.Certificate, ...] | None


def _read_pkcs12(path: Path, passphrase: bytes | None) -> _Bundle:
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
    return _Bundle(key=key, chain=order_chain(leaf, certs) if leaf is not None else None)


# ---------------------------------------------------------------------------------------------
# PKCS#11 tokens

_lock = threading.Lock()
#: Loaded PKCS#11 modules per (path, process). Never dropped: a python-pkcs11 ``lib`` that is
#: garbage collected finalizes the module for the whole process. A forked child loads its own.
_MODULES: dict[tuple[str, int], Any] = {}


@dataclass
class _Login:
    """The logged-in session of one token in this process (login state is per process in PKCS#11)."""

    session: Any
    pin_digest: bytes | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False


_LOGINS: dict[tuple[str, int, int, str], _Login] = {}


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise TokenError(
            "PKCS#11 support is not installed", hint="pip install 'rightsmark[pkcs11]' (python-pkcs11)"
        ) from None
    return pkcs11


def _module(path: str) -> Any:
    pkcs11 = _pkcs11()
    key = (path, os.getpid())
    with _lock:
        lib = _MODULES.get(key)
        if lib is None:
            if not os.path.isfile(path):
                raise TokenError("no such PKCS#11 module", path=path, hint=_MODULE_HINT)
            try:
                lib = pkcs11.lib(path)
            except pkcs11.PKCS11Error as exc:
                raise TokenError(
                    f"cannot load the PKCS#11 module ({_reason(exc)})",
                    path=path,
                    hint="is it the token's PKCS#11 library (.so)? " + _MODULE_HINT,
                ) from None
            _MODULES[key] = lib
    return lib


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _find_token(lib: Any, uri: Pkcs11Uri, module: str) -> Any:
    pkcs11 = _pkcs11()
    from pkcs11 import TokenFlag

    present = []
    matches = []
    try:
        slots = lib.get_slots(token_present=True)
        for slot in slots:
            try:
                token = slot.get_token()
            except (pkcs11.exceptions.TokenNotPresent, pkcs11.exceptions.TokenNotRecognised):
                continue
            if not token.flags & TokenFlag.TOKEN_INITIALIZED:
                continue
            present.append(token.label)
            serial = token.serial.decode("ascii", "replace").strip() if isinstance(token.serial, bytes) else ""
            if (
                (uri.token is None or token.label == uri.token)
                and (uri.serial is None or serial == uri.serial)
                and (uri.manufacturer is None or token.manufacturer_id == uri.manufacturer)
                and (uri.model is None or token.model == uri.model)
                and (uri.slot_id is None or slot.slot_id == uri.slot_id)
            ):
                matches.append(token)
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot list the PKCS#11 tokens ({_reason(exc)})", path=module) from None
    wanted = f"token '{uri.token}'" if uri.token is not None else "the token named in the URI"
    if not matches:
        if present:
            hint = "tokens present: " + ", ".join(f"'{label}'" for label in present)
        else:
            hint = "no initialised token is present: plug it in, or check the module and SOFTHSM2_CONF"
        raise TokenError(f"no PKCS#11 {wanted} found", hint=hint)
    if len(matches) > 1:
        raise TokenError(
            f"more than one PKCS#11 token matches {wanted}", hint="add serial=... or slot-id=... to the URI"
        )
    return matches[0]


def _login(source: KeySource, lib: Any, token: Any) -> _Login:
    """The process's logged-in session for ``token``; the PIN is checked on every load."""
    pkcs11 = _pkcs11()
    from pkcs11 import TokenFlag

    exc_ = pkcs11.exceptions
    name = f"token '{token.label}'"
    flags = token.flags
    needs_pin = bool(flags & TokenFlag.LOGIN_REQUIRED)
    pin_pad = bool(flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH)
    if needs_pin and source.secret is None and not pin_pad:
        raise PassphraseError(f"{name} needs its PIN and none was given", hint=PIN_HINT)
    digest = hashlib.sha256(source.secret).digest() if source.secret is not None else None
    ident = (source.module or "", os.getpid(), int(token.slot.slot_id), token.label)
    with _lock:
        login = _LOGINS.get(ident)
        if login is not None:
            if needs_pin and digest is not None and login.pin_digest is not None and digest != login.pin_digest:
                raise PassphraseError(
                    f"wrong PIN for {name}", hint="check the PIN; tokens lock after a few wrong tries"
                )
            return login
        user_pin: Any = None
        if needs_pin:
            if source.secret is not None:
                try:
                    user_pin = source.secret.decode("utf-8")
                except UnicodeDecodeError:
                    raise PassphraseError(f"the PIN for {name} is not UTF-8 text") from None
            else:
                user_pin = pkcs11.PROTECTED_AUTH
        try:
            session = token.open(user_pin=user_pin)
        except exc_.UserAlreadyLoggedIn:
            # logged in already in this process (a fork inherits its parent's login): a plain session
            session = token.open()
        except (exc_.PinIncorrect, exc_.PinLenRange, exc_.PinInvalid):
            raise PassphraseError(
                f"wrong PIN for {name}", hint="check the PIN; tokens lock after a few wrong tries"
            ) from None
        except exc_.PinLocked:
            raise TokenError(
                f"the PIN of {name} is locked", hint="unlock it with the token's administration tool (SO PIN)"
            ) from None
        except exc_.PinExpired:
            raise TokenError(f"the PIN of {name} has expired", hint="set a new PIN with the token's tool") from None
        except pkcs11.PKCS11Error as exc:
            raise TokenError(f"cannot open {name} ({_reason(exc)})", hint="is the token still plugged in?") from None
        login = _Login(session=session, pin_digest=digest)
        _LOGINS[ident] = login
        return login


def close_token_sessions() -> None:
    """Close this process's token sessions (logging out); later loads log in again."""
    with _lock:
        logins = [v for k, v in _LOGINS.items() if k[1] == os.getpid()]
        for k in [k for k in _LOGINS if k[1] == os.getpid()]:
            del _LOGINS[k]
    for login in logins:
        login.closed = True
        try:
            login.session.close()
        except Exception:  # a token that is gone needs no goodbye
            pass


def _unwrap_octet_string(data: bytes) -> bytes:
    """EC_POINT values are DER OCTET STRINGs on most tokens, raw points on a few."""
    if len(data) >= 2 and data[0] == 0x04:
        n = data[1]
        if n < 0x80 and n == len(data) - 2:
            return data[2:]
        if n & 0x80:
            size = n & 0x7F
            if int.from_bytes(data[2 : 2 + size], "big") == len(data) - 2 - size:
                return data[2 + size :]
    return data


_CURVES: dict[bytes, ec.EllipticCurve] = {
    bytes.fromhex("06082a8648ce3d030107"): ec.SECP256R1(),
    bytes.fromhex("06052b81040022"): ec.SECP384R1(),
    bytes.fromhex("06052b81040023"): ec.SECP521R1(),
}
_ED25519_PARAMS = (bytes.fromhex("06032b6570"), bytes.fromhex("130c656477617264733235353139"))  # OID, "edwards25519"


def _public_from_object(obj: Any) -> PublicKey:
    """A cryptography public key from a token object's public attributes."""
    from pkcs11 import Attribute, KeyType

    kt = obj.key_type
    if kt == KeyType.RSA:
        n = int.from_bytes(obj[Attribute.MODULUS], "big")
        e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kt == KeyType.EC:
        params = bytes(obj[Attribute.EC_PARAMS])
        curve = _CURVES.get(params)
        if curve is None:
            raise KeyMaterialError(f"the token key is on an EC curve rightsmark does not know ({params.hex()})")
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, _unwrap_octet_string(bytes(obj[Attribute.EC_POINT])))
    if kt == KeyType.EC_EDWARDS:
        params = bytes(obj[Attribute.EC_PARAMS])
        if params not in _ED25519_PARAMS:
            raise KeyMaterialError("the token key is an Edwards key other than Ed25519 (Ed448 cannot sign C2PA)")
        return ed25519.Ed25519PublicKey.from_public_bytes(_unwrap_octet_string(bytes(obj[Attribute.EC_POINT])))
    raise KeyMaterialError(f"the token key is of type {getattr(kt, 'name', kt)}, which cannot sign C2PA manifests")


class TokenKey:
    """A private key on a PKCS#11 token (an :class:`~rightsmark.keys.material.ExternalKey`); it never leaves it.

    ES256/ES384 sign with CKM_ECDSA over a SHA-256/384 digest computed here (the token returns raw
    r||s, made DER here); PS256 with CKM_SHA256_RSA_PKCS_PSS (MGF1-SHA256, salt 32), else
    CKM_RSA_PKCS_PSS over a digest; Ed25519 with CKM_EDDSA. Not picklable: one per process.
    """

    def __init__(self, source: KeySource, login: _Login, key: Any, label: str) -> None:
        self._source = source
        self._login = login
        self._key = key
        self._label = label
        self._closed = False

    @property
    def closed(self) -> bool:
        """Closed by :meth:`close`, or its session by :func:`close_token_sessions`."""
        return self._closed or self._login.closed

    def describe(self) -> str:
        return self._source.describe()

    def close(self) -> None:
        """Forget the key (the process's token session stays open for other loads: close_token_sessions)."""
        self._closed = True

    def _objects(self, object_class: Any) -> list[Any]:
        from pkcs11 import Attribute

        key_id = _attr(self._key, Attribute.ID)
        session = self._login.session
        with self._login.lock:
            if key_id:
                found = list(session.get_objects({Attribute.CLASS: object_class, Attribute.ID: key_id}))
                if found:
                    return found
            return list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: self._label}))

    def public_key(self) -> PublicKey:
        from pkcs11 import Attribute, KeyType, ObjectClass

        if self._key.key_type == KeyType.RSA and _attr(self._key, Attribute.MODULUS):
            return _public_from_object(self._key)
        publics = self._objects(ObjectClass.PUBLIC_KEY)
        if publics:
            return _public_from_object(publics[0])
        certs = self._token_certificates(mine_only=True)
        if certs:
            public = certs[0].public_key()
            if isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
                return public
        raise KeyMaterialError(
            f"the token holds no public key or certificate for {self.describe()}",
            hint="store the public key or the certificate on the token with the key's id",
        )

    def _token_certificates(self, *, mine_only: bool) -> list[x509.Certificate]:
        from pkcs11 import Attribute, ObjectClass

        objects = self._objects(ObjectClass.CERTIFICATE) if mine_only else self._all(ObjectClass.CERTIFICATE)
        out = []
        for obj in objects:
            try:
                out.append(x509.load_der_x509_certificate(bytes(obj[Attribute.VALUE])))
            except ValueError:
                continue
        return out

    def _all(self, object_class: Any) -> list[Any]:
        from pkcs11 import Attribute

        with self._login.lock:
            return list(self._login.session.get_objects({Attribute.CLASS: object_class}))

    def chain_from_token(self) -> list[x509.Certificate]:
        """The key's certificate from the token (same id, else same label), then any issuers stored there."""
        mine = self._token_certificates(mine_only=True)
        if not mine:
            raise KeyMaterialError(
                f"no certificate was given and the token holds none for {self.describe()}",
                path=self._source.location,
                hint="pass --cert CHAIN.pem, or store the certificate on the token with the key's id or label",
            )
        return list(order_chain(mine[0], self._token_certificates(mine_only=False)))

    def sign(self, data: bytes, algorithm: Algorithm) -> bytes:
        if self.closed:
            raise TokenError(f"{self.describe()}: the key was closed", hint="load the key source again")
        pkcs11 = _pkcs11()
        from pkcs11 import MGF, Mechanism

        try:
            with self._login.lock:
                if algorithm in (Algorithm.ES256, Algorithm.ES384):
                    digest = (hashlib.sha384 if algorithm is Algorithm.ES384 else hashlib.sha256)(data).digest()
                    raw = self._key.sign(digest, mechanism=Mechanism.ECDSA)
                    half = len(raw) // 2
                    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
                if algorithm is Algorithm.PS256:
                    params = (Mechanism.SHA256, MGF.SHA256, 32)
                    try:
                        return bytes(
                            self._key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=params)
                        )
                    except pkcs11.exceptions.MechanismInvalid:
                        digest = hashlib.sha256(data).digest()
                        return bytes(self._key.sign(digest, mechanism=Mechanism.RSA_PKCS_PSS, mechanism_param=params))
                return bytes(self._key.sign(data, mechanism=Mechanism.EDDSA))
        except pkcs11.PKCS11Error as exc:
            raise TokenError(
                f"{self.describe()}: the token refused to sign with {algorithm.name} ({_reason(exc)})",
                hint="does the token support this key type and mechanism? is it still plugged in?",
            ) from None


def _attr(obj: Any, attribute: Any) -> Any:
    try:
        return obj[attribute]
    except Exception:
        return None


def _open_token_key(source: KeySource) -> TokenKey:
    """Log in (once per process) and find the private key the URI names."""
    assert source.uri is not None and source.module is not None
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, ObjectClass

    uri = source.uri
    lib = _module(source.module)
    token = _find_token(lib, uri, source.module)
    login = _login(source, lib, token)
    template: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if uri.object is not None:
        template[Attribute.LABEL] = uri.object
    if uri.id is not None:
        template[Attribute.ID] = uri.id
    try:
        with login.lock:
            keys = list(login.session.get_objects(template))
            labels = []
            if not keys:
                every = login.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
                labels = sorted({str(_attr(k, Attribute.LABEL)) for k in every})
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot search token '{token.label}' ({_reason(exc)})") from None
    if not keys:
        raise TokenError(
            f"token '{token.label}' holds no private key {_named(uri)}",
            hint=("private keys on it: " + ", ".join(f"'{x}'" for x in labels))
            if labels
            else "it holds no private key",
        )
    if len(keys) > 1:
        raise TokenError(
            f"token '{token.label}' holds {len(keys)} private keys {_named(uri)}", hint="add id=... to the URI"
        )
    label = _attr(keys[0], Attribute.LABEL) or uri.object or ""
    return TokenKey(source, login, keys[0], str(label))


def _named(uri: Pkcs11Uri) -> str:
    parts = []
    if uri.object is not None:
        parts.append(f"labelled '{uri.object}'")
    if uri.id is not None:
        parts.append(f"with id {uri.id.hex()}")
    return " ".join(parts)
