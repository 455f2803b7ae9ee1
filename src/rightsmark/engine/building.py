"""Building and signing a manifest through the engine: a callback signer for a key, a manifest built from its
definition (with an edit's parent as ingredient), the signed bytes, and the engine's refusals as typed errors.

The private key never reaches the engine: it calls back into
:meth:`~rightsmark.keys.material.SigningMaterial.sign` for each signature. ``c2pa`` is loaded on first use
(through :func:`rightsmark.engine.adapter.c2pa`), so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Sequence
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


#: What :func:`sign_manifest` signs: the image's bytes, or its parts in order (a new header, then the rest).
Content = bytes | Sequence[bytes | memoryview]


def sign_manifest(
    definition: dict[str, Any],
    data: Content,
    mime: str,
    out: IO[bytes],
    *,
    signer: Any,
    context: Any,
    parent: ParentIngredient | None = None,
    path: str | Path | None = None,
) -> None:
    """Build the manifest ``definition`` (the Builder JSON, as a dict) and sign ``data`` with it into ``out``.

    ``data`` given as parts is read as their concatenation, never joined in memory. ``out`` receives
    the signed file as the engine writes it (a file: no copy of it is held here); an error writing to
    it is raised as the :class:`OSError` itself (its errno intact), not as the engine's opaque report.
    With ``parent`` the manifest is an edit (the engine adds ``c2pa.opened`` for the parent).
    A manifest the engine refuses, or a file it cannot sign, is an :class:`EngineRefusedError` naming ``path``.
    """
    c2pa = adapter.c2pa()
    try:
        builder = c2pa.Builder.from_json(definition, context=context)
    except c2pa.C2paError as exc:
        raise EngineRefusedError(f"the C2PA engine refused the manifest: {exc}", reason=str(exc), path=path) from None
    source = io.BytesIO(data) if isinstance(data, bytes) else SplicedReader(data)
    sink = _Sink(out)
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
            builder.sign(signer, mime, source, sink)
        except c2pa.C2paError as exc:
            if sink.error is not None:
                raise sink.error from None
            raise EngineRefusedError(
                f"the C2PA engine could not sign this file: {exc}", reason=str(exc), path=path
            ) from None
    finally:
        builder.close()


class SplicedReader:
    """A read-only, seekable stream over buffers one after another: an image's new header followed by
    the untouched rest of its bytes, read by the engine without the two ever being joined in memory."""

    def __init__(self, parts: Sequence[bytes | memoryview]) -> None:
        self._parts = [memoryview(p).cast("B") for p in parts if len(p)]
        self._ends: list[int] = []
        end = 0
        for part in self._parts:
            end += len(part)
            self._ends.append(end)
        self._size = end
        self._pos = 0

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target) and self._pos < self._size:
            index = bisect.bisect_right(self._ends, self._pos)
            part = self._parts[index]
            offset = self._pos - (self._ends[index] - len(part))
            n = min(len(target) - done, len(part) - offset)
            target[done : done + n] = part[offset : offset + n]
            done += n
            self._pos += n
        return done

    def read(self, size: int = -1) -> bytes:
        want = self._size - self._pos if size is None or size < 0 else min(size, self._size - self._pos)
        buffer = bytearray(max(want, 0))
        return bytes(buffer[: self.readinto(buffer)])

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("read-only")

    def flush(self) -> None:
        return None


class _Sink:
    """``out`` as the engine's destination, keeping the first :class:`OSError` (the engine only reports
    that the write callback failed)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._out.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            self._out.flush()
        except OSError as exc:
            self.error = self.error or exc
            raise

    def read(self, size: int = -1) -> bytes:
        return self._out.read(size)

    def readinto(self, buffer: Any) -> int:
        n: int = self._out.readinto(buffer)  # type: ignore[attr-defined]
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._out.seek(offset, whence)

    def tell(self) -> int:
        return self._out.tell()


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
