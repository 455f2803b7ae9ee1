"""PKCS#11 URIs (RFC 7512) naming a key on a token, and the PIN sources they may carry.

The parser is written here because no maintained Python library parses RFC 7512 URIs; it accepts
the attributes rightsmark uses and refuses anything malformed or unknown with a one-line error::

    pkcs11:token=Photo%20Key;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin

Path attributes: ``token``, ``object``, ``id``, ``type`` (must be ``private``), ``serial``,
``manufacturer``, ``model``, ``slot-id``; query attributes: ``module-path``, ``pin-source``
(``file:PATH``, ``env:VAR`` or a plain path) and ``pin-value``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from rightsmark.errors import PassphraseError, TokenError

MODULE_ENV = "RIGHTSMARK_PKCS11_MODULE"
PIN_HINT = (
    "set RIGHTSMARK_PKCS11_PIN, add pin-source=file:PATH to the URI, pass --passphrase-file or "
    "--passphrase-fd, or run on a terminal to be asked"
)
MODULE_HINT = (
    "add module-path=... to the pkcs11: URI, pass --pkcs11-module, or set RIGHTSMARK_PKCS11_MODULE "
    "(for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
)


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


def pin_from_source(source: str) -> bytes:
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
