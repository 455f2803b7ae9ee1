"""Certificate-chain validation (rightsmark.trust.chainval) on real certificates made here with cryptography.

A root, an intermediate and a leaf (ECDSA P-256), each rule broken once: every refusal must come
back as a verdict with a reason a person can act on, never as an exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rightsmark.trust.chainval import CLAIM_SIGNER_EKUS, ChainVerdict, Role, validate_chain

AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)
EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
CA_USAGE = "ca"
SIGN_USAGE = "sign"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str = "Test PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(kind: str) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=kind == SIGN_USAGE,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=kind == CA_USAGE,
        crl_sign=kind == CA_USAGE,
        encipher_only=False,
        decipher_only=False,
    )


@dataclasses.dataclass
class Party:
    """A certificate and its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)


def issue(
    subject: x509.Name,
    issuer: Party | None,
    *,
    ca: bool,
    path_length: int | None = None,
    key_usage: str | None = None,
    ekus: Sequence[x509.ObjectIdentifier] | None = (EMAIL,),
    not_before: dt.datetime = AT - YEAR,
    not_after: dt.datetime = AT + YEAR,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    signing_key: ec.EllipticCurvePrivateKey | None = None,
) -> Party:
    """A certificate for a new key, issued by ``issuer`` (self-signed when None)."""
    key = _key()
    issuer_name = issuer.cert.subject if issuer else subject
    issuer_key = signing_key or (issuer.key if issuer else key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(_key_usage(key_usage or (CA_USAGE if ca else SIGN_USAGE)), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ekus is not None and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return Party(builder.sign(issuer_key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def root() -> Party:
    return issue(_name("Test Root"), None, ca=True)


@pytest.fixture(scope="module")
def intermediate(root: Party) -> Party:
    return issue(_name("Test Intermediate"), root, ca=True)


def leaf(issuer: Party, **kwargs: Any) -> Party:
    return issue(_name("Test Signer"), issuer, ca=False, **kwargs)


def check(chain: Sequence[Party | bytes], anchors: Sequence[Party], **kwargs: Any) -> ChainVerdict:
    kwargs.setdefault("at", AT)
    kwargs.setdefault("role", Role.CLAIM_SIGNER)
    ders = [c.der if isinstance(c, Party) else c for c in chain]
    return validate_chain(ders, [a.cert for a in anchors], **kwargs)


def refused(verdict: ChainVerdict, *words: str) -> None:
    assert not verdict.ok and not verdict, verdict
    assert verdict.reason and verdict.anchor_sha256 is None, verdict
    for word in words:
        assert word in verdict.reason, verdict.reason


# ---------------------------------------------------------------------------------------------
# What is trusted


def test_a_good_chain_is_trusted_and_names_its_anchor(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate)
    verdict = check([signer, intermediate], [root])
    assert verdict.ok and verdict and verdict.reason is None
    assert verdict.anchor_sha256 == hashlib.sha256(root.der).hexdigest()
    # the root in the chain too, certificate objects instead of DER, a naive time (UTC)
    also = validate_chain(
        [signer.cert, intermediate.cert, root.cert], [root.cert], at=AT.replace(tzinfo=None), role=Role.CLAIM_SIGNER
    )
    assert also == verdict


@pytest.mark.parametrize("eku", sorted(CLAIM_SIGNER_EKUS))
def test_every_claim_signing_eku_is_accepted_for_claims_and_withdrawal_lists(
    root: Party, intermediate: Party, eku: str
) -> None:
    signer = leaf(intermediate, ekus=[x509.ObjectIdentifier(eku)])
    assert check([signer, intermediate], [root]).ok
    assert check([signer, intermediate], [root], role=Role.WITHDRAWAL_SIGNER).ok
    refused(check([signer, intermediate], [root], role=Role.TSA), "no extended key usage for timestamping")


def test_a_leaf_that_is_itself_an_anchor_is_trusted_while_valid(root: Party) -> None:
    own = issue(_name("Self-signed signer"), None, ca=False)
    verdict = check([own], [own])
    assert verdict.ok and verdict.anchor_sha256 == hashlib.sha256(own.der).hexdigest()
    refused(check([own], [own], at=AT + 2 * YEAR), "expired at")


# ---------------------------------------------------------------------------------------------
# Validity at the given time


def test_an_expired_leaf_is_refused(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate, not_after=AT - dt.timedelta(days=1))
    verdict = check([signer, intermediate], [root])
    refused(verdict, "'Test Signer'", "expired at", (AT - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # ... and trusted at a time it was valid (a signing time)
    assert check([signer, intermediate], [root], at=AT - dt.timedelta(days=30)).ok


def test_a_leaf_not_yet_valid_is_refused(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate, not_before=AT + dt.timedelta(hours=1))
    refused(check([signer, intermediate], [root]), "'Test Signer'", "not valid before")


def test_an_expired_intermediate_is_refused(root: Party) -> None:
    stale = issue(_name("Stale Intermediate"), root, ca=True, not_after=AT - dt.timedelta(days=2))
    refused(check([leaf(stale), stale], [root]), "'Stale Intermediate'", "expired at")


def test_an_expired_root_is_refused(intermediate: Party) -> None:
    old_root = issue(_name("Old Root"), None, ca=True, not_after=AT - dt.timedelta(days=3))
    inter = issue(_name("Under Old Root"), old_root, ca=True)
    refused(check([leaf(inter), inter], [old_root]), "'Old Root'", "expired at")


# ---------------------------------------------------------------------------------------------
# The leaf's profile


def test_a_leaf_without_eku_is_refused(root: Party, intermediate: Party) -> None:
    refused(check([leaf(intermediate, ekus=None), intermediate], [root]), "no extended key usage for claim signing")


def test_a_leaf_with_only_server_auth_is_refused(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate, ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    refused(check([signer, intermediate], [root]), "no extended key usage for claim signing", "serverAuth")


def test_any_extended_key_usage_does_not_count(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate, ekus=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    refused(check([signer, intermediate], [root]), "anyExtendedKeyUsage")
    # not even beside a good one: C2PA forbids it
    both = leaf(intermediate, ekus=[EMAIL, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    refused(check([both, intermediate], [root]), "anyExtendedKeyUsage")


def test_a_leaf_that_is_a_ca_is_refused(root: Party, intermediate: Party) -> None:
    signer = issue(_name("Test Signer"), intermediate, ca=True, key_usage=SIGN_USAGE)
    refused(check([signer, intermediate], [root]), "'Test Signer'", "is a CA certificate")


def test_a_leaf_needs_digital_signature(root: Party, intermediate: Party) -> None:
    signer = leaf(intermediate, key_usage="none")
    refused(check([signer, intermediate], [root]), "'Test Signer'", "digitalSignature")


# ---------------------------------------------------------------------------------------------
# The CAs on the path


def test_an_intermediate_without_the_ca_flag_is_refused(root: Party) -> None:
    not_ca = issue(_name("Not A CA"), root, ca=False, key_usage=CA_USAGE)
    refused(check([leaf(not_ca), not_ca], [root]), "'Not A CA'", "not a CA")


def test_an_intermediate_without_key_cert_sign_is_refused(root: Party) -> None:
    weak = issue(_name("No KeyCertSign"), root, ca=True, key_usage=SIGN_USAGE)
    refused(check([leaf(weak), weak], [root]), "'No KeyCertSign'", "keyCertSign")


def test_a_path_length_constraint_is_honoured(root: Party) -> None:
    first = issue(_name("Path Length Zero"), root, ca=True, path_length=0)
    second = issue(_name("One Too Many"), first, ca=True)
    refused(check([leaf(second), second, first], [root]), "path length")
    assert check([leaf(first), first], [root]).ok  # directly under it is fine


def _constrained_root(name: str, *subtrees: x509.GeneralName, critical: bool = True) -> Party:
    constraints = x509.NameConstraints(permitted_subtrees=list(subtrees), excluded_subtrees=None)
    return issue(_name(name), None, ca=True, extra=[(constraints, critical)])


def _with_san(issuer: Party, *names: x509.GeneralName) -> Party:
    return leaf(issuer, extra=[(x509.SubjectAlternativeName(list(names)), False)])


@pytest.mark.parametrize(
    ("permitted", "outside", "inside"),
    [
        (x509.RFC822Name("studio.example"), x509.RFC822Name("a@other.example"), x509.RFC822Name("a@studio.example")),
        (x509.DNSName("studio.example"), x509.DNSName("www.other.example"), x509.DNSName("www.studio.example")),
    ],
    ids=["email", "dns"],
)
def test_name_constraints_of_a_root_are_honoured(
    permitted: x509.GeneralName, outside: x509.GeneralName, inside: x509.GeneralName
) -> None:
    constrained = _constrained_root("Studio Root", permitted)
    inter = issue(_name("Studio Intermediate"), constrained, ca=True)
    refused(check([_with_san(inter, outside), inter], [constrained]), "name constraints")
    assert check([_with_san(inter, inside), inter], [constrained]).ok


@pytest.mark.parametrize("critical", [True, False])
def test_directory_name_constraints_are_never_skipped(critical: bool) -> None:
    """The library cannot check a subject against directoryName subtrees (and skips non-critical
    ones): such a CA is refused rather than let a constraint go unchecked."""
    studio = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio")])
    constrained = _constrained_root("Studio Root", x509.DirectoryName(studio), critical=critical)
    outsider = issue(_name("Test Signer", "Other"), constrained, ca=False)
    refused(check([outsider], [constrained]), "'Studio Root'", "directoryName")


def test_a_subject_email_outside_email_constraints_is_refused() -> None:
    constrained = _constrained_root("Studio Root", x509.RFC822Name("studio.example"))
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Mailer"), x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@evil.example")]
    )
    refused(check([issue(subject, constrained, ca=False)], [constrained]), "'Mailer'", "email")


# ---------------------------------------------------------------------------------------------
# Chains that do not lead to an anchor, or cannot be read


def test_a_chain_to_an_unrelated_root_is_refused(intermediate: Party) -> None:
    stranger = issue(_name("Stranger Root"), None, ca=True)
    refused(check([leaf(intermediate), intermediate], [stranger]), "does not chain to any of the anchors")


def test_no_anchors_trust_nothing(intermediate: Party) -> None:
    refused(check([leaf(intermediate), intermediate], []), "no trust anchors")


def test_a_leaf_signed_by_the_wrong_key_is_refused(root: Party, intermediate: Party) -> None:
    forged = leaf(intermediate, signing_key=_key())  # names the intermediate as issuer, signed by another key
    refused(check([forged, intermediate], [root]), "signature does not verify")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_der_is_refused_without_raising(root: Party, intermediate: Party, damage: str) -> None:
    der = leaf(intermediate).der
    broken = {"truncated": der[:-7], "garbage": b"\x30\x03abc", "empty": b""}[damage]
    refused(check([broken, intermediate], [root]), "damaged")
    refused(check([leaf(intermediate), intermediate.der[:40]], [root]), "certificate 2 of the chain is damaged")


def test_an_empty_chain_is_refused(root: Party) -> None:
    refused(check([], [root]), "no certificate chain")


# ---------------------------------------------------------------------------------------------
# Timestamp authorities and allowed end-entity certificates


def test_a_tsa_needs_time_stamping(root: Party, intermediate: Party) -> None:
    tsa = leaf(intermediate, ekus=[ExtendedKeyUsageOID.TIME_STAMPING])
    assert check([tsa, intermediate], [root], role=Role.TSA).ok
    refused(check([tsa, intermediate], [root]), "no extended key usage for claim signing", "timeStamping")
    refused(check([leaf(intermediate), intermediate], [root], role=Role.TSA), "timestamping", "emailProtection")


def test_an_allowed_end_entity_needs_no_anchor_but_must_be_valid(intermediate: Party) -> None:
    signer = leaf(intermediate)
    verdict = check([signer, intermediate], [], allowed=[signer.cert])
    assert verdict.ok and verdict.anchor_sha256 == hashlib.sha256(signer.der).hexdigest()
    refused(check([signer], [], allowed=[signer.cert], at=AT + 2 * YEAR), "expired at")
    other = leaf(intermediate)
    refused(check([other], [], allowed=[signer.cert]), "no trust anchors")  # exact match only
    no_eku = leaf(intermediate, ekus=None)
    refused(check([no_eku], [], allowed=[no_eku.cert]), "no extended key usage")


def test_each_call_uses_its_own_anchors(root: Party, intermediate: Party) -> None:
    """Trust stores are reused between calls with the same anchors, never across different ones."""
    chain = [leaf(intermediate).cert, intermediate.cert]
    anchors = [root.cert]
    stranger = issue(_name("Stranger Root"), None, ca=True).cert
    for _ in range(2):
        assert validate_chain(chain, anchors, at=AT, role=Role.CLAIM_SIGNER).ok
        refused(validate_chain(chain, [stranger], at=AT, role=Role.CLAIM_SIGNER), "does not chain")
        assert validate_chain(chain, [stranger, *anchors], at=AT, role=Role.CLAIM_SIGNER).ok
