"""Watch an export folder and hand over each file once it is completely written.

Polling (the one folder walk, :func:`rightsmark.sources.fs.walk`, every ``interval`` seconds) rather
than inotify: it behaves the same on local disks, network shares and synced folders, where file
events are missing or arrive before the data. A file is ready when its size and modification time
have not changed for ``settle`` seconds and, for formats with a structure to check (JPEG, PNG, WebP,
AVIF/HEIC, TIFF), the structure is complete: an exporter that pauses mid-write is not mistaken for
one that finished. Temporary names exporters use (hidden files, ``*.tmp``, ``*.part``, ``*~``) are never taken.

:func:`watch_folder` is ``rightsmark watch``'s loop: poll, plan, sign, one outcome per file, until told to stop.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rightsmark.errors import UsageError
from rightsmark.sign.batch import BACKUP_SUFFIX
from rightsmark.sources.fs import walk

if TYPE_CHECKING:
    from rightsmark.sign.batch import SignOutcome
    from rightsmark.sign.run import ExportRun

_TEMPORARY = (".tmp", ".part", ".partial", ".crdownload", ".download", "~", BACKUP_SUFFIX)


def _candidates(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The walk's files (:func:`rightsmark.sources.fs.walk`) that are regular files under a final name."""
    for entry in walk(str(root)):
        try:
            if entry.is_file() and not entry.name.lower().endswith(_TEMPORARY):
                yield Path(entry.path), entry.stat()
        except OSError:
            continue


def complete(path: Path) -> bool:
    """Whether the file's structure is whole (formats without a cheap check count as whole)."""
    from rightsmark.media.formats import sniff, structural_problem

    try:
        data = path.read_bytes()
    except OSError:
        return False
    fmt = sniff(data[:64], path)
    if fmt is None:
        return True  # not an image: the signer reports or ignores it
    return structural_problem(data, fmt) is None


@dataclass
class Watcher:
    """Finds files under ``root`` that became ready since the last look."""

    root: Path
    settle: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)
    _handed: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def poll(self) -> list[Path]:
        """Files ready now: stable for ``settle`` seconds, structurally complete, not handed over before
        in this state (a file re-exported later is handed over again)."""
        now = self.clock()
        ready: list[Path] = []
        present: set[Path] = set()
        for path, st in _candidates(self.root):
            present.add(path)
            state = (st.st_size, st.st_mtime_ns)
            if self._handed.get(path) == state:
                continue
            previous = self._seen.get(path)
            if previous is None or previous[:2] != state:
                self._seen[path] = (*state, now)
                continue
            if now - previous[2] >= self.settle and complete(path):
                ready.append(path)
        for path in ready:
            self._handed[path] = self._seen.pop(path)[:2]
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def pending(self) -> int:
        """Files seen but not yet ready."""
        return len(self._seen)


def check_watch(folder: Path, output: Path | None, *, in_place: bool, backup: bool) -> None:
    """Refuse a watched folder that is not a directory, a destination :func:`rightsmark.sign.run.check_destination`
    refuses, and signed copies written inside the watched folder (they would be found and signed again)."""
    from rightsmark.sign.run import check_destination

    if not folder.is_dir():
        raise UsageError("is not a directory", path=folder, hint="watch the folder your exports go to")
    check_destination(output, in_place, backup)
    if output is not None and output.resolve().is_relative_to(folder.resolve()):
        raise UsageError("the output is inside the watched folder", path=output, hint="sign into another folder")


def watch_folder(
    run: ExportRun,
    folder: Path,
    output: Path | None,
    *,
    stop: threading.Event,
    settle: float = 2.0,
    interval: float = 1.0,
    once: bool = False,
) -> Iterator[SignOutcome]:
    """Sign the files that become ready under ``folder`` (mirrored below ``output``, or in place as ``run``
    says), yielding one outcome per file, until ``stop`` is set (checked between rounds, so a round
    started is finished and reported) or, with ``once``, until no file is left waiting to settle.
    A round's outcomes come together once all its files are signed.
    """
    watcher = Watcher(folder, settle=settle)
    while not stop.is_set():
        ready = watcher.poll()
        if ready:
            jobs, early = run.jobs_from(run.planned_in(folder, ready, output))
            yield from [*early, *run.sign(jobs)]
        elif once and watcher.pending() == 0:
            return
        time.sleep(interval)
