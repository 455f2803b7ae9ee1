"""Every reason code a decision can carry: the one list, documented in the README and the record schema."""

#: Every reason code a policy can produce, with what it means.
REASON_CODES = {
    "integrity-invalid": "the manifest or the image bytes fail validation (tampered, damaged or malformed)",
    "integrity-absent": "the file carries no C2PA manifest",
    "integrity-error": "the file could not be read or is not a supported format",
    "manifest-remote": "the only manifest is a remote reference, which offline verification does not fetch",
    "untrusted": "the signer does not chain to a trust anchor",
    "no-trust-anchors": "no trust anchors were given, so no signer can be trusted",
    "signer-not-allowed": "the signer is trusted but not one of the policy's allowed signers",
    "ingredient-invalid": "an ingredient (an earlier version in the chain of custody) fails validation",
    "identity-invalid": "an identity assertion in the manifest fails validation",
    "permission-not-allowed": "the file does not allow the purpose (notAllowed)",
    "permission-constrained": "the file allows the purpose only under constraints, counted as not allowed",
    "permission-unspecified": "the file says nothing about the purpose; permission is opt-in",
    "license-missing": "the policy needs a license and the file records none",
    "license-not-allowed": "the license is not on the policy's allow list",
    "license-denied": "the license is on the policy's deny list",
    "license-non-commercial": "the license forbids commercial use and the policy's use is commercial",
    "consent-missing": "the file does not say whether identifiable people are pictured",
    "consent-invalid": "the consent assertion is malformed",
    "consent-expired": "a pictured person's consent has expired",
    "consent-not-yet-valid": "a pictured person's consent starts in the future",
    "consent-not-covered": "a pictured person's consent does not cover the purpose (or commercial use)",
    "consent-withdrawn": "a pictured person's consent is on a signed withdrawal list",
    "duplicate-key": "several items of one source (tar members, Parquet rows) share this key; all of them are dropped",
    "declared-opt-out": "a signal declared outside C2PA (XMP, a sidecar header, a column) opts out of the purpose",
    "recovered-only": "only a manifest recovered through a soft binding allows this file; fingerprints can be made to"
    ' collide, so it keeps only where the policy says [treat] recovered = "keep"',
    "recovery-failed": "recovery was asked for and could not be done (the repository unreachable or answering"
    " garbage, the image not decodable)",
    "recovered-invalid": "the manifest store a soft binding points at no longer validates",
    "recovered-conflict": "the file's watermark and its fingerprint point at different manifests",
    "recovered-ambiguous": "several different manifests match the file's soft bindings",
}
