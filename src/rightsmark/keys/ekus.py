"""The extended key usages a C2PA claim signer may carry (C2PA 2.x, section 14.5.1).

A module of their own: the signing checks (:mod:`rightsmark.keys.checks`), certificate requests and the
development CA name them, and so does chain validation (:mod:`rightsmark.trust.chainval`), which verifying a
signed file needs without the handling of signing keys.
"""

from __future__ import annotations

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

EKU_EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EKU_C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
EKU_MS_C2PA_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
SIGNING_EKUS = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING, EKU_C2PA_CLAIM_SIGNING, EKU_MS_C2PA_SIGNING)
