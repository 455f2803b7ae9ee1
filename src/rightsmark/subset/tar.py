"""Filtered copies of tar shards: whole WebDataset samples, streamed member by member.

Samples as WebDataset reads them: a member's sample key (``__key__``) is its directory and its base
name up to the first dot (``d/000001.jpg``, ``d/000001.json`` and ``d/000001.seg.png`` are sample
``d/000001``), and a sample is a run of consecutive members with one key. A member whose base name has
no dot after its first character belongs to no sample (WebDataset skips it) and is never copied.

The shard is read twice through the one descriptor it was opened with, decompressed by the shard
reader's own checks (:mod:`rightsmark.sources.tar`: gzip, bzip2 and xz checksums; a missing tar end
marker is truncation). First the member headers (a plain local shard: headers only, the data seeked
over) and the first bytes of members whose names do not say image, which decides every sample; then the
members, each checked against the first pass (a change stops the copy) and those of kept samples
written to the copy. Memory holds the member names, never a member.

What becomes of a sample, the first rule that applies:

- refused: two members of the shard share one of its names, two of its members differ only in the
  case of their extension or its key occurs in two runs (WebDataset would make two samples of one key),
  a member is a link, device or FIFO, or has an unsafe name (absolute, with ``..``, a control character);
- unmatched: an image member (regular, and its bytes or name say image as verify reads them, or the
  report has a record for it) without exactly one record, or whose record's sample key is another;
- dropped: a record of one of its images says drop;
- no image: it holds no image (only sidecars): nothing vouches for it;
- kept: every member is copied as it is (name, bytes, mode, time, owner), in order.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from rightsmark.media.formats import HEADER_BYTES, sniff
from rightsmark.sources.guard import escape_key

# the shard reader's stream checks, shared so that a shard reads the same to verify and to filter
from rightsmark.sources.samples import IMAGE_EXTENSIONS, wds_key
from rightsmark.sources.tar import _decompressed, _header_class, unsafe_name
from rightsmark.subset.report import AMBIGUOUS, Covered
from rightsmark.subset.results import Counts, FilterInputError


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int
    kind: str  # "file", "dir" or "other"
    image: bool


def sample_key(name: str) -> str | None:
    """The WebDataset ``__key__`` of a member (:func:`rightsmark.sources.samples.wds_key`); None without one."""
    key = wds_key(name)
    return None if key == name else key


def _kind(info: tarfile.TarInfo) -> str:
    return "file" if info.isreg() else "dir" if info.isdir() else "other"


def _damaged(shard: str, why: object) -> FilterInputError:
    return FilterInputError(
        f"corrupt or truncated shard: {why}; no copy of it written", path=shard, hint="verify and filter an intact copy"
    )


def _open(fh: IO[bytes], ended: list[str], *, headers_only: bool) -> tuple[tarfile.TarFile, Any]:
    stream = _decompressed(fh)
    mode = "r:" if headers_only and stream is fh and fh.seekable() else "r|"
    return tarfile.open(fileobj=stream, mode=mode, tarinfo=_header_class(ended)), stream  # type: ignore[call-overload]


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (info := archive.next()) is not None:
        archive.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every header read; not needed here
        yield info


def _drain(stream: Any, fh: IO[bytes]) -> None:
    """Read a compressed stream to its end: its checksum and length are verified there."""
    if stream is not fh:
        while stream.read(1 << 16):
            pass


def survey(fh: IO[bytes], shard: str) -> list[Member]:
    """Every member of the shard, in order, from a pass over its headers; raises on damage."""
    ended: list[str] = []
    found: list[Member] = []
    try:
        archive, stream = _open(fh, ended, headers_only=True)
        with archive:
            for info in _members(archive):
                image = False
                if info.isreg():
                    image = os.path.splitext(info.name)[1].lower() in IMAGE_EXTENSIONS
                    if not image:
                        data = archive.extractfile(info)
                        image = data is not None and sniff(data.read(HEADER_BYTES), info.name) is not None
                found.append(Member(info.name, info.size, _kind(info), image))
            _drain(stream, fh)
    except Exception as exc:  # anything a damaged stream raises
        raise _damaged(shard, exc) from None
    finally:
        fh.seek(0)
    if ended:
        raise _damaged(shard, ended[-1])
    return found


def plan(members: list[Member], covered: Covered) -> tuple[list[bool], Counts]:
    """Which members to copy, and the samples counted by what becomes of them (see the module docstring)."""
    counts = Counts()
    names = Counter(m.name for m in members if m.kind != "dir")
    runs: list[tuple[str, list[int]]] = []
    for index, member in enumerate(members):
        if member.kind == "dir":
            continue
        key = sample_key(member.name)
        if key is None:
            counts.outside += 1
        elif runs and runs[-1][0] == key:
            runs[-1][1].append(index)
        else:
            runs.append((key, [index]))
    split = {key for key, n in Counter(key for key, _ in runs).items() if n > 1}
    copy = [False] * len(members)
    for key, indexes in runs:
        group = [members[i] for i in indexes]
        verdict = _decide(key, group, names, key in split, covered)
        setattr(counts, verdict, getattr(counts, verdict) + 1)
        if verdict == "kept":
            for i in indexes:
                copy[i] = True
    counts.unclaimed = covered.whole + sum(1 for name in covered.by_name if name not in names)
    return copy, counts


def _unsafe(member: Member, names: Counter[str]) -> bool:
    name = member.name
    return names[name] > 1 or member.kind != "file" or unsafe_name(name) or escape_key(name) != name


def _decide(key: str, group: list[Member], names: Counter[str], split: bool, covered: Covered) -> str:
    extensions = Counter(m.name[len(key) + 1 :].lower() for m in group)  # WebDataset lower-cases them
    if split or max(extensions.values()) > 1 or any(_unsafe(m, names) for m in group):
        return "refused"
    entries = [covered.by_name.get(m.name) for m in group if m.image or m.name in covered.by_name]
    if not entries:
        return "no_image"
    if any(e is None or e is AMBIGUOUS or (e.key is not None and e.key != key) for e in entries):
        return "unmatched"
    return "kept" if all(e is not None and e.keep for e in entries) else "dropped"


def compression(name: str) -> str:
    """The compression a shard named ``name`` is written with: ``gz``, ``bz2``, ``xz`` or none."""
    lowered = name.lower()
    for suffixes, method in (((".gz", ".tgz"), "gz"), ((".bz2", ".tbz2"), "bz2"), ((".xz", ".txz"), "xz")):
        if lowered.endswith(suffixes):
            return method
    return ""


@contextlib.contextmanager
def _writer(dest: IO[bytes], method: str) -> Iterator[tarfile.TarFile]:
    with contextlib.ExitStack() as stack:
        sink: Any = dest
        if method == "gz":
            import gzip

            sink = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=dest, mtime=0))
        elif method == "bz2":
            import bz2

            sink = stack.enter_context(bz2.BZ2File(dest, "wb"))
        elif method == "xz":
            import lzma

            sink = stack.enter_context(lzma.LZMAFile(dest, "wb"))
        with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as out:
            yield out


def _copy_of(info: tarfile.TarInfo) -> tarfile.TarInfo:
    out = tarfile.TarInfo(info.name)
    out.size, out.mtime, out.mode, out.type = info.size, info.mtime, info.mode, tarfile.REGTYPE
    out.uid, out.gid, out.uname, out.gname = info.uid, info.gid, info.uname, info.gname
    return out


def copy(fh: IO[bytes], shard: str, members: list[Member], keep: list[bool], dest: IO[bytes], method: str) -> None:
    """Write the members marked in ``keep`` to ``dest`` as a tar shard, reading ``fh`` once more."""
    ended: list[str] = []
    index = 0
    try:
        archive, stream = _open(fh, ended, headers_only=False)
        with archive, _writer(dest, method) as out:
            for info in _members(archive):
                planned = members[index] if index < len(members) else None
                if planned is None or (planned.name, planned.size, planned.kind) != (info.name, info.size, _kind(info)):
                    raise _changed(shard, info.name)
                if keep[index]:
                    data = archive.extractfile(info)
                    if data is None or (not planned.image and sniff(data.peek(HEADER_BYTES)[:HEADER_BYTES], info.name)):  # type: ignore[attr-defined]
                        raise _changed(shard, info.name)
                    out.addfile(_copy_of(info), data)
                index += 1
            _drain(stream, fh)
    except FilterInputError:
        raise
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # writing the copy (a full disk) or reading
            raise
        raise _damaged(shard, exc) from None
    if ended:
        raise _damaged(shard, ended[-1])
    if index != len(members):
        raise _changed(shard, None)


def _changed(shard: str, name: str | None) -> FilterInputError:
    where = f" at member {name!r}" if name is not None else ""
    return FilterInputError(f"the shard changed while being read{where}; no copy of it written", path=shard)


def filter_shard(fh: IO[bytes], shard: str, covered: Covered, dest: IO[bytes], method: str) -> Counts:
    """Copy the samples of the shard open as ``fh`` that the report kept into ``dest``; the counts."""
    members = survey(fh, shard)
    keep, counts = plan(members, covered)
    copy(fh, shard, members, keep, dest, method)
    return counts
