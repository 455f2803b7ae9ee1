"""Certificate chains checked by the standard validator: ``cryptography.x509.verification``.

:func:`validate_chain` answers one question: does this chain (leaf first) lead, at a given time,
from a certificate fit for a role (claim signer, timestamp authority, signer of withdrawal lists)
to one of the trust anchors for that role? It never raises for what the certificates contain;
every refusal comes back as a :class:`ChainVerdict` with a short reason for a person.

Path building, signature checks, validity periods (of every certificate on the path, the anchor
included), basicConstraints CA on issuers, path length constraints and DNS / IP / email name
constraints against subject alternative names are the library's. What this module adds is the
profile, as extension policies (``PolicyBuilder.extension_policies``) with validators of its own:

* CA policy: ``ExtensionPolicy.permit_all()`` plus basicConstraints required with CA=true (any
  criticality) and keyUsage required with keyCertSign. Not ``webpki_defaults_ca()``: that one wants
  basicConstraints critical and, for a client verifier, an EKU on a CA to include clientAuth, both
  of which real C2PA CAs (and the engine) do without. Authority/subject key identifiers, CA EKUs and
  the criticality of the other known extensions are not checked (the engine does not either).
* EE policy: ``ExtensionPolicy.permit_all()`` plus: basicConstraints, when present, not a CA; keyUsage
  present with digitalSignature and without keyCertSign; extendedKeyUsage present with one of the
  role's usages (:data:`CLAIM_SIGNER_EKUS` for claim and withdrawal-list signers, timeStamping for a
  TSA) and without anyExtendedKeyUsage, which C2PA forbids. No subject alternative name is needed:
  the library's default client profile requires one (and clientAuth), a custom EE policy does not.
* Name constraints of type directoryName: the library refuses them when the extension is critical
  (as RFC 5280 wants it) and silently ignores them when it is not. The CA policy refuses them in
  both cases, so that a constraint is never skipped: a CA constrained by subject name cannot vouch
  here. An emailAddress in a subject, which the library does not hold against email constraints,
  must also be one of the certificate's email alternative names (which it does) when a CA above it
  has email constraints; otherwise the chain is refused.

Known limits of the library, which refuse rather than accept: Ed25519 CA keys and Ed25519
certificate signatures (the verifier's algorithm lists are WebPKI's and cannot be widened from
Python, pyca/cryptography#13391), RSA CA keys under 2048 bits, RSA-PSS with other parameters than
SHA-256/32, SHA-384/48 and SHA-512/64, version 1 certificates (roots included), serial numbers that
are zero-length, negative or over 20 octets, validity dates before 2050 written as GeneralizedTime,
and unknown critical extensions.

A leaf that is itself one of the anchors, or one of the ``allowed`` end-entity certificates (exact
DER match), is checked alone: validity and the EE profile, as its own one-certificate trust store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, Policy, PolicyBuilder, Store

from rightsmark.keys.ekus import SIGNING_EKUS


class Role(str, Enum):
    """What the leaf certificate is trusted for."""

    CLAIM_SIGNER = "claim-signer"
    TSA = "tsa"
    WITHDRAWAL_SIGNER = "withdrawal-signer"


#: The extended key usages a claim signer may carry (:data:`rightsmark.keys.ekus.SIGNING_EKUS`, which the
#: engine accepts with rightsmark's trust configuration): emailProtection, documentSigning, Microsoft
#: C2PA signing, C2PA claim signing.
CLAIM_SIGNER_EKUS: frozenset[str] = frozenset(oid.dotted_string for oid in SIGNING_EKUS)

_TIME_STAMPING = ExtendedKeyUsageOID.TIME_STAMPING.dotted_string
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string

_ROLE_EKUS: dict[Role, frozenset[str]] = {
    Role.CLAIM_SIGNER: CLAIM_SIGNER_EKUS,
    Role.WITHDRAWAL_SIGNER: CLAIM_SIGNER_EKUS,
    Role.TSA: frozenset({_TIME_STAMPING}),
}
_ROLE_PURPOSE = {
    Role.CLAIM_SIGNER: "claim signing",
    Role.WITHDRAWAL_SIGNER: "signing withdrawal lists",
    Role.TSA: "timestamping",
}
_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.311.76.59.1.9": "Microsoft C2PA signing",
    "1.3.6.1.4.1.62558.2.1": "C2PA claim signing",
    _ANY_EKU: "anyExtendedKeyUsage",
}


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    #: one short sentence for a person when not ok
    reason: str | None = None
    #: hex SHA-256 of the DER of the anchor the path ended at (of the leaf when it is an anchor or allowed)
    anchor_sha256: str | None = None

    def __bool__(self) -> bool:
        return self.ok


class _RefusedError(Exception):
    """Raised by this module's extension validators; the message is the reason."""


def _who(certificate: x509.Certificate) -> str:
    try:
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return f"'{names[0].value!s}'" if names else f"'{certificate.subject.rfc4514_string()}'"
    except Exception:  # an unreadable subject must not turn a refusal into an exception
        return "a certificate"


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


class _Profile:
    """The extension validators of one call; each refusal is remembered for the verdict's reason."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.refusals: list[str] = []

    def refuse(self, reason: str) -> NoReturn:
        self.refusals.append(reason)
        raise _RefusedError(reason)

    # -- CA certificates

    def ca_basic_constraints(self, _policy: Policy, cert: x509.Certificate, bc: x509.BasicConstraints) -> None:
        if not bc.ca:
            self.refuse(f"{_who(cert)} issued a certificate but is not a CA (basicConstraints CA is false)")

    def ca_key_usage(self, _policy: Policy, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
        if ku is None:
            self.refuse(f"CA certificate {_who(cert)} has no key usage (keyCertSign is required)")
        if not ku.key_cert_sign:
            self.refuse(f"the key usage of CA certificate {_who(cert)} does not include keyCertSign")

    def ca_name_constraints(self, _policy: Policy, cert: x509.Certificate, nc: x509.NameConstraints | None) -> None:
        subtrees = [*(nc.permitted_subtrees or ()), *(nc.excluded_subtrees or ())] if nc is not None else []
        if any(isinstance(g, x509.DirectoryName) for g in subtrees):
            self.refuse(
                f"CA certificate {_who(cert)} has directoryName name constraints, which the validator cannot check"
            )

    # -- the end-entity (leaf) certificate

    def ee_basic_constraints(self, _policy: Policy, cert: x509.Certificate, bc: x509.BasicConstraints | None) -> None:
        if bc is not None and bc.ca:
            self.refuse(f"the signing certificate {_who(cert)} is a CA certificate, not an end-entity certificate")

    def ee_key_usage(self, _policy: Policy, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
        if ku is None:
            self.refuse(f"the signing certificate {_who(cert)} has no key usage (digitalSignature is required)")
        if not ku.digital_signature:
            self.refuse(f"the key usage of {_who(cert)} does not include digitalSignature")
        if ku.key_cert_sign:
            self.refuse(f"the key usage of {_who(cert)} includes keyCertSign, which only a CA may have")

    def ee_extended_key_usage(self, _policy: Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        purpose = _ROLE_PURPOSE[self.role]
        if eku is None or not list(eku):
            self.refuse(f"no extended key usage for {purpose}")
        usages = [oid.dotted_string for oid in eku]
        if _ANY_EKU in usages:
            self.refuse(f"the extended key usage of {_who(cert)} includes anyExtendedKeyUsage, which C2PA forbids")
        if not set(usages) & _ROLE_EKUS[self.role]:
            names = ", ".join(_EKU_NAMES.get(u, u) for u in usages)
            self.refuse(f"no extended key usage for {purpose} (the certificate has {names})")

    def policies(self) -> tuple[ExtensionPolicy, ExtensionPolicy]:
        agnostic = Criticality.AGNOSTIC
        ca = (
            ExtensionPolicy.permit_all()
            .require_present(x509.BasicConstraints, agnostic, self.ca_basic_constraints)
            .may_be_present(x509.KeyUsage, agnostic, self.ca_key_usage)
            .may_be_present(x509.NameConstraints, agnostic, self.ca_name_constraints)
        )
        ee = (
            ExtensionPolicy.permit_all()
            .may_be_present(x509.BasicConstraints, agnostic, self.ee_basic_constraints)
            .may_be_present(x509.KeyUsage, agnostic, self.ee_key_usage)
            .may_be_present(x509.ExtendedKeyUsage, agnostic, self.ee_extended_key_usage)
        )
        return ca, ee


def _same(a: x509.Certificate, b: x509.Certificate) -> bool:
    """Exact DER match (``==`` first: serialising every anchor costs more than validating)."""
    return a == b and a.public_bytes(Encoding.DER) == b.public_bytes(Encoding.DER)


# Trust stores by the identity of their anchors: callers pass the same anchors for every chain, and
# building a store of a trust list's ~150 anchors costs twice a whole validation. Each entry keeps its
# certificates alive, so the ids in its key cannot be reused by other objects while it is cached.
_STORES: dict[tuple[int, ...], tuple[tuple[x509.Certificate, ...], Store]] = {}
_STORES_LOCK = threading.Lock()
_STORES_KEPT = 8


def _store(anchors: Sequence[x509.Certificate]) -> Store:
    kept = tuple(anchors)
    key = tuple(map(id, kept))
    with _STORES_LOCK:
        hit = _STORES.get(key)
    if hit is not None:
        return hit[1]
    store = Store(list(kept))
    with _STORES_LOCK:
        while len(_STORES) >= _STORES_KEPT:
            del _STORES[next(iter(_STORES))]
        _STORES[key] = (kept, store)
    return store


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _load(chain: Sequence[bytes | x509.Certificate]) -> list[x509.Certificate] | str:
    certs: list[x509.Certificate] = []
    for i, item in enumerate(chain):
        if isinstance(item, x509.Certificate):
            certs.append(item)
            continue
        try:
            certs.append(x509.load_der_x509_certificate(bytes(item)))
        except Exception:
            where = "the signing certificate" if i == 0 else f"certificate {i + 1} of the chain"
            return f"{where} is damaged (not a DER X.509 certificate)"
    return certs


def _validity(certs: Sequence[x509.Certificate], at: dt.datetime) -> str | None:
    """The first certificate not valid at ``at``, said for a person."""
    for cert in certs:
        try:
            if cert.not_valid_after_utc < at:
                return f"certificate {_who(cert)} expired at {_stamp(cert.not_valid_after_utc)}"
            if cert.not_valid_before_utc > at:
                return f"certificate {_who(cert)} is not valid before {_stamp(cert.not_valid_before_utc)}"
        except Exception:
            continue
    return None


def _not_ca(certs: Sequence[x509.Certificate]) -> str | None:
    """The first of ``certs`` (issuers on the path) that is not a CA, said for a person."""
    for cert in certs:
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            return f"{_who(cert)} issued a certificate but is not a CA (it has no basicConstraints)"
        except Exception:
            continue
        if not ca:
            return f"{_who(cert)} issued a certificate but is not a CA (basicConstraints CA is false)"
    return None


# The library's messages (cryptography 45 to 50), most specific first, and what they mean.
_LIBRARY_REASONS = (
    ("not valid at validation time", "a certificate on the path is not valid at {at}"),
    ("path length constraint violated", "the chain has more intermediates than a CA's path length constraint allows"),
    ("unsupported name constraint", "a CA on the path has name constraints of a kind the validator cannot check"),
    (
        "unsupported directoryname constraint",
        "a CA on the path has directoryName name constraints, which the validator cannot check",
    ),
    ("name constraint", "a name in the certificate is outside the name constraints of a CA on the path"),
    ("signature does not match", "a certificate's signature does not verify with its issuer's key"),
    ("params: ed25519", "a CA on the path uses Ed25519, which the certificate validator does not accept"),
    ("forbidden public key algorithm", "a CA on the path has a key type the certificate validator does not accept"),
    ("forbidden signature algorithm", "a certificate is signed with an algorithm the validator does not accept"),
    ("rsa key is too weak", "a CA on the path has an RSA key shorter than 2048 bits"),
    ("malformed public key", "a CA on the path has a damaged public key"),
    ("has no basicconstraints", "an issuing certificate has no basicConstraints: it is not a CA"),
    ("basicconstraints.ca must be asserted", "an issuing certificate is not a CA (basicConstraints CA is false)"),
    (
        "unaccounted-for critical extension",
        "a certificate has a critical extension {oid} the validator does not handle",
    ),
    ("must be an x509v3 certificate", "a certificate on the path is not an X.509 version 3 certificate"),
    ("serial", "a certificate on the path has a malformed serial number (not 1 to 20 octets, or negative)"),
    ("must be utctime", "a certificate on the path writes its validity dates in a form RFC 5280 forbids"),
    ("non-empty issuer", "a certificate on the path has an empty issuer name"),
    ("mismatch between signaturealgorithm", "a certificate on the path names two different signature algorithms"),
    ("maximum depth", "the chain is longer than the validator allows"),
    ("no interior errors", "does not chain to any of the anchors"),
)


def _library_reason(message: str, at: dt.datetime) -> str:
    low = message.lower()
    for needle, reason in _LIBRARY_REASONS:
        if needle in low:
            oid = re.search(r"invalid extension: ([0-9.]+)", message)
            return reason.format(at=_stamp(at), oid=f"({oid.group(1)})" if oid else "").replace("  ", " ")
    detail = re.sub(r"^validation failed: (candidates exhausted: )?", "", message)
    detail = re.sub(r" \(encountered processing .*\)$", "", detail)
    return f"the certificate validator refused the chain: {detail}"


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _emails(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The emailAddress attributes of the subject, and the email alternative names."""
    subject = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return subject, []
    return subject, san.get_values_for_type(x509.RFC822Name)


def _email_constraints_gap(path: Sequence[x509.Certificate]) -> str | None:
    """A subject emailAddress the library did not hold against a CA's email constraints (module docstring)."""
    for i in range(1, len(path)):
        ca = path[i]
        try:
            nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        subtrees = [*(nc.permitted_subtrees or ()), *(nc.excluded_subtrees or ())]
        if not any(isinstance(g, x509.RFC822Name) for g in subtrees):
            continue
        for below in path[:i]:
            if below is not path[0] and _self_issued(below):
                continue  # RFC 5280 6.1.3 (b): self-issued intermediates are exempt
            subject_emails, san_emails = _emails(below)
            if any(e not in san_emails for e in subject_emails):
                return (
                    f"the subject email address of {_who(below)} is not among its alternative names, so it cannot "
                    f"be checked against the email name constraints of {_who(ca)}"
                )
    return None


def validate_chain(
    chain: Sequence[bytes | x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: dt.datetime,
    role: Role,
    allowed: Sequence[x509.Certificate] = (),
) -> ChainVerdict:
    """Whether ``chain`` (leaf first, then intermediates; a root in it is fine) is trusted for ``role``
    at ``at`` (naive means UTC) under ``anchors``, or is one of the ``allowed`` end-entity certificates.

    Never raises for what the certificates contain: damage, unsupported algorithms and odd extensions
    come back as ``ok=False`` with a reason.
    """
    when = _utc(at)
    certs = _load(chain)
    if isinstance(certs, str):
        return ChainVerdict(False, certs)
    if not certs:
        return ChainVerdict(False, "there is no certificate chain")
    leaf, intermediates = certs[0], certs[1:]
    profile = _Profile(role)
    try:
        alone = any(_same(leaf, c) for c in (*anchors, *allowed))
        if not alone and not anchors:
            return ChainVerdict(False, "there are no trust anchors to check it against")
        ca_policy, ee_policy = profile.policies()
        verifier = (
            PolicyBuilder()
            .store(Store([leaf]) if alone else _store(anchors))
            .time(when)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        path = verifier.verify(leaf, [] if alone else intermediates).chain
        gap = _email_constraints_gap(path)
        if gap is not None:
            return ChainVerdict(False, gap)
        return ChainVerdict(True, None, _sha256(path[-1]))
    except Exception as exc:  # VerificationError, or anything odd in the certificates: a refusal, never a crash
        try:
            reason = _explain(str(exc), profile, certs, anchors, when)
        except Exception:  # explaining must not fail either
            reason = f"the certificate validator refused the chain: {exc}"
        return ChainVerdict(False, reason)


def _explain(
    message: str,
    profile: _Profile,
    certs: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
) -> str:
    """The reason for a person behind the library's message (which names no certificate)."""
    if "extension validator failed" in message and profile.refusals:
        return profile.refusals[-1]
    issuers = {c.issuer for c in certs}
    above = [*certs[1:], *(a for a in anchors if a.subject in issuers)]
    if "not valid at validation time" in message:
        stale = _validity([certs[0], *above], at)
        if stale is not None:
            return stale
    if "basicconstraints" in message.lower():
        named = _not_ca(above)
        if named is not None:
            return named
    return _library_reason(message, at)
