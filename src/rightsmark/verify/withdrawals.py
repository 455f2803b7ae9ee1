"""Withdrawn consent: signed lists of the consent records people have taken back.

A withdrawal list (``schemas/withdrawals.schema.json``) names withdrawn consent records by the
``release_id`` the consent assertion carries, each with the time it was withdrawn. It is
published by the party that holds the model releases (the consent assertion records where, in
``withdrawal_url``) and signed by that party with a detached signature stored beside it as
``LIST.sig`` (``schemas/detached-signature.schema.json``)::

    {"format": "rightsmark-detached-signature", "version": 1, "algorithm": "ES256",
     "chain": ["-----BEGIN CERTIFICATE-----...", ...], "signature": "<base64>"}

The signature covers the exact bytes of the list file; ``chain`` is the signer's certificate
chain, leaf first. Nothing is fetched: verifiers and auditors pass a local copy of the list and
its signature, and :func:`load_withdrawals` refuses (with :class:`WithdrawalListError`, exit
code 2) any list that is unreadable, malformed, unsigned, edited after signing, or signed by
someone the trust anchors do not vouch for: a list that cannot be trusted must stop the run,
never be silently ignored. Creating and extending a list is :mod:`rightsmark.verify.withdraw`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark import schemas
from rightsmark.errors import RightsmarkError
from rightsmark.files import parse_document
from rightsmark.rights.consent import parse_time

if TYPE_CHECKING:
    from cryptography import x509

    from rightsmark.keys.material import SigningMaterial

LIST_VERSION = 1
SIGNATURE_FORMAT = "rightsmark-detached-signature"
SIGNATURE_VERSION = 1
SIGNATURE_SUFFIX = ".sig"

SCHEMA_HINT = "see schemas/withdrawals.schema.json"
_HINT_UNSIGNED = "a withdrawal list is only trusted with its detached signature; get the .sig published with it"


class WithdrawalListError(RightsmarkError):
    """A withdrawal list is unreadable, malformed, unsigned, wrongly signed or not trusted."""

    exit_code = 2


@dataclass(frozen=True)
class Withdrawal:
    """One withdrawn consent record."""

    release_id: str
    withdrawn_at: str
    reason: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"release_id": self.release_id, "withdrawn_at": self.withdrawn_at}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class WithdrawalList:
    """The content of a withdrawal list file."""

    issuer: str
    updated: str
    entries: tuple[Withdrawal, ...] = ()
    #: the release ids the call that produced this list added (only set by
    #: :func:`~rightsmark.verify.withdraw.create_or_extend`)
    added: tuple[str, ...] = field(default=(), compare=False)

    @property
    def withdrawn(self) -> dict[str, str]:
        """release_id -> withdrawn_at."""
        return {e.release_id: e.withdrawn_at for e in self.entries}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": LIST_VERSION,
            "issuer": self.issuer,
            "updated": self.updated,
            "withdrawn": [e.to_dict() for e in self.entries],
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class SignedList:
    """A withdrawal list whose signature verified, with who signed it."""

    path: Path
    sha256: str
    signer: str
    content: WithdrawalList

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "signer": self.signer,
            "entries": len(self.content.entries),
        }


@dataclass(frozen=True)
class Loaded:
    """Every withdrawal list given, verified, and merged."""

    lists: tuple[SignedList, ...] = ()
    #: release_id -> withdrawn_at (the earliest, when several lists name the same release)
    withdrawn: dict[str, str] = field(default_factory=dict)

    def describe(self) -> list[dict[str, Any]]:
        """What was used, for reports: path, sha256 of the list, signer common name, number of entries."""
        return [s.describe() for s in self.lists]


def signature_path(list_path: str | Path) -> Path:
    """Where the detached signature of ``list_path`` lives: beside it, ``LIST.sig``."""
    p = Path(list_path)
    return p.with_name(p.name + SIGNATURE_SUFFIX)


def format_time(when: dt.datetime) -> str:
    """RFC 3339 in UTC to the second, ``Z`` suffix (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Reading a list


def read_file(path: Path, what: str) -> bytes:
    """The bytes of ``path`` (a list or its signature, named by ``what``); :class:`WithdrawalListError`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise WithdrawalListError(f"no such {what}", path=path, hint="check --withdrawals") from None
    except IsADirectoryError:
        raise WithdrawalListError(f"is a directory, not a {what}", path=path, hint="name the file itself") from None
    except OSError as exc:
        raise WithdrawalListError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None


def first_problem(problems: list[str]) -> str:
    """The first schema problem, and how many more there are."""
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def parse_list(data: bytes, path: str | Path) -> WithdrawalList:
    """The list in ``data`` (the bytes of ``path``), checked against the schema; :class:`WithdrawalListError`."""
    doc = parse_document(data, path, WithdrawalListError, syntax="json", what="withdrawal list", hint=SCHEMA_HINT)
    problems = schemas.errors(schemas.WITHDRAWALS, doc)
    if problems:
        raise WithdrawalListError(
            f"does not match the withdrawal list schema: {first_problem(problems)}", path=path, hint=SCHEMA_HINT
        )
    entries = tuple(Withdrawal(e["release_id"], e["withdrawn_at"], e.get("reason")) for e in doc["withdrawn"])
    seen: set[str] = set()
    for e in entries:
        if e.release_id in seen:
            raise WithdrawalListError(
                f"release id '{e.release_id}' is listed twice", path=path, hint="each release is withdrawn once"
            )
        seen.add(e.release_id)
    for where, value in [("updated", doc["updated"]), *((f"'{e.release_id}'", e.withdrawn_at) for e in entries)]:
        try:
            parse_time(value)
        except ValueError:
            raise WithdrawalListError(f"{where}: '{value}' is not a real date", path=path, hint=SCHEMA_HINT) from None
    return WithdrawalList(issuer=doc["issuer"], updated=doc["updated"], entries=entries)


# ---------------------------------------------------------------------------------------------
# Detached signatures


def _chain_pem(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def sign_detached(data: bytes, material: SigningMaterial) -> dict[str, Any]:
    """The detached signature document over ``data`` (see the module docstring)."""
    return {
        "format": SIGNATURE_FORMAT,
        "version": SIGNATURE_VERSION,
        "algorithm": material.algorithm.value.upper(),
        "chain": [_chain_pem(c) for c in material.chain],
        "signature": base64.b64encode(material.sign(data)).decode("ascii"),
    }


def _verify_raw(algorithm: str, public_key: Any, signature: bytes, data: bytes) -> bool | None:
    """True if the signature verifies, False if not, None if the algorithm does not fit the key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if algorithm == "ED25519":
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                return None
            public_key.verify(signature, data)
        elif algorithm in ("ES256", "ES384"):
            expected = ec.SECP256R1 if algorithm == "ES256" else ec.SECP384R1
            if not (isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, expected)):
                return None
            digest: hashes.HashAlgorithm = hashes.SHA256() if algorithm == "ES256" else hashes.SHA384()
            public_key.verify(signature, data, ec.ECDSA(digest))
        elif algorithm == "PS256":
            if not isinstance(public_key, rsa.RSAPublicKey):
                return None
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            public_key.verify(signature, data, pss, hashes.SHA256())
        else:
            return None
    except InvalidSignature:
        return False
    return True


def _name(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()


def common_name(certificate: x509.Certificate) -> str:
    """Who a certificate names: its subject common name, else the whole subject."""
    return _name(certificate.subject)


def verify_detached(
    data: bytes,
    list_path: str | Path,
    anchors: Sequence[x509.Certificate],
    *,
    check_certificate: bool = True,
    anchors_are: str = "any of the trust anchors given",
    untrusted_hint: str = "pass --trust with the CA of the party that holds the releases",
) -> x509.Certificate:
    """Check ``LIST.sig`` over ``data`` (the bytes of ``list_path``) and its chain against ``anchors``.

    Returns the signing certificate; every failure is a :class:`WithdrawalListError` naming the list.
    ``check_certificate`` also applies the signing-certificate rules of :mod:`rightsmark.keys.checks`
    (validity now, not a CA, key usage).
    """
    from cryptography import x509

    from rightsmark.trust.chainval import Role, validate_chain

    sig_path = signature_path(list_path)
    if not sig_path.exists():
        raise WithdrawalListError(
            f"withdrawal list is unsigned: no {sig_path.name} beside it", path=list_path, hint=_HINT_UNSIGNED
        )
    raw = read_file(sig_path, "signature file")
    try:
        doc = parse_document(raw, sig_path, WithdrawalListError, syntax="json")
    except WithdrawalListError as exc:
        raise WithdrawalListError(
            f"its signature {sig_path.name} is not a rightsmark detached signature ({exc.message})", path=list_path
        ) from None
    problems = schemas.errors(schemas.DETACHED_SIGNATURE, doc)
    if problems:
        raise WithdrawalListError(
            f"its signature {sig_path.name} is malformed: {first_problem(problems)}",
            path=list_path,
            hint="see schemas/detached-signature.schema.json",
        )
    try:
        chain = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in doc["chain"]]
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise WithdrawalListError(
            f"its signature {sig_path.name} holds a damaged certificate or signature", path=list_path
        ) from None
    leaf = chain[0]
    verdict = _verify_raw(doc["algorithm"], leaf.public_key(), signature, data)
    if verdict is None:
        raise WithdrawalListError(
            f"its signature {sig_path.name} names algorithm {doc['algorithm']}, which does not fit the signer's key",
            path=list_path,
        )
    if not verdict:
        raise WithdrawalListError(
            f"signature {sig_path.name} does not verify: the list was changed after signing or signed with another key",
            path=list_path,
            hint="do not use it; get the list and its signature again from the party that holds the releases",
        )
    trust = validate_chain(chain, anchors, at=dt.datetime.now(dt.UTC), role=Role.WITHDRAWAL_SIGNER)
    if not trust.ok:
        why = "" if not trust.reason or trust.reason.startswith("does not chain") else f": {trust.reason}"
        raise WithdrawalListError(
            f"signed by '{common_name(leaf)}' (issued by '{_name(leaf.issuer)}'), "
            f"which does not chain to {anchors_are}{why}",
            path=list_path,
            hint=untrusted_hint,
        )
    if check_certificate:
        from rightsmark.keys.checks import check_signing_certificate

        try:
            check_signing_certificate(chain, None, path=sig_path)
        except RightsmarkError as exc:
            raise WithdrawalListError(
                f"its signing certificate is unusable: {exc.message}", path=list_path, hint=exc.hint
            ) from None
    return leaf


def load_withdrawal_list(path: str | Path, anchors: Sequence[x509.Certificate]) -> SignedList:
    """Read one list: its detached signature over the raw bytes and the chain first, then parse it (schema)."""
    p = Path(path)
    data = read_file(p, "withdrawal list")
    leaf = verify_detached(data, p, anchors)  # the raw bytes first: nothing unsigned is parsed
    content = parse_list(data, p)
    return SignedList(p, hashlib.sha256(data).hexdigest(), common_name(leaf), content)


def earlier(a: str, b: str) -> str:
    """The earlier of two withdrawal times (RFC 3339)."""
    return a if parse_time(a) <= parse_time(b) else b


def load_withdrawals(paths: Iterable[str | Path], anchors: Sequence[str | Path]) -> Loaded:
    """Every list in ``paths``, verified against the trust anchor files ``anchors``, merged.

    No lists gives an empty :class:`Loaded`. Lists without anchors are refused: a withdrawal
    list cannot be trusted unless someone vouches for its signer.
    """
    given = [Path(p) for p in paths]
    if not given:
        return Loaded()
    if not anchors:
        raise WithdrawalListError(
            "a withdrawal list cannot be trusted without trust anchors",
            path=given[0],
            hint="pass --trust with the CA of the party that holds the releases",
        )
    from rightsmark.audit.auditor import load_anchor_certificates

    anchor_certs = load_anchor_certificates(anchors)
    lists: list[SignedList] = []
    seen: set[str] = set()
    withdrawn: dict[str, str] = {}
    for p in given:
        real = os.path.realpath(p)
        if real in seen:
            continue
        seen.add(real)
        signed = load_withdrawal_list(p, anchor_certs)
        lists.append(signed)
        for release, when in signed.content.withdrawn.items():
            withdrawn[release] = earlier(withdrawn[release], when) if release in withdrawn else when
    return Loaded(tuple(lists), withdrawn)
