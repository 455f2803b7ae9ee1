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

from rightsmark._version import __version__

_EXPORTS = {
    "init_keys": "rightsmark.keys.devca",
    "load_signing_material": "rightsmark.keys.material",
    "Algorithm": "rightsmark.models",
    "SigningMaterial": "rightsmark.keys.material",
    "Rights": "rightsmark.rights.manifest",
    "ConsentDeclaration": "rightsmark.rights.consent",
    "load_consent_file": "rightsmark.rights.consent",
    "parse_license": "rightsmark.rights.licenses",
    "Signer": "rightsmark.sign.signer",
    "sign_file": "rightsmark.sign.signer",
    "Verifier": "rightsmark.verify.verifier",
    "BulkVerifier": "rightsmark.verify.bulk",
    "verify_source": "rightsmark.verify.bulk",
    "verify_items": "rightsmark.verify.bulk",
    "Policy": "rightsmark.verify.policy",
    "load_policy": "rightsmark.verify.policyfile",
    "KeepFilter": "rightsmark.filters",
    "open_sources": "rightsmark.sources",
    "verify_file": "rightsmark.verify.verifier",
    "inspect_file": "rightsmark.verify.inspection",
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
    from rightsmark.errors import RightsmarkError
    from rightsmark.filters import KeepFilter
    from rightsmark.keys.devca import init_keys
    from rightsmark.keys.material import SigningMaterial, load_signing_material
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
    from rightsmark.rights.consent import ConsentDeclaration, load_consent_file
    from rightsmark.rights.licenses import parse_license
    from rightsmark.rights.manifest import Rights
    from rightsmark.sign.signer import Signer, sign_file
    from rightsmark.sources import open_sources
    from rightsmark.verify.bulk import BulkVerifier, verify_items, verify_source
    from rightsmark.verify.inspection import inspect_file
    from rightsmark.verify.policy import Policy
    from rightsmark.verify.policyfile import load_policy
    from rightsmark.verify.verifier import Verifier, verify_file


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rightsmark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
