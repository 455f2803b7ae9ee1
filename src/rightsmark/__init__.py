"""rightsmark: permission that travels with the picture.

Sign images with C2PA manifests recording author, license, AI-use permission and the
consent of the people pictured, and verify them. The public API::

    from rightsmark import sign_file, Verifier, Rights, init_keys

Names are imported lazily so that ``import rightsmark`` (and ``rightsmark --help``) stays
fast; the C2PA engine loads on the first sign or verify.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "init_keys": "rightsmark.keys",
    "load_signing_material": "rightsmark.keys",
    "Algorithm": "rightsmark.models",
    "SigningMaterial": "rightsmark.keys",
    "Rights": "rightsmark.manifest",
    "ConsentDeclaration": "rightsmark.consent",
    "load_consent_file": "rightsmark.consent",
    "parse_license": "rightsmark.licenses",
    "Signer": "rightsmark.sign",
    "sign_file": "rightsmark.sign",
    "Verifier": "rightsmark.verify",
    "BulkVerifier": "rightsmark.bulk",
    "verify_source": "rightsmark.bulk",
    "verify_items": "rightsmark.bulk",
    "Policy": "rightsmark.policy",
    "load_policy": "rightsmark.policy",
    "KeepFilter": "rightsmark.filters",
    "open_sources": "rightsmark.sources",
    "verify_file": "rightsmark.verify",
    "inspect_file": "rightsmark.inspection",
    "RightsmarkError": "rightsmark.errors",
    "VerifyRecord": "rightsmark.models",
    "SignResult": "rightsmark.models",
    "Decision": "rightsmark.models",
    "Integrity": "rightsmark.models",
    "Trust": "rightsmark.models",
    "Use": "rightsmark.models",
    "Purpose": "rightsmark.models",
    "Training": "rightsmark.models",
    "License": "rightsmark.models",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from rightsmark.bulk import BulkVerifier, verify_items, verify_source
    from rightsmark.consent import ConsentDeclaration, load_consent_file
    from rightsmark.errors import RightsmarkError
    from rightsmark.filters import KeepFilter
    from rightsmark.inspection import inspect_file
    from rightsmark.keys import SigningMaterial, init_keys, load_signing_material
    from rightsmark.licenses import parse_license
    from rightsmark.manifest import Rights
    from rightsmark.models import (
        Algorithm,
        Decision,
        Integrity,
        License,
        Purpose,
        SignResult,
        Training,
        Trust,
        Use,
        VerifyRecord,
    )
    from rightsmark.policy import Policy, load_policy
    from rightsmark.sign import Signer, sign_file
    from rightsmark.sources import open_sources
    from rightsmark.verify import Verifier, verify_file


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rightsmark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
