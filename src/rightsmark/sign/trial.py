"""A trial signature by the engine itself (``rightsmark keys check``): a tiny image signed in memory and read back."""

from __future__ import annotations

import io
from pathlib import Path

from rightsmark.errors import CertificateError
from rightsmark.keys.checks import HINT_GET
from rightsmark.keys.material import SigningMaterial


def engine_trial(material: SigningMaterial, *, path: str | Path | None = None) -> None:
    """Sign a tiny in-memory JPEG with the real engine and read it back; nothing is written to disk.

    Raises :class:`CertificateError` with the engine's own words when it refuses the material or the
    result does not validate (apart from trust, which depends on the reader's anchors).
    """
    from PIL import Image

    from rightsmark._version import __version__
    from rightsmark.engine import adapter as engine
    from rightsmark.engine.building import EngineRefusedError, engine_signer, sign_manifest
    from rightsmark.engine.reading import TRUST_CODES, read_manifest_store
    from rightsmark.models import Integrity
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights, manifest_definition

    image = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(image, "JPEG")
    definition = manifest_definition(
        Rights(consent=ConsentDeclaration.no_people()),
        title="rightsmark key check",
        generator=engine.GENERATOR,
        version=__version__,
        edit=False,
    )
    out = io.BytesIO()
    try:
        with engine.signing_context() as context, engine_signer(material) as signer:
            sign_manifest(definition, image.getvalue(), "image/jpeg", out, signer=signer, context=context)
    except EngineRefusedError as exc:
        raise CertificateError(
            f"the C2PA engine refuses to sign with it: {exc.reason}", path=path, hint=HINT_GET
        ) from None
    with engine.reading_context(None) as context:
        reading = read_manifest_store(out.getvalue(), "key-check.jpg", context, anchors_given=False)
    failures = [c for c in reading.failure_codes if c not in TRUST_CODES]
    if failures or reading.integrity is not Integrity.VALID:
        raise CertificateError(
            "the C2PA engine signed a test image but does not accept the result: " + ", ".join(failures),
            path=path,
            hint=HINT_GET,
        )
