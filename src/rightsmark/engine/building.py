"""Building and signing a manifest through the engine: a callback signer for a key, a manifest built from its
definition (with an edit's parent as ingredient), the signed bytes, and the engine's refusals as typed errors.

The private key never reaches the engine: it calls back into
:meth:`~rightsmark.keys.material.SigningMaterial.sign` for each signature. ``c2pa`` is loaded on first use
(through :func:`rightsmark.engine.adapter.c2pa`), so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rightsmark.engine import adapter
from rightsmark.errors import SigningError

if TYPE_CHECKING:
    from rightsmark.keys.material import SigningMaterial


class EngineRefusedError(SigningError):
    """The engine refused a key, a manifest or a file; :attr:`reason` is the engine's own words."""

    def __init__(self, message: str, *, reason: str, path: str | Path | None = None) -> None:
        super().__init__(message, path=path)
        self.reason = reason


@dataclass(frozen=True)
class ParentIngredient:
    """The signed file an edit continues from: recorded as the new manifest's ``parentOf`` ingredient."""

    title: str
    mime: str
    data: bytes


def engine_signer(material: SigningMaterial, tsa_url: str | None = None) -> Any:
    """The engine's callback signer for ``material`` (close it after use); a refusal is an :class:`EngineRefusedError`.

    :class:`~rightsmark.models.Algorithm` names are the engine's ``C2paSigningAlg`` names.
    """
    c2pa = adapter.c2pa()
    algorithm = getattr(c2pa.C2paSigningAlg, material.algorithm.name)
    try:
        return c2pa.Signer.from_callback(material.sign, algorithm, material.chain_pem(), tsa_url)
    except c2pa.C2paError as exc:
        raise EngineRefusedError(f"the C2PA engine refuses the signing key: {exc}", reason=str(exc)) from None


def sign_manifest(
    definition: dict[str, Any],
    data: bytes,
    mime: str,
    out: IO[bytes],
    *,
    signer: Any,
    context: Any,
    parent: ParentIngredient | None = None,
    path: str | Path | None = None,
) -> None:
    """Build the manifest ``definition`` (the Builder JSON, as a dict) and sign ``data`` with it into ``out``.

    With ``parent`` the manifest is an edit (the engine adds ``c2pa.opened`` for the parent).
    A manifest the engine refuses, or a file it cannot sign, is an :class:`EngineRefusedError` naming ``path``.
    """
    c2pa = adapter.c2pa()
    try:
        builder = c2pa.Builder.from_json(definition, context=context)
    except c2pa.C2paError as exc:
        raise EngineRefusedError(f"the C2PA engine refused the manifest: {exc}", reason=str(exc), path=path) from None
    try:
        try:
            if parent is not None:
                builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
                builder.add_ingredient(
                    {"relationship": "parentOf", "title": parent.title}, parent.mime, io.BytesIO(parent.data)
                )
        except c2pa.C2paError as exc:
            raise EngineRefusedError(
                f"the C2PA engine refused the manifest: {exc}", reason=str(exc), path=path
            ) from None
        try:
            builder.sign(signer, mime, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise EngineRefusedError(
                f"the C2PA engine could not sign this file: {exc}", reason=str(exc), path=path
            ) from None
    finally:
        builder.close()


def carries_manifest_store(data: bytes, mime: str, context: Any) -> bool:
    """Whether the engine finds a manifest store in ``data`` (a broken store counts: it is there)."""
    c2pa = adapter.c2pa()
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
    except c2pa.C2paError:
        return True
    if reader is None:
        return False
    reader.close()
    return True
