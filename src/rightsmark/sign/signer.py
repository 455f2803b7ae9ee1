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
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsmark._version import __version__
from rightsmark.engine import adapter as engine
from rightsmark.engine.building import ParentIngredient, carries_manifest_store, engine_signer, sign_manifest
from rightsmark.engine.reading import TRUST_CODES, EngineReading, read_manifest_store
from rightsmark.errors import (
    InputError,
    OutputError,
    OutputExistsError,
    UnsupportedFormatError,
    UsageError,
    disk_full,
)
from rightsmark.keys.material import SigningMaterial
from rightsmark.media.formats import SIGNABLE, ImageFormat, jpeg_scan_start, sniff, structural_problem
from rightsmark.models import Integrity, SignResult
from rightsmark.rights.manifest import Rights, manifest_definition

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


@dataclass(frozen=True)
class Placement:
    """Where a signed file goes and what may happen to what is there.

    ``replace`` names the original being signed in place: the output replaces it atomically
    (after ``backup``, if given, has been hard-linked to it) and only if it is unchanged since
    it was read (``expect``: size and modification time in ns).
    """

    dest: Path
    force: bool = False
    replace: bool = False
    backup: Path | None = None
    times: tuple[int, int] | None = None  # (atime_ns, mtime_ns) given to the output
    mode: int = 0o644
    expect: tuple[int, int] | None = None


def _unchanged(path: Path, expect: tuple[int, int]) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == expect


class NoSpaceError(OutputError):
    """The device holding the output is full (or the user's quota there is spent): the run stops."""

    def __init__(self, where: Path) -> None:
        super().__init__(
            f"no space left on the device holding {where}: free some space and run again"
            " (signed files already written are kept; the re-run skips them)"
        )
        self.where = where


@contextlib.contextmanager
def _atomic_output(place: Placement) -> Iterator[Any]:
    """Yield a writable temp file beside the destination; on success move it into place, else remove it.

    A full device anywhere on the way is a :class:`NoSpaceError`, and nothing partial is left."""
    try:
        with _atomic_output_inner(place) as fh:
            yield fh
    except OSError as exc:
        if disk_full(exc):
            raise NoSpaceError(place.dest.parent) from None
        raise


@contextlib.contextmanager
def _atomic_output_inner(place: Placement) -> Iterator[Any]:
    dest = place.dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        from rightsmark.files import temp_prefix  # .NAME.PID.XXXXXXXX.part: a later run can sweep it if killed

        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=".part", dir=dest.parent)
    except OSError as exc:
        if disk_full(exc):
            raise NoSpaceError(dest.parent) from None
        raise OutputError(
            f"cannot write output into this directory: {exc.strerror}", path=dest.parent, hint="check -o"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, place.mode)
        if place.times is not None:
            os.utime(tmp, ns=place.times)
        if place.replace:
            _replace_original(tmp, place)
        elif place.force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # atomic and refuses to clobber a file that appeared meanwhile
            except FileExistsError:
                raise OutputExistsError("output exists", path=dest, hint="pass --force to overwrite") from None
            except OSError:
                # filesystems without hard links (some network and FAT mounts): check, then rename
                if dest.exists():
                    raise OutputExistsError("output exists", path=dest, hint="pass --force to overwrite") from None
                os.replace(tmp, dest)
            tmp.unlink(missing_ok=True)
    finally:
        if tmp.exists():
            tmp.unlink()


def _replace_original(tmp: Path, place: Placement) -> None:
    """Swap the signed temp file in for the original; the original survives every failure before the swap."""
    dest = place.dest
    if place.expect is not None and not _unchanged(dest, place.expect):
        raise InputError("changed while it was being signed; left as it was", path=dest, hint="run again")
    if place.backup is not None:
        if place.backup.exists() and place.force:
            place.backup.unlink()
        try:
            os.link(dest, place.backup)  # the original's bytes stay reachable under the backup name
        except FileExistsError:
            raise OutputExistsError(
                "backup exists; the original was left unsigned", path=place.backup, hint="move the old backup away"
            ) from None
        except OSError:
            import shutil

            if place.backup.exists():
                raise OutputExistsError("backup exists", path=place.backup, hint="move the old backup away") from None
            try:
                shutil.copy2(dest, place.backup)
            except OSError:
                place.backup.unlink(missing_ok=True)  # never a partial backup; the original is untouched
                raise
    os.replace(tmp, dest)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass
class Signer:
    """Signs files with one key and certificate chain. Reusable; create one per process."""

    material: SigningMaterial
    thumbnail: bool = False
    tsa_url: str | None = None
    xmp: bool = True

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
        if self.xmp:
            data = self._with_xmp(data, fmt, rights, src, notes)
        definition = manifest_definition(
            rights,
            title=src.name,
            generator=engine.GENERATOR,
            version=__version__,
            edit=parent is not None,
            widened=widened,
        )
        ingredient = None
        if parent_data is not None:
            ingredient = ParentIngredient(title=Path(parent or "").name, mime=parent_data[1].mime, data=parent_data[0])
        signed = io.BytesIO()
        # into memory: the engine's own write errors are opaque ("Io: Other: ..."); ours carry errno
        sign_manifest(
            definition, data, fmt.mime, signed, signer=self._signer, context=self._context, parent=ingredient, path=src
        )
        with _atomic_output(place) as out:
            out.write(signed.getbuffer())
        return SignResult(
            source=str(src), output=str(place.dest), manifest_label=None, format=fmt.name, notes=tuple(notes)
        )

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

    def _with_xmp(self, data: bytes, fmt: ImageFormat, rights: Rights, src: Path, notes: list[str]) -> bytes:
        """``data`` with author, license and AI-use written as XMP for tools that ignore C2PA.

        A format XMP is not written into (GIF, AVIF, HEIC, ...) is signed as it is, with a note.
        """
        from rightsmark.rights import xmp

        try:
            result = xmp.embed(data, fmt, xmp.fields_for(rights))
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
) -> SignResult:
    """Sign one file (convenience wrapper around :class:`Signer`)."""
    with Signer(material, thumbnail=thumbnail, xmp=xmp) as signer:
        return signer.sign_file(source, output, rights, parent=parent, force=force)
