"""Keys on PKCS#11 tokens: loading the module, finding the token, logging in once per process, and
:class:`TokenKey`, which signs on the token (the private key never leaves it).

python-pkcs11 is imported only when a token key is used (``rightsmark[pkcs11]``). The URI naming the
key is parsed by :mod:`rightsmark.keys.pkcs11uri`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rightsmark.errors import KeyMaterialError, PassphraseError, TokenError
from rightsmark.keys.algorithms import PublicKey
from rightsmark.keys.material import order_chain
from rightsmark.keys.pkcs11uri import MODULE_HINT, PIN_HINT, Pkcs11Uri
from rightsmark.models import Algorithm

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
                raise TokenError("no such PKCS#11 module", path=path, hint=MODULE_HINT)
            try:
                lib = pkcs11.lib(path)
            except pkcs11.PKCS11Error as exc:
                raise TokenError(
                    f"cannot load the PKCS#11 module ({_reason(exc)})",
                    path=path,
                    hint="is it the token's PKCS#11 library (.so)? " + MODULE_HINT,
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


def _login(module: str, pin: bytes | None, token: Any) -> _Login:
    """The process's logged-in session for ``token``; the PIN is checked on every load."""
    pkcs11 = _pkcs11()
    from pkcs11 import TokenFlag

    exc_ = pkcs11.exceptions
    name = f"token '{token.label}'"
    flags = token.flags
    needs_pin = bool(flags & TokenFlag.LOGIN_REQUIRED)
    pin_pad = bool(flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH)
    if needs_pin and pin is None and not pin_pad:
        raise PassphraseError(f"{name} needs its PIN and none was given", hint=PIN_HINT)
    digest = hashlib.sha256(pin).digest() if pin is not None else None
    ident = (module, os.getpid(), int(token.slot.slot_id), token.label)
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
            if pin is not None:
                try:
                    user_pin = pin.decode("utf-8")
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
    """A private key on a PKCS#11 token (an :class:`~rightsmark.keys.algorithms.ExternalKey`); it never leaves it.

    ES256/ES384 sign with CKM_ECDSA over a SHA-256/384 digest computed here (the token returns raw
    r||s, made DER here); PS256 with CKM_SHA256_RSA_PKCS_PSS (MGF1-SHA256, salt 32), else
    CKM_RSA_PKCS_PSS over a digest; Ed25519 with CKM_EDDSA. Not picklable: one per process.
    """

    def __init__(self, uri: Pkcs11Uri, location: str, login: _Login, key: Any, label: str) -> None:
        self._uri = uri
        self._location = location
        self._login = login
        self._key = key
        self._label = label
        self._closed = False

    @property
    def closed(self) -> bool:
        """Closed by :meth:`close`, or its session by :func:`close_token_sessions`."""
        return self._closed or self._login.closed

    def describe(self) -> str:
        return self._uri.describe()

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
                path=self._location,
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


def open_token_key(uri: Pkcs11Uri, module: str, pin: bytes | None, location: str) -> TokenKey:
    """Log in (once per process) and find the private key the URI names.

    ``pin``: the user PIN (None for a token without login or with a PIN pad); ``location``: the key as
    errors name it (the URI without module and PIN).
    """
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, ObjectClass

    lib = _module(module)
    token = _find_token(lib, uri, module)
    login = _login(module, pin, token)
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
    return TokenKey(uri, location, login, keys[0], str(label))


def _named(uri: Pkcs11Uri) -> str:
    parts = []
    if uri.object is not None:
        parts.append(f"labelled '{uri.object}'")
    if uri.id is not None:
        parts.append(f"with id {uri.id.hex()}")
    return " ".join(parts)
