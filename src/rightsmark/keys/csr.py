"""Certificate signing requests for a real CA, signed through the key abstraction (software or token key).

The request is DER-encoded by hand here because ``cryptography`` can only sign a request with a
software key it holds, not with a key that never leaves its token; this is the project's only DER writer.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from rightsmark.errors import KeyMaterialError, UsageError
from rightsmark.keys.algorithms import SigningKey, algorithm_for, public_key_of, sign_with
from rightsmark.keys.ekus import EKU_DOCUMENT_SIGNING, EKU_EMAIL_PROTECTION
from rightsmark.models import Algorithm


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


_SHA256_ID = _seq(_oid("2.16.840.1.101.3.4.2.1"), b"\x05\x00")
#: AlgorithmIdentifier of each C2PA algorithm for the CSR's own signature.
_CSR_SIGNATURE_ALGORITHMS = {
    Algorithm.ES256: _seq(_oid("1.2.840.10045.4.3.2")),
    Algorithm.ES384: _seq(_oid("1.2.840.10045.4.3.3")),
    Algorithm.ED25519: _seq(_oid("1.3.101.112")),
    # RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32 (the PS256 of C2PA, so a token needs one mechanism)
    Algorithm.PS256: _seq(
        _oid("1.2.840.113549.1.1.10"),
        _seq(
            _der(0xA0, _SHA256_ID),
            _der(0xA1, _seq(_oid("1.2.840.113549.1.1.8"), _SHA256_ID)),
            _der(0xA2, _der(0x02, b"\x20")),
        ),
    ),
}


def request_extensions(*, email: str | None, document_signing: bool) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions a C2PA signing certificate needs, as (value, critical) pairs."""
    ekus = [EKU_EMAIL_PROTECTION] + ([EKU_DOCUMENT_SIGNING] if document_signing else [])
    out: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
        (x509.ExtendedKeyUsage(ekus), False),
    ]
    if email:
        out.append((x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
    return out


def request_subject(
    common_name: str, *, organization: str | None = None, country: str | None = None, email: str | None = None
) -> x509.Name:
    if not common_name.strip():
        raise UsageError("the subject (common name) is empty", hint="pass --subject 'Your Name'")
    if country is not None and (len(country) != 2 or not country.isascii() or not country.isalpha()):
        raise UsageError(f"country '{country}' is not a two-letter ISO 3166 code", hint="for example --country DE")
    if email is not None and ("@" not in email or email.startswith("@") or email.endswith("@") or " " in email):
        raise UsageError(f"'{email}' is not an email address", hint="for example --email jane@example.org")
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country.upper()))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def certificate_request(
    key: SigningKey,
    subject: x509.Name,
    *,
    email: str | None = None,
    document_signing: bool = False,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for a C2PA signing certificate, signed by ``key`` (software or token).

    Requested extensions: BasicConstraints ca=false and KeyUsage digitalSignature (both critical),
    ExtendedKeyUsage emailProtection (+ documentSigning), SubjectAltName email when given.
    The request is built here (not by cryptography) so that a key that never leaves its token
    can sign it; it is parsed back and its signature verified before it is returned.
    """
    public = public_key_of(key)
    algorithm = algorithm_for(public)
    extensions = _seq(
        *(
            _seq(_oid(value.oid.dotted_string), b"\x01\x01\xff" if critical else b"", _der(0x04, value.public_bytes()))
            for value, critical in request_extensions(email=email, document_signing=document_signing)
        )
    )
    attribute = _seq(_oid("1.2.840.113549.1.9.14"), _der(0x31, extensions))  # extensionRequest
    info = _seq(
        b"\x02\x01\x00",  # version 0
        subject.public_bytes(),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        _der(0xA0, attribute),
    )
    signature = sign_with(key, info, algorithm)
    der = _seq(info, _CSR_SIGNATURE_ALGORITHMS[algorithm], _der(0x03, b"\x00" + signature))
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
    except ValueError:
        valid = False
    if not valid:
        raise KeyMaterialError(
            "the key made a signature that does not verify under its own public key",
            hint="the key store returned a bad signature or a public key that is not this key's",
        )
    return csr
