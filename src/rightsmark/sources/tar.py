"""WebDataset-style tar shards, streamed member by member (nothing is extracted to disk).

The shard is read once, front to back, with :mod:`tarfile` in stream mode ``r|`` (after gzip, bzip2
or xz decompression, recognised from the first bytes, done by the standard decompressors so the
compressed stream's checksum is verified), from a local file or an fsspec file object, so a shard in
object storage is never downloaded whole. Keys are ``f"{shard}/{member.name}"`` with the shard exactly as given.

Which members are images: regular files whose first bytes look like an image
(:func:`rightsmark.media.formats.sniff`) or whose name has an image extension (so a damaged ``.jpg`` is
still reported, as an error, by the verifier). Everything else, notably the WebDataset sidecars next to
each image (``.json``, ``.txt``, ``.cls``, ``.cbor``, ...), is yielded unread with the role ``sidecar``
(its sample holds an image) or ``other`` (:attr:`rightsmark.sources.base.Item.role`; callers of
:func:`~rightsmark.sources.open_sources` never see them unless they ask); with ``sidecars=True`` they are
read and yielded with their bytes, under the same refusals (a reader of whole samples,
:func:`rightsmark.ray.read_shards`). Directories are skipped.

Samples follow the WebDataset conventions (:mod:`rightsmark.sources.samples`): each item names its
shard as given and its ``__key__``; consecutive members with one key are one sample, and the ``.json``
member of a sample (the first pass reads it, at most 1 MiB) gives every image of it its URL and sidecar
values (:mod:`rightsmark.sources.sidecars`), whether it comes before or after them.

Members that are refused, each with an error item (never kept):

* symbolic links, hard links, devices and FIFOs (the item names what the member is);
* unsafe names: absolute (``/abs/y.jpg``) or with a ``..`` component (``../../x.jpg``);
* duplicate names: when two or more members of one shard share a name, every one of them is
  dropped with the reason code ``duplicate-key``, the first included. The shard is read twice to
  know this before the first record streams out: once for the member headers and ``.json`` sidecars
  (:meth:`TarSource.survey`), then for the members;
* members larger than the maximum item size (the member header tells; the data is skipped unread);
* names holding control characters (see :func:`rightsmark.sources.base.checked`).

A corrupt or truncated shard yields every member read completely before the damage, then exactly
one item with ``error`` set (keyed by the member being read, or by the shard when the damage is
between members) and stops; no exception escapes and nothing is lost silently. A shard that ends
without the tar end-of-archive marker counts as truncated, and a corrupt member header (bad checksum) or
anything but zeros after the end-of-archive marker (a zeroed header) as corrupt: tarfile itself would end
the archive there silently. The images of the sample being read when the damage came carry an unreadable
sidecar value: their ``.json`` may have been lost with it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from rightsmark.media.formats import HEADER_BYTES, sniff
from rightsmark.models import Sample, SignalSource
from rightsmark.sources.base import (
    DUPLICATE_KEY,
    IMAGE,
    OTHER,
    SIDECAR,
    SPECS,
    Item,
    SidecarValue,
    Skip,
    WorkUnit,
    checked,
)
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, ItemRefusedError, open_regular, too_large
from rightsmark.sources.samples import IMAGE_EXTENSIONS, wds_key, wds_suffix
from rightsmark.sources.sidecars import MAX_SIDECAR_BYTES, from_json, merged, unreadable
from rightsmark.sources.storage import credentials_problem, is_url, open_url

#: What an image of a sample whose sidecars the survey could not reach carries (see :class:`_Survey`).
CUT_SAMPLE = "the shard is damaged at or before this sample's sidecars, which may be missing"


_SIDECAR_SOURCE = SignalSource.SIDECAR


class _Runs:
    """Samples as WebDataset groups them: consecutive members with the same ``__key__``, numbered."""

    def __init__(self) -> None:
        self.index = -1
        self.key: str | None = None

    def see(self, name: str) -> tuple[int, str]:
        key = wds_key(name)
        if key != self.key:
            self.index += 1
            self.key = key
        return self.index, key


@dataclass
class _Survey:
    """What a first pass over a shard learns before the first item streams out."""

    duplicates: frozenset[str] = frozenset()
    #: the ``.json`` sidecars of each sample (by its number in the shard): their URL and values
    sidecars: dict[int, list[tuple[str | None, tuple[SidecarValue, ...]]]] = field(default_factory=dict)
    #: samples with a member named like an image
    image_runs: set[int] = field(default_factory=set)
    #: None when the pass read the whole shard; else the sample being read when it stopped (-1: none read)
    cut: int | None = None

    def sidecar(self, run: int, where: str) -> tuple[str | None, tuple[SidecarValue, ...]]:
        url, values = merged(self.sidecars.get(run, ()))
        if self.cut is not None and run >= self.cut:
            values += (unreadable(CUT_SAMPLE, _SIDECAR_SOURCE, where),)
        return url, values


#: Suffixes recognised as tar shards by :func:`rightsmark.sources.open_sources`.
def _header_class(ended: list[str]) -> type[tarfile.TarInfo]:
    """A TarInfo that notes how the archive ended: tarfile treats a missing end marker as a normal end."""

    class Header(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, archive: tarfile.TarFile) -> Header:
            try:
                return super().fromtarfile(archive)
            except tarfile.HeaderError as exc:
                # EmptyHeaderError: no bytes left; TruncatedHeaderError: part of a header. Neither is public API.
                name = type(exc).__name__
                if name == "EmptyHeaderError":
                    ended.append("the shard ends without the tar end-of-archive marker; truncated?")
                elif name == "TruncatedHeaderError":
                    ended.append("the shard ends inside a member header; truncated")
                elif name == "InvalidHeaderError":  # tarfile ends the archive there without a word
                    ended.append(f"a corrupt member header ({exc}); the members after it are not read")
                raise

    return Header


def _decompressed(fh: IO[bytes]) -> IO[bytes] | _Salvaging:
    """``fh`` decompressed (gzip, bzip2, xz, recognised by their magic bytes) or as it is.

    The decompressors of :mod:`gzip`, :mod:`bz2` and :mod:`lzma` check the stream's end and checksum,
    which tarfile's own stream mode (``r|*``) does not: a shard cut inside the compressed trailer, or
    with a corrupted byte, is reported instead of passing silently.
    """
    head = fh.read(6)
    fh.seek(0)
    if head.startswith(b"\x1f\x8b"):
        import gzip

        return _Salvaging(gzip.GzipFile(fileobj=fh, mode="rb"))
    if head.startswith(b"BZh"):
        import bz2

        return _Salvaging(bz2.BZ2File(fh))
    if head.startswith(b"\xfd7zXZ\x00"):
        import lzma

        return _Salvaging(lzma.LZMAFile(fh))
    return fh


class _Salvaging(io.RawIOBase):
    """A decompressed stream that hands over every byte decoded before an error, then raises the error.

    A plain ``read(n)`` of the decompressors drops what it decoded when the input ends early; reading
    with ``read1`` and keeping the error for the next call lets the members just before a truncation
    be yielded normally.
    """

    def __init__(self, inner: Any) -> None:  # GzipFile, BZ2File or LZMAFile: anything with read1
        super().__init__()
        self._inner = inner
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        want = -1 if size is None else size
        chunks: list[bytes] = []
        got = 0
        while want < 0 or got < want:
            try:
                chunk: bytes = self._inner.read1(want - got if want >= 0 else 1 << 16)
            except Exception as exc:
                self._error = exc
                break
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if not chunks and self._error is not None:
            raise self._error
        return b"".join(chunks)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _json_sidecar(
    archive: tarfile.TarFile, member: tarfile.TarInfo, where: str
) -> tuple[str | None, tuple[SidecarValue, ...]]:
    if member.size > MAX_SIDECAR_BYTES:
        return from_json(None, where, error=f"larger than {MAX_SIDECAR_BYTES} bytes")
    stream = archive.extractfile(member)
    data = stream.read(member.size) if stream is not None else None
    return from_json(data, where, error="cannot be read")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"corrupt or truncated shard: {text}"


class TarSource:
    """The image members of one tar shard (local path or fsspec URL)."""

    def __init__(
        self,
        shard: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
        sidecars: bool = False,
    ) -> None:
        self.shard = os.fspath(shard)
        self.storage_options = dict(storage_options or {})
        self.max_item_size = max_item_size
        self.sidecars = sidecars
        self._survey = _Survey()

    def _open(self) -> IO[bytes]:
        if is_url(self.shard):
            return open_url(self.shard, self.storage_options)
        fd, _ = open_regular(self.shard, 1 << 62)  # a FIFO or device named as a shard is refused, not read
        return open(fd, "rb")

    def duplicate_names(self, fh: IO[bytes] | None = None) -> frozenset[str]:
        """Member names (directories aside) that occur more than once (see :meth:`survey`)."""
        return self.survey(fh).duplicates

    def survey(self, fh: IO[bytes] | None = None) -> _Survey:
        """A pass over ``fh`` (left at its start again) or the shard opened anew: duplicate member names
        (directories aside), the ``.json`` sidecars of each sample, the samples holding an image.

        The member headers are read, and the data of ``.json`` members only (a local uncompressed shard:
        other data is seeked over; a compressed or streamed one is decompressed once more). Damage is not
        reported here (the pass over the members does): what was read before it counts, and the sample
        being read when it stopped, and any after it, are marked :data:`CUT_SAMPLE`."""
        counts: Counter[str] = Counter()
        found = _Survey()
        runs = _Runs()
        ended: list[str] = []
        try:
            with contextlib.nullcontext(fh) if fh is not None else self._open() as handle:
                stream = _decompressed(handle)
                mode = "r:" if stream is handle and handle.seekable() else "r|"
                header = _header_class(ended)
                with tarfile.open(fileobj=stream, mode=mode, tarinfo=header) as archive:  # type: ignore[call-overload]
                    for member in archive:
                        if member.isdir():
                            continue
                        counts[member.name] += 1
                        run, _ = runs.see(member.name)
                        suffix = wds_suffix(member.name)
                        if os.path.splitext(member.name)[1].lower() in IMAGE_EXTENSIONS:
                            found.image_runs.add(run)
                        elif suffix == "json" and member.isreg():
                            where = f"sidecar {self.shard}/{member.name}"
                            found.sidecars.setdefault(run, []).append(_json_sidecar(archive, member, where))
                    if stream is not handle:
                        while stream.read(1 << 16):  # to the end: the compressed stream's checksum
                            pass
            if ended:
                found.cut = runs.index
        except Exception:  # the main pass reports the damage
            found.cut = runs.index
        finally:
            if fh is not None:
                fh.seek(0)
        found.duplicates = frozenset(name for name, n in counts.items() if n > 1)
        return found

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """One unit, the whole shard: its duplicate names are known only to a reader of all of it."""
        yield WorkUnit(SPECS, (self.shard,), whole=True)

    def __iter__(self) -> Iterator[Item]:
        try:
            if is_url(self.shard):
                self._survey = self.survey()  # a URL is opened once for each pass
                handle = self._open()
            else:
                # a local shard (a regular file) is read twice through the one descriptor opened here, so the
                # members read are the ones whose names were counted even if the path is replaced meanwhile
                handle = self._open()
                self._survey = self.survey(handle)
        except FileNotFoundError:
            yield Item(key=self.shard, error="no such file")
            return
        except IsADirectoryError:
            yield Item(key=self.shard, error="is a directory where a tar shard was expected")
            return
        except OSError as exc:
            message = str(exc) if isinstance(exc, ItemRefusedError) else f"cannot open shard: {exc.strerror or exc}"
            yield Item(key=self.shard, error=message)
            return
        except Exception as exc:  # any storage backend error: reported, never raised
            credentials_problem(exc, self.shard)
            yield Item(key=self.shard, error=f"cannot open shard: {exc}")
            return
        with handle as fh:
            yield from checked(self._members(fh))

    def _members(self, fh: IO[bytes]) -> Iterator[Item]:
        ended: list[str] = []
        runs = _Runs()
        try:
            stream = _decompressed(fh)
            archive = tarfile.open(fileobj=stream, mode="r|", tarinfo=_header_class(ended))  # noqa: SIM115 (with below)
        except Exception as exc:
            yield Item(key=self.shard, error=_describe(exc))
            return
        with archive:
            while True:
                current: str | None = None
                try:
                    member = archive.next()
                    if member is None:
                        # read to the end (a compressed stream's checksum and length are verified there): only
                        # zeros may follow the end-of-archive marker, or a zeroed member header hid the rest
                        if _trailing_data(archive) and not ended:
                            ended.append("data after the end-of-archive marker (a zeroed member header?); not read")
                        break
                    current = member.name
                    item = self._read(archive, member, runs)
                except Exception as exc:
                    # Anything a damaged stream raises (tarfile.ReadError, EOFError, gzip.BadGzipFile, zlib.error,
                    # lzma.LZMAError, OSError from the storage backend): one error item, then stop.
                    key = f"{self.shard}/{current}" if current is not None else self.shard
                    yield Item(key=key, error=_describe(exc))
                    return
                if item is not None:
                    yield item
        if ended:
            yield Item(key=self.shard, error=f"corrupt or truncated shard: {ended[-1]}")

    def _read(self, archive: tarfile.TarFile, member: tarfile.TarInfo, runs: _Runs) -> Item | None:
        name = member.name
        key = f"{self.shard}/{name}"
        if member.isdir():
            return None
        run, sample_key = runs.see(name)
        url, values = self._survey.sidecar(run, f"sidecar {key}")
        sample = Sample(self.shard, sample_key, "__key__", None, url)
        if not member.isreg():
            error = f"{_member_kind(member)}; only regular members are read, never kept"
            return Item(key=key, error=error, sample=sample)
        stream = archive.extractfile(member)
        if stream is None:
            return None
        head = stream.peek(HEADER_BYTES)[:HEADER_BYTES]  # type: ignore[attr-defined]  # not consumed: the data is read below in one piece
        if sniff(head, name) is None and os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            # a sidecar (caption, label, metadata): not read here (a .json one was read by the survey),
            # unless whole samples are asked for (then read below, like an image)
            role = SIDECAR if run in self._survey.image_runs else OTHER
            if not self.sidecars:
                what = f"of sample {sample_key!r}, read as its metadata" if role == SIDECAR else "beside the images"
                return Item(key=key, error=f"not an image: a member {what}; not verified", role=role, sample=sample)
        else:
            role = IMAGE
            self._survey.image_runs.add(run)
        if name in self._survey.duplicates:
            return Item(
                key=key,
                error=f"duplicate key: several members of the shard are named {name!r}; all of them are dropped",
                reason=DUPLICATE_KEY,
                sample=sample,
            )
        if unsafe_name(name):
            error = "unsafe member name (absolute or with '..'); refused, never kept: rename it"
            return Item(key=key, error=error, sample=sample)
        if member.size > self.max_item_size:
            return Item(key=key, error=too_large(member.size, self.max_item_size), sample=sample)
        data = stream.read(member.size)
        if len(data) != member.size:
            raise tarfile.ReadError(f"unexpected end of data in {name}")
        return Item(key=key, data=data, sample=sample, sidecar=values, role=role)


def _trailing_data(archive: tarfile.TarFile) -> bool:
    """Whether anything but zeros follows where tarfile stopped reading (the stream is read to its end)."""
    found = False
    while chunk := archive.fileobj.read(1 << 16):
        found = found or chunk.count(0) != len(chunk)
    return found


def unsafe_name(name: str) -> bool:
    """A member name that is absolute or climbs out with ``..`` (it would name a file outside the shard)."""
    return name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/")


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link member (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link member (to {member.linkname!r})"
    if member.ischr():
        return "a character device member"
    if member.isblk():
        return "a block device member"
    if member.isfifo():
        return "a FIFO member"
    return "a special member (not a regular file)"
