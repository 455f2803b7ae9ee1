"""Where a signed file is written: a temporary beside its destination, moved into place only when whole.

:class:`PendingOutput` opens the temporary (``.NAME.PID.XXXXXXXX.part``, which a later run sweeps if
this one is killed); the engine writes the signed file straight into it; :meth:`PendingOutput.finish`
flushes it to disk and moves it into place (linked, so an existing file is never clobbered unless
``force``; or swapped in for an original signed in place). Until then the destination is untouched,
and a failure at any step removes the temporary: never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rightsmark.errors import InputError, OutputError, OutputExistsError, disk_full


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


class NoSpaceError(OutputError):
    """The device holding the output is full (or the user's quota there is spent): the run stops."""

    def __init__(self, where: Path) -> None:
        super().__init__(
            f"no space left on the device holding {where}: free some space and run again"
            " (signed files already written are kept; the re-run skips them)"
        )
        self.where = where


class PendingOutput:
    """A temporary file beside ``place.dest``, open for writing (:attr:`file`); nothing is in place yet."""

    def __init__(self, place: Placement) -> None:
        self.place = place
        dest = place.dest
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            from rightsmark.files import temp_prefix

            fd, name = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=".part", dir=dest.parent)
        except OSError as exc:
            if disk_full(exc):
                raise NoSpaceError(dest.parent) from None
            raise OutputError(
                f"cannot write output into this directory: {exc.strerror}", path=dest.parent, hint="check -o"
            ) from None
        self.tmp = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "w+b")

    def finish(self) -> None:
        """Flush the temporary to disk and move it into place; on any failure it is removed and the
        destination left as it was (a full device is a :class:`NoSpaceError`)."""
        try:
            with self.file as fh:
                fh.flush()
                os.fsync(fh.fileno())
            self._place()
        except OSError as exc:
            if disk_full(exc):
                raise NoSpaceError(self.place.dest.parent) from None
            raise
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary (nothing happens to the destination)."""
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def _place(self) -> None:
        place, tmp, dest = self.place, self.tmp, self.place.dest
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


def write_pending(place: Placement, write: Callable[[IO[bytes]], None]) -> PendingOutput:
    """A :class:`PendingOutput` for ``place`` that ``write`` has filled; if ``write`` fails, the temporary
    is removed and the error raised (a full device as :class:`NoSpaceError`)."""
    pending = PendingOutput(place)
    try:
        write(pending.file)
        pending.file.flush()
    except BaseException as exc:
        pending.discard()
        if isinstance(exc, OSError) and disk_full(exc):
            raise NoSpaceError(place.dest.parent) from None
        raise
    return pending


def _unchanged(path: Path, expect: tuple[int, int]) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == expect


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
