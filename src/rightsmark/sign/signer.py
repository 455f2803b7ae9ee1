"""Signing: one file at a time, atomically, never touching the input.

:class:`Signer` holds the key material and one engine context; it signs any number of
files. Output is first written to a hidden temporary file beside the destination and
then linked into place, so a crash or an engine error never leaves a partial file and
an existing file is never replaced unless ``force`` is given.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rightsmark._version import __version__
from rightsmark.engine import adapter as engine
from rightsmark.engine.building import (
    Content,
    ParentIngredient,
    carries_manifest_store,
    engine_signer,
    sign_manifest,
)
from rightsmark.engine.reading import TRUST_CODES, EngineReading, read_manifest_store
from rightsmark.errors import InputError, OutputExistsError, UnsupportedFormatError, UsageError
from rightsmark.keys.material import SigningMaterial
from rightsmark.media.formats import SIGNABLE, ImageFormat, jpeg_scan_start, sniff, structural_problem
from rightsmark.models import Integrity, SignResult
from rightsmark.rights.manifest import Rights, manifest_definition
from rightsmark.sign.output import PendingOutput, Placement, write_pending

if TYPE_CHECKING:
    from rightsmark.softbinding.model import SoftBinding

#: The largest input ``sign`` reads (it holds the image in memory): far above any photograph.
MAX_SIGN_INPUT = 4 << 30


def read_input(path: Path) -> tuple[bytes, ImageFormat]:
    """The bytes and format of an image to sign; every problem is an :class:`InputError`."""
    from rightsmark.sources.guard import ItemRefusedError, ItemTooLargeError, format_size, read_regular

    try:
        data = read_regular(str(path), MAX_SIGN_INPUT)  # a FIFO or a device is never opened for a blocking read
    except FileNotFoundError:
        raise InputError("no such file", path=path, hint="check the path") from None
    except IsADirectoryError:
        raise InputError("is a directory where a file was expected", path=path) from None
    except ItemTooLargeError:
        raise InputError(f"larger than {format_size(MAX_SIGN_INPUT)}: too large to sign", path=path) from None
    except ItemRefusedError as exc:
        raise InputError(str(exc), path=path, hint="name the image file itself") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if not data:
        raise InputError("is empty", path=path, hint="export the image again")
    fmt = sniff(data[:64], path)
    if fmt is None or fmt not in SIGNABLE:
        names = ", ".join(f.name.upper() for f in SIGNABLE)
        raise UnsupportedFormatError(
            "is not an image format rightsmark can sign", path=path, hint=f"supported: {names}"
        )
    return data, fmt


def _check_decodes(data: bytes, fmt: ImageFormat, path: Path) -> None:
    """Refuse truncated or corrupt images before signing them (the engine would sign garbage).

    Container formats get a cheap structural walk; TIFF and GIF, which have none, are decoded.
    """
    problem = structural_problem(data, fmt)
    if problem:
        raise InputError(f"is damaged or truncated ({problem})", path=path, hint="export the image again")
    if fmt.name not in {"tiff", "gif"}:
        return
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on stderr about damaged metadata; one error line is enough
            with Image.open(io.BytesIO(data)) as im:
                im.load()
    except UnidentifiedImageError:
        raise InputError(
            "is damaged or truncated (the image data cannot be decoded)", path=path, hint="export the image again"
        ) from None
    except Exception as exc:  # Pillow raises many types for damaged files
        raise InputError(f"is damaged or truncated ({exc})", path=path, hint="export the image again") from None


def validated_parent(data: bytes, path: Path, context: Any) -> EngineReading:
    """The engine's reading of a parent, which must carry a manifest that validates (its ingredients
    too), or the new file's chain is broken from birth; :class:`InputError` otherwise."""
    reading = read_manifest_store(data, path, context, anchors_given=False)
    if reading.integrity is Integrity.ABSENT:
        raise InputError(
            "the parent carries no C2PA manifest",
            path=path,
            hint="sign the original first, then sign the edit with --parent pointing at the signed original",
        )
    problems = [c for c in reading.failure_codes if c not in TRUST_CODES] + list(reading.ingredient_codes)
    if reading.integrity is not Integrity.VALID or reading.ingredient_codes:
        raise InputError(
            f"the parent's manifest does not validate ({', '.join(problems) or reading.message})",
            path=path,
            hint="a chain of custody cannot continue from a tampered or broken file",
        )
    return reading


@dataclass
class SignedPending:
    """A file signed into its temporary, not yet in place: :meth:`finish` moves it there (flushed to
    disk first), :meth:`discard` removes it. Until then the destination is untouched."""

    output: PendingOutput
    result: SignResult

    def finish(self) -> SignResult:
        self.output.finish()
        return self.result

    def discard(self) -> None:
        self.output.discard()


@dataclass
class Signer:
    """Signs files with one key and certificate chain. Reusable; create one per process."""

    material: SigningMaterial
    thumbnail: bool = False
    tsa_url: str | None = None
    xmp: bool = True
    #: record the ISCC image code as a ``c2pa.soft-binding`` assertion
    soft_binding: bool = True
    #: mark the pixels with an invisible watermark (its identifier recorded as a soft binding) before signing
    watermark: bool = False

    def __post_init__(self) -> None:
        if self.tsa_url is not None:
            from rightsmark.keys.timestamps import validate_tsa_url

            self.tsa_url = validate_tsa_url(self.tsa_url)
        self._context = engine.signing_context(thumbnail=self.thumbnail)
        self._signer = engine_signer(self.material, self.tsa_url)

    def sign_file(
        self,
        source: str | Path,
        output: str | Path,
        rights: Rights,
        *,
        parent: str | Path | None = None,
        force: bool = False,
        in_place: bool = False,
        backup: str | Path | None = None,
        keep_times: bool = True,
        widened: tuple[str, ...] = (),
    ) -> SignResult:
        """Sign ``source`` into the file ``output``.

        The source is never modified unless ``in_place`` (then ``output`` must be the source
        itself, replaced atomically, with the original hard-linked to ``backup`` first if given).
        ``keep_times`` gives the output the source's access and modification times. ``widened`` names
        what this edit deliberately allows beyond its parent; it is recorded in the edit action.
        """
        signed = self.sign_pending(
            source,
            output,
            rights,
            parent=parent,
            force=force,
            in_place=in_place,
            backup=backup,
            keep_times=keep_times,
            widened=widened,
        )
        return signed.finish()

    def sign_pending(
        self,
        source: str | Path,
        output: str | Path,
        rights: Rights,
        *,
        parent: str | Path | None = None,
        force: bool = False,
        in_place: bool = False,
        backup: str | Path | None = None,
        keep_times: bool = True,
        widened: tuple[str, ...] = (),
    ) -> SignedPending:
        """:meth:`sign_file` up to the signed temporary beside ``output``: the caller finishes it (a batch
        flushes one file to disk while it signs the next) or discards it."""
        src = Path(source)
        dest = Path(output)
        if in_place and src.is_symlink():
            # sign the link's target in place (atomic replace of the target); the link itself is kept
            src = dest = Path(os.path.realpath(src))
        data, fmt = read_input(src)
        st = src.stat()
        if in_place:
            if not (dest == src or (dest.exists() and os.path.samefile(src, dest))):
                raise UsageError("in-place signing writes to the input itself", path=dest)
            place = Placement(
                dest=src,
                force=force,
                replace=True,
                backup=Path(backup) if backup is not None else None,
                times=(st.st_atime_ns, st.st_mtime_ns) if keep_times else None,
                mode=stat.S_IMODE(st.st_mode),
                expect=(st.st_size, st.st_mtime_ns),
            )
        else:
            self._check_destination(src, dest, force)
            place = Placement(dest=dest, force=force, times=(st.st_atime_ns, st.st_mtime_ns) if keep_times else None)
        _check_decodes(data, fmt, src)
        parent_data: tuple[bytes, ImageFormat] | None = None
        if parent is not None:
            parent_data = read_input(Path(parent))
            validated_parent(parent_data[0], Path(parent), self._context)
        elif self._carries_manifest(data, fmt):
            raise InputError(
                "already carries a C2PA manifest; signing it afresh would discard its chain of custody",
                path=src,
                hint=f"pass --parent {src} to record the signed original as the parent of this version",
            )
        notes: list[str] = []
        bindings: tuple[SoftBinding, ...] = ()
        if self.soft_binding or self.watermark:
            from rightsmark.softbinding.signing import bind

            bound = bind(data, fmt.name, src, fingerprint=self.soft_binding, watermark=self.watermark)
            data, bindings = bound.data, bound.bindings
            notes.extend(bound.notes)
        content = self._with_xmp(data, fmt, rights, src, notes) if self.xmp else data
        definition = manifest_definition(
            rights,
            title=src.name,
            generator=engine.GENERATOR,
            version=__version__,
            edit=parent is not None,
            widened=widened,
        )
        if bindings:
            from rightsmark.softbinding.model import assertions

            definition["assertions"].extend(assertions(bindings))
        ingredient = None
        if parent_data is not None:
            ingredient = ParentIngredient(title=Path(parent or "").name, mime=parent_data[1].mime, data=parent_data[0])

        def write(out: IO[bytes]) -> None:  # the engine writes straight into the temporary
            sign_manifest(
                definition,
                content,
                fmt.mime,
                out,
                signer=self._signer,
                context=self._context,
                parent=ingredient,
                path=src,
            )

        result = SignResult(
            source=str(src), output=str(place.dest), manifest_label=None, format=fmt.name, notes=tuple(notes)
        )
        return SignedPending(write_pending(place, write), result)

    @staticmethod
    def _check_destination(src: Path, dest: Path, force: bool) -> None:
        if not dest.exists():
            return
        if dest.is_dir():
            raise OutputExistsError("is a directory where the output file should go", path=dest)
        with contextlib.suppress(OSError):
            if os.path.samefile(src, dest):
                raise OutputExistsError(
                    "output is the input itself; originals are never modified unless --in-place is given",
                    path=dest,
                    hint="choose another output directory, or pass --in-place (with --backup to keep the original)",
                )
        if not force:
            raise OutputExistsError("output exists", path=dest, hint="pass --force to overwrite")

    def _with_xmp(self, data: bytes, fmt: ImageFormat, rights: Rights, src: Path, notes: list[str]) -> Content:
        """``data`` with author, license and AI-use written as XMP for tools that ignore C2PA (as parts
        of the new file where the image data is not copied: see :func:`rightsmark.rights.xmp.embed_parts`).

        A format XMP is not written into (GIF, AVIF, HEIC, ...) is signed as it is, with a note.
        """
        from rightsmark.rights import xmp

        try:
            result = xmp.embed_parts(data, fmt, xmp.fields_for(rights))
        except xmp.XmpError as exc:
            raise InputError(exc.message, path=src, hint=exc.hint or "or sign with --no-xmp") from None
        if isinstance(result, xmp.NotEmbedded):
            notes.append(f"{src}: XMP not written: {result.reason} (signed with the C2PA manifest only)")
            return data
        return result

    def _carries_manifest(self, data: bytes, fmt: ImageFormat) -> bool:
        """Whether ``data`` embeds a manifest store: a cheap byte scan, confirmed by the engine.

        In a JPEG the store can only be in APP11 segments, before the image data: only the header is scanned.
        """
        end = len(data)
        if fmt.name == "jpeg":
            start = jpeg_scan_start(data)
            end = start if isinstance(start, int) else end
        if data.find(b"c2pa", 0, end) < 0 or data.find(b"jumb", 0, end) < 0:
            return False
        return carries_manifest_store(data, fmt.mime, self._context)

    def close(self) -> None:
        self._signer.close()
        self._context.close()

    def __enter__(self) -> Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sign_file(
    source: str | Path,
    output: str | Path,
    rights: Rights,
    material: SigningMaterial,
    *,
    parent: str | Path | None = None,
    force: bool = False,
    thumbnail: bool = False,
    xmp: bool = True,
    soft_binding: bool = True,
    watermark: bool = False,
) -> SignResult:
    """Sign one file (convenience wrapper around :class:`Signer`)."""
    with Signer(material, thumbnail=thumbnail, xmp=xmp, soft_binding=soft_binding, watermark=watermark) as signer:
        return signer.sign_file(source, output, rights, parent=parent, force=force)
