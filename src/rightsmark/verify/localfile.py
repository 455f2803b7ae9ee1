"""Facts of a local file, with the engine reading the file itself: no copy of its bytes passes through Python.

Reading a 12 MP JPEG into a bytes object and handing the engine a stream over it costs a fresh multi-megabyte
allocation (page faults) and a copy, on top of the engine's own reads. Here the engine reads the descriptor
that was checked (:class:`~rightsmark.engine.local.LocalFile`: ``os.pread`` into the engine's buffer, never
past the checked size), and Python reads only what it needs:

* a JPEG: its header segments, up to its scan data (format, manifest marker, XMP packet: everything C2PA and
  XMP put in a JPEG lies there), and for a file without a manifest marker its last few kilobytes (the
  end-of-image marker that tells a whole file from a cut-off one);
* any other format, and a JPEG whose header does not walk: the whole file, judged as bytes
  (:meth:`~rightsmark.verify.reader.FactReader.read`): a manifest or XMP packet may lie anywhere in those.

The facts are those :meth:`~rightsmark.verify.reader.FactReader.read` gives for the file's bytes (the shared
corpus tests compare both on every file). Only a regular file within the size cap is opened
(:func:`~rightsmark.sources.guard.open_regular`: a FIFO, a device or a directory is an error record, never a
read), and a file that changes while it is read (its size, its modification time or the header Python read
differ afterwards) is an error record, never a reading that mixes two versions.
"""

from __future__ import annotations

import os
from pathlib import Path

from rightsmark.engine.local import LocalFile
from rightsmark.media.formats import HEADER_BYTES, jpeg_scan_start, sniff
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, ItemRefusedError, open_regular
from rightsmark.verify.facts import HEAD_BYTES, TAIL_BYTES, Facts, absent_facts, error_facts, has_marker_in
from rightsmark.verify.reader import FactReader

#: The message of a file whose size, modification time or header changed while it was read.
CHANGED = "the file changed while it was read; verify it again once nothing writes to it"

#: Files up to this size are read whole and judged as bytes: the engine reads a file through a few dozen Python
#: callbacks, which below about this size costs more than one read and a copy (signed JPEGs of 150 KiB: more;
#: of 420 KiB and up: less).
WHOLE_BYTES = 256 * 1024


def read_error(exc: OSError) -> str:
    """What a record says about an item whose bytes could not be read."""
    if isinstance(exc, ItemRefusedError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory where a file was expected"
    return f"cannot read: {exc.strerror or exc}"


def unforeseen(exc: Exception) -> Facts:
    """The facts of an item whose reading raised something unforeseen: a drop, never a crash."""
    return error_facts(f"verification failed: {type(exc).__name__}: {exc}")


def read_local(
    reader: FactReader,
    key: str,
    path: str,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    *,
    whole_bytes: int = WHOLE_BYTES,
) -> Facts:
    """The facts of the local file ``path`` (named ``key``): what ``reader.read(<its bytes>, key)`` gives, with
    the engine reading a signed JPEG over ``whole_bytes`` itself (see the module's description).

    Never raises for the file: one that is not a regular file, is over ``max_item_size`` bytes, is missing or
    unreadable, or changes while it is read, and anything the engine raises unforeseen, give error facts.
    """
    try:
        fd, size = open_regular(path, max_item_size)
    except OSError as exc:
        return error_facts(read_error(exc))
    try:
        return file_facts(reader, LocalFile(fd, size), key, whole_bytes=whole_bytes)
    except OSError as exc:
        return error_facts(read_error(exc))
    except Exception as exc:  # the engine raised something unforeseen
        return unforeseen(exc)
    finally:
        os.close(fd)


def file_facts(reader: FactReader, file: LocalFile, name: str | Path = "", *, whole_bytes: int = WHOLE_BYTES) -> Facts:
    """``reader.read(<the bytes of file>, name)``, reading in Python only what Python needs (the engine reads a
    signed JPEG over ``whole_bytes`` itself); :data:`CHANGED` error facts when the file changes while it is
    read. Raises :class:`OSError` when it cannot be read."""
    stamp = _stamp(file.fd)
    if stamp[0] != file.size:
        return error_facts(CHANGED)
    head = file.pread(HEAD_BYTES if file.size > whole_bytes else file.size)
    fmt = sniff(head[:HEADER_BYTES], name)
    if fmt is not None and fmt.name == "jpeg" and file.size > whole_bytes:
        head, start = _jpeg_header(file, head)
        if start is not None:
            if not has_marker_in(head, start):
                # no manifest marker before the scan data: no manifest, when the end-of-image marker follows
                # (the engine would say so: :func:`rightsmark.verify.facts.prescan`); else the bytes decide
                tail = file.pread(TAIL_BYTES, max(start, file.size - TAIL_BYTES))
                if tail.rfind(b"\xff\xd9") != -1:  # (head and tail of one version of the file, or no reading)
                    return absent_facts(head, fmt, start) if _stamp(file.fd) == stamp else error_facts(CHANGED)
            else:
                facts = reader.examine_local(file, head, name)[0]
                # the engine read the file apart from the header read here: the same file, or no reading
                return facts if _stamp(file.fd) == stamp and file.pread(len(head)) == head else error_facts(CHANGED)
    # a small file, any other format (a manifest or packet may lie anywhere), a header that does not walk:
    # the bytes decide (read in one piece: one allocation, one copy)
    data = head if len(head) == file.size else file.pread(file.size)
    return reader.read(data, name) if _stamp(file.fd) == stamp else error_facts(CHANGED)


def _stamp(fd: int) -> tuple[int, int]:
    """Size and modification time of an open file: what a write or a truncation changes."""
    st = os.fstat(fd)
    return st.st_size, st.st_mtime_ns


def _jpeg_header(file: LocalFile, head: bytes) -> tuple[bytes, int | None]:
    """The first bytes of a JPEG file up to at least its scan data, and where that starts; None for the start
    when the header does not walk even over the whole file (damaged: then ``head`` is the whole file, or as
    much of it as could be read)."""
    while True:
        start = jpeg_scan_start(head)
        if isinstance(start, int):
            return head, start
        if len(head) >= file.size:
            return head, None
        more = file.pread(min(file.size, 4 * len(head)) - len(head), len(head))
        if not more:  # the file shrank
            return head, None
        head += more
