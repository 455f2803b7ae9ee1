"""WebDataset-style tar shards, streamed member by member (nothing is extracted to disk).

The shard is read once, front to back, with :mod:`tarfile` in stream mode ``r|`` (after gzip, bzip2
or xz decompression, recognised from the first bytes, done by the standard decompressors so the
compressed stream's checksum is verified), from a local file or an fsspec file object, so a shard in
object storage is never downloaded whole. Keys are ``f"{shard}/{member.name}"`` with the shard exactly as given.

Which members are yielded: regular files whose first bytes look like an image
(:func:`rightsmark.formats.sniff`) or whose name has an image extension (so a damaged ``.jpg`` is
still reported, as an error, by the verifier). Everything else, notably the WebDataset sidecars
next to each image (``.json``, ``.txt``, ``.cls``, ``.cbor``, ...), is skipped: those are captions
and labels, not images. Directories, links and devices are skipped too.

A corrupt or truncated shard yields every member read completely before the damage, then exactly
one item with ``error`` set (keyed by the member being read, or by the shard when the damage is
between members) and stops; no exception escapes and nothing is lost silently. A shard that ends
without the tar end-of-archive marker counts as truncated: tarfile itself would accept it silently.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

from rightsmark.formats import HEADER_BYTES, sniff
from rightsmark.sources.base import Item
from rightsmark.sources.remote import is_url, open_url

#: Extensions yielded even when the bytes do not look like an image (the verifier then reports why).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".tif", ".tiff", ".dng", ".avif", ".heic", ".heif", ".jxl"}
    | {".svg"}
)

#: Suffixes recognised as tar shards by :func:`rightsmark.sources.open_sources`.
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


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


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"corrupt or truncated shard: {text}"


class TarSource:
    """The image members of one tar shard (local path or fsspec URL)."""

    def __init__(self, shard: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> None:
        self.shard = os.fspath(shard)
        self.storage_options = dict(storage_options or {})

    def __iter__(self) -> Iterator[Item]:
        try:
            handle = open_url(self.shard, self.storage_options) if is_url(self.shard) else open(self.shard, "rb")  # noqa: SIM115
        except FileNotFoundError:
            yield Item(key=self.shard, error="no such file")
            return
        except IsADirectoryError:
            yield Item(key=self.shard, error="is a directory where a tar shard was expected")
            return
        except Exception as exc:  # any storage backend error: reported, never raised
            yield Item(key=self.shard, error=f"cannot open shard: {exc}")
            return
        with handle as fh:
            yield from self._members(fh)

    def _members(self, fh: IO[bytes]) -> Iterator[Item]:
        ended: list[str] = []
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
                        if stream is not fh:
                            # read the compressed stream to its end: its checksum and length are verified there
                            while stream.read(1 << 16):
                                pass
                        break
                    current = member.name
                    item = self._read(archive, member)
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

    def _read(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> Item | None:
        if not member.isreg():
            return None
        stream = archive.extractfile(member)
        if stream is None:
            return None
        head = stream.read(HEADER_BYTES)
        name = member.name
        if sniff(head, name) is None and os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            return None  # a sidecar (caption, label, metadata): skipped without reading the rest
        data = head + stream.read()
        if len(data) != member.size:
            raise tarfile.ReadError(f"unexpected end of data in {name}")
        return Item(key=f"{self.shard}/{name}", data=data)
