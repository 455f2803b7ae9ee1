"""A real PKCS#11 token for tests: SoftHSM2 (Debian's softhsm2 package) in a temporary directory.

:func:`make_token` writes a ``softhsm2.conf`` with its own token directory, initialises a token
with ``softhsm2-util``, generates keys ON the token (non-extractable, sensitive) with python-pkcs11,
issues their certificates from a test CA (root, intermediate) made with rightsmark's own
``keys._issue``, and stores the ``signer`` certificate and the intermediate on the token.

Token work runs in a child process (``python tests/softhsm.py COMMAND``): a python-pkcs11 ``lib``
object finalizes the module for its whole process when it is garbage collected, which would log
out the code under test sharing this process. The child is independent of rightsmark's code.

SoftHSM reads ``SOFTHSM2_CONF`` once per process, when the module is first initialised, so one
token serves a whole pytest session (:func:`session_token` backs a session-scoped fixture).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "rightsmark test"
PIN = "1234"
SO_PIN = "5678"

#: label -> (key type, size or curve, id byte, certificate stored on the token)
KEYS: dict[str, tuple[str, str, int, bool]] = {
    "signer": ("ec", "secp256r1", 1, True),
    "es384": ("ec", "secp384r1", 2, False),
    "ps256": ("rsa", "2048", 3, False),
    "ed25519": ("ed25519", "", 4, False),
    "nocert": ("ec", "secp256r1", 5, False),
    "other": ("ec", "secp256r1", 6, False),
}
#: label -> the rightsmark algorithm name its certificate signs with
ALGORITHMS = {"signer": "ES256", "es384": "ES384", "ps256": "PS256", "ed25519": "ED25519"}


def unavailable() -> str | None:
    """Why SoftHSM2 tests cannot run here, or None."""
    if not shutil.which("softhsm2-util"):
        return "softhsm2-util not found (apt-get install softhsm2)"
    if not Path(MODULE).is_file():
        return f"SoftHSM2 module {MODULE} not found"
    if importlib.util.find_spec("pkcs11") is None:
        return "python-pkcs11 not installed (pip install 'rightsmark[pkcs11]')"
    return None


@dataclass(frozen=True)
class SoftToken:
    """A SoftHSM2 token with keys on it, their certificate chains in files, and the test CA root."""

    directory: Path
    conf: Path
    ca: Path  # the root: trust anchor for verification
    chains: dict[str, Path]  # key label -> PEM: leaf, then intermediate
    public_keys: dict[str, bytes]  # key label -> SubjectPublicKeyInfo DER, as the token reports it
    issuer_key: Any = field(repr=False)  # the intermediate's private key (issues more leaves)
    issuer_cert: Any = field(repr=False)
    module: str = MODULE
    label: str = TOKEN
    pin: str = PIN

    def uri(self, obj: str = "signer", *, module: bool = True, **query: str) -> str:
        """``pkcs11:token=...;object=obj`` plus ``module-path`` and any other query attributes."""
        q = ({"module-path": self.module} if module else {}) | {k.replace("_", "-"): v for k, v in query.items()}
        tail = "&".join(f"{k}={v}" for k, v in q.items())
        return f"pkcs11:token={self.label.replace(' ', '%20')};object={obj}" + (f"?{tail}" if tail else "")

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def run(self, command: str, **args: Any) -> Any:
        """Run a token command in a child process (see :func:`_main`) and return its JSON answer."""
        return _child(self.conf, command, args)


def _child(conf: Path, command: str, args: dict[str, Any]) -> Any:
    proc = subprocess.run(
        [sys.executable, __file__, command, json.dumps(args)],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"softhsm helper {command} failed: {proc.stderr}")
    return json.loads(proc.stdout)


class _PublicOnly:
    """What ``keys._issue`` needs of the subject's key: its public half (the private one stays on the token)."""

    def __init__(self, public: Any) -> None:
        self._public = public

    def public_key(self) -> Any:
        return self._public


def make_token(directory: Path) -> SoftToken:
    """Create the token, its keys and certificates under ``directory`` (SOFTHSM2_CONF not touched)."""
    from cryptography.hazmat.primitives import serialization

    from rightsmark.keys.devca import _issue, _name, _new_key
    from rightsmark.models import Algorithm

    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    publics = {label: bytes.fromhex(h) for label, h in _child(conf, "generate", {"keys": KEYS}).items()}

    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    root_key = _new_key(Algorithm.ES256)
    root_name = _name("token test root", "token test CA")
    root = _issue(root_name, root_key, root_name, root_key, now, 3650, ca=True)
    inter_key = _new_key(Algorithm.ES256)
    inter_name = _name("token test intermediate", "token test CA")
    inter = _issue(inter_name, inter_key, root_name, root_key, now, 3000, ca=True, path_length=0)
    pem = serialization.Encoding.PEM
    ca = directory / "ca.pem"
    ca.write_bytes(root.public_bytes(pem))
    chains: dict[str, Path] = {}
    stored: list[dict[str, Any]] = []
    for label, spki in publics.items():
        public = serialization.load_der_public_key(spki)
        leaf = _issue(_name(f"token {label}", "token test CA"), _PublicOnly(public), inter_name, inter_key, now, 365,
                      ca=False)  # type: ignore[arg-type]  # fmt: skip
        chains[label] = directory / f"{label}.pem"
        chains[label].write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
        if KEYS[label][3]:
            der = leaf.public_bytes(serialization.Encoding.DER)
            stored.append(
                {"label": label, "id": KEYS[label][2], "der": der.hex(), "subject": leaf.subject.public_bytes().hex()}
            )
    inter_der = inter.public_bytes(serialization.Encoding.DER).hex()
    stored.append(
        {"label": "intermediate", "id": 0x99, "der": inter_der, "subject": inter.subject.public_bytes().hex()}
    )
    _child(conf, "store-certificates", {"certificates": stored})
    return SoftToken(directory, conf, ca, chains, publics, inter_key, inter)


def session_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftToken]:
    """Body of a session-scoped fixture: a SoftHSM2 token with SOFTHSM2_CONF set (for this process and its
    children) until the session ends; skips when SoftHSM2 or python-pkcs11 is missing."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    token = make_token(tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(token.conf))
        mp.delenv("RIGHTSMARK_PKCS11_PIN", raising=False)
        mp.delenv("RIGHTSMARK_PKCS11_MODULE", raising=False)
        yield token


# ---------------------------------------------------------------------------------------------
# The child process: python tests/softhsm.py COMMAND JSON (SOFTHSM2_CONF in its environment)


def _main(command: str, args: dict[str, Any]) -> Any:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
    from pkcs11.util.rsa import encode_rsa_public_key

    lib = pkcs11.lib(MODULE)
    token = lib.get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        if command == "generate":
            out = {}
            private = {Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True, Attribute.SIGN: True}
            for label, (kind, size, ident, _) in args["keys"].items():
                common = {"store": True, "label": label, "id": bytes([ident]), "private_template": private}
                if kind == "rsa":
                    pub, _priv = session.generate_keypair(KeyType.RSA, int(size), **common)
                    der = _rsa_spki(encode_rsa_public_key(pub))  # PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo
                elif kind == "ed25519":
                    params = {Attribute.EC_PARAMS: encode_named_curve_parameters("1.3.101.112")}
                    pub, _priv = session.generate_keypair(KeyType.EC_EDWARDS, public_template=params, **common)
                    point = bytes(pub[Attribute.EC_POINT])[2:]  # OCTET STRING of 32 bytes
                    der = bytes.fromhex("302a300506032b6570032100") + point
                else:
                    params = {Attribute.EC_PARAMS: encode_named_curve_parameters(size)}
                    pub, _priv = session.generate_keypair(KeyType.EC, public_template=params, **common)
                    der = encode_ec_public_key(pub)
                out[label] = bytes(der).hex()
            return out
        if command == "store-certificates":
            for cert in args["certificates"]:
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.CERTIFICATE,
                        Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                        Attribute.TOKEN: True,
                        Attribute.LABEL: cert["label"],
                        Attribute.ID: bytes([cert["id"]]),
                        Attribute.VALUE: bytes.fromhex(cert["der"]),
                        Attribute.SUBJECT: bytes.fromhex(cert["subject"]),
                    }
                )
            return {"stored": len(args["certificates"])}
        if command == "try-extract":
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=args["label"])
            report: dict[str, Any] = {
                "extractable": bool(key[Attribute.EXTRACTABLE]),
                "sensitive": bool(key[Attribute.SENSITIVE]),
                "never_extractable": bool(key[Attribute.NEVER_EXTRACTABLE]),
            }
            for name, attribute in (("value", Attribute.VALUE), ("private_value", Attribute.PRIVATE_EXPONENT)):
                try:
                    report[name] = bytes(key[attribute]).hex()
                except pkcs11.PKCS11Error as exc:
                    report[name] = f"refused: {type(exc).__name__}"
            try:
                key[Attribute.EXTRACTABLE] = True
                report["make_extractable"] = "allowed"
            except pkcs11.PKCS11Error as exc:
                report["make_extractable"] = f"refused: {type(exc).__name__}"
            try:
                wrapper = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
                report["wrap"] = bytes(wrapper.wrap_key(key)).hex()
            except pkcs11.PKCS11Error as exc:
                report["wrap"] = f"refused: {type(exc).__name__}"
            return report
    raise SystemExit(f"unknown command {command}")


def _rsa_spki(pkcs1: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (rsaEncryption, NULL parameters)."""

    def der(tag: int, body: bytes) -> bytes:
        n = len(body)
        if n < 0x80:
            return bytes([tag, n]) + body
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([tag, 0x80 | len(size)]) + size + body

    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    return der(0x30, algorithm + der(0x03, b"\x00" + pkcs1))


if __name__ == "__main__":
    print(json.dumps(_main(sys.argv[1], json.loads(sys.argv[2]))))
