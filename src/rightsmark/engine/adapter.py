"""The one place that talks to the C2PA engine (c2pa-python).

Settings are passed per Context (``load_settings`` is ignored by Reader/Builder) and
every key used here is exercised by a test, because the engine accepts unknown keys
silently. ``c2pa`` is imported lazily: it costs ~130 ms and ``--help`` must not pay it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.rights.manifest import CREATED_LABELS

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources

GENERATOR = "rightsmark"

# The extended key usages a claim signer may carry. Listing them lets certificates with
# documentSigning or the C2PA claim-signing EKU verify (the engine's default accepts only
# emailProtection); the same list must be given when signing and when reading.
_TRUST_CONFIG = "\n".join(
    (
        "1.3.6.1.5.5.7.3.4",  # emailProtection
        "1.3.6.1.5.5.7.3.36",  # documentSigning
        "1.3.6.1.5.5.7.3.8",  # timeStamping (TSA certificates)
        "1.3.6.1.5.5.7.3.9",  # OCSPSigning
        "1.3.6.1.4.1.311.76.59.1.9",  # Microsoft C2PA signing
        "1.3.6.1.4.1.62558.2.1",  # C2PA claim signing
    )
)

# Verification never touches the network: remote manifests are reported, not fetched.
_OFFLINE: dict[str, dict[str, Any]] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}


def c2pa() -> ModuleType:
    """The c2pa module, imported on first use."""
    return importlib.import_module("c2pa")


def reading_settings(trust: TrustSources | None, *, verify_trust: bool = True) -> dict[str, Any]:
    """Offline reading settings; with ``trust``, the anchors of every role and the allowed end-entity certificates.

    The engine has one pool of anchors: timestamp authorities' roots must be in it for a timestamp to
    be trusted (which keeps a signature whose certificate has since expired valid), and its
    ``trust_kind`` does not stop them from vouching for claim signers too; :mod:`rightsmark.trust.sources`
    therefore checks the claim signer's role itself. End-entity certificates trusted as they are
    (the interim list's ``allowed.pem``) go in the list form's ``allowed_list``, the only place the
    engine honours them (the legacy ``trust.allowed_list`` has no effect).
    """
    config = _TRUST_CONFIG
    if trust is not None and trust.ekus:
        config = "\n".join(dict.fromkeys([*_TRUST_CONFIG.split("\n"), *trust.ekus]))
    settings: dict[str, Any] = {"trust_config": config}
    if trust is not None:
        pool = trust.claim_pem + trust.tsa_pem
        if pool:
            settings["trust_anchors"] = pool
        if trust.allowed_pem:
            settings["anchors"] = [{"trust_anchors": "", "trust_kind": "manifest", "allowed_list": trust.allowed_pem}]
    return {**_OFFLINE, "verify": {**_OFFLINE["verify"], "verify_trust": verify_trust}, "trust": settings}


def signing_settings(*, thumbnail: bool) -> dict[str, Any]:
    return {
        **_OFFLINE,
        "trust": {"trust_config": _TRUST_CONFIG},
        "builder": {
            "thumbnail": {"enabled": thumbnail},
            "claim_generator_info": {"name": GENERATOR, "version": __version__},
            "created_assertion_labels": list(CREATED_LABELS),
        },
    }


def reading_context(trust: TrustSources | None, *, verify_trust: bool = True) -> Any:
    return c2pa().Context.from_dict(reading_settings(trust, verify_trust=verify_trust))


def signature_uri(manifest_label: str) -> str:
    """The JUMBF URI of a manifest's signature box; the engine returns the store it validated for it."""
    return f"self#jumbf=/c2pa/{manifest_label}/c2pa.signature"


def signing_context(*, thumbnail: bool = False) -> Any:
    return c2pa().Context.from_dict(signing_settings(thumbnail=thumbnail))


def error_kind(exc: BaseException) -> str:
    """The engine's error kind (``ManifestNotFound``, ``NotSupported``, ``Remote``, ...) from its message prefix.

    c2pa-python raises the base ``C2paError`` for some kinds; the native message always starts
    with ``Kind:``, so that prefix is the stable part.
    """
    text = str(exc)
    head, sep, _ = text.partition(":")
    return head.strip() if sep and head.strip().isidentifier() else type(exc).__name__.lstrip("_").removeprefix("C2pa")


def keep_freed_memory() -> None:
    """Let this process keep the memory the engine frees between files instead of returning it to the system.

    Signing (or reading) a large file, the engine allocates and frees buffers of a few megabytes each
    time; the C allocator's defaults hand them back to the system and the next file faults every page in
    again, zeroed: about 40% of the CPU time of signing a 12 MP JPEG. With these thresholds the freed
    memory is reused (peak memory is unchanged; it is kept, at most the engine's peak, until the process
    ends). Meant for worker processes that sign or verify many files; glibc only, elsewhere nothing happens.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's own ceiling for the threshold it adapts by itself
    mallopt(m_trim_threshold, 128 << 20)
