"""Keep lists: what passed, one line each, in the form a dataset pipeline joins on (``--keep-list-form``).

* ``key`` (the default): each kept item's key, as reports show it (``shard.tar/000001.jpg``,
  ``file.parquet#id``, ``data/0001.jpg``), written as records arrive.
* ``sample``: each kept sample, one JSON object per line, ``{"source", "key", "key_from", "row", "url"}``
  (:class:`~rightsmark.models.Sample`): a WebDataset shard and its ``__key__``, a Parquet file with the
  row's id and row index, a folder and the file's path in it without the extension.
* ``url``: each kept sample's URL (recorded by its sidecar or a ``url`` column), one per line.

The ``sample`` and ``url`` forms name samples, not images, so they fail closed: a sample (or URL) is
listed only when every item of it was kept (a shard whose sample holds a kept ``.jpg`` and a dropped
``.png``, two rows or samples recording one URL: not listed), and once however many items it has. Kept
items the form cannot name (without a sample, or without a URL) are left out and counted
(:attr:`KeepList.unlisted`). These two forms are written to a temporary beside the list and put in place
when the run ends (a list cut short could name a sample a later item would have dropped); the list
itself is emptied when the run starts, so a stale one never stays behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rightsmark.errors import UsageError, disk_full
from rightsmark.files import sweep_stale_temporaries, temp_prefix
from rightsmark.models import VerifyRecord

#: ``--keep-list-form`` values.
KEY, SAMPLE, URL = "key", "sample", "url"
FORMS = (KEY, SAMPLE, URL)


def sample_line(sample: dict[str, Any]) -> str:
    """A line of a ``sample`` keep list."""
    fields = ("source", "key", "key_from", "row", "url")
    return json.dumps({f: sample.get(f) for f in fields}, ensure_ascii=False)


def _identity(form: str, sample: dict[str, Any] | None) -> tuple[str, int] | None:
    """The line naming ``sample`` in ``form`` and a digest of what makes it one sample; None if it has none."""
    if sample is None:
        return None
    if form == URL:
        url = sample.get("url")
        if not isinstance(url, str) or not url:
            return None
        line, what = url, url
    else:
        line = sample_line(sample)
        what = json.dumps([sample.get("source"), sample.get("key"), sample.get("row")], ensure_ascii=False)
    return line, int.from_bytes(hashlib.blake2b(what.encode("utf-8"), digest_size=8).digest(), "big")


class KeepList:
    """The keep list of one run, in ``form`` (see the module docstring); ``entries`` are ``(key, kept,
    sample)`` of the records an interrupted run already reported (``--resume``), replayed first."""

    def __init__(
        self, path: Path, form: str = KEY, entries: Iterable[tuple[str, bool, dict[str, Any] | None]] = ()
    ) -> None:
        if form not in FORMS:
            raise UsageError(f"unknown keep list form {form!r}", hint=f"use one of {', '.join(FORMS)}")
        self._path = path
        self.form = form
        #: kept items the form cannot name (no sample; for ``url``, no URL)
        self.unlisted = 0
        self._written: set[int] = set()
        self._dropped: set[int] = set()
        self._stale = False
        self._tmp: Path | None = None
        try:
            self._fh = path.open("w", encoding="utf-8")
            if form != KEY:
                import tempfile

                sweep_stale_temporaries(path.parent, started=time.time())
                fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".part", dir=path.parent)
                self._fh.close()  # emptied: a stale list never stays behind
                self._tmp = Path(name)
                self._fh = os.fdopen(fd, "w", encoding="utf-8")
        except OSError as exc:
            raise self._error(exc) from None
        for key, kept, sample in entries:
            self.add(key, kept, sample)

    def _error(self, exc: OSError) -> UsageError:
        return UsageError(
            f"cannot write the keep list: {exc.strerror or exc}",
            path=self._path,
            hint=("free some space, then run again" if disk_full(exc) else "check --keep-list")
            + "; with --resume it is rebuilt from the report",
        )

    def note(self, record: VerifyRecord) -> None:
        """One verify record."""
        self.add(record.path, record.kept, record.sample.to_dict() if record.sample else None)

    def add_settled(self, entries: list[Any]) -> None:
        """A chunk's entries as :class:`~rightsmark.verify.stages.ReportStage` picks them: for the ``key``
        form the kept keys, for the others ``(key, kept, sample)`` of every record."""
        if self.form == KEY:
            if entries:
                self._write("\n".join(entries))
            return
        for key, kept, sample in entries:
            self.add(key, kept, sample)

    def add(self, key: str, kept: bool, sample: dict[str, Any] | None = None) -> None:
        """One record: its key, whether it was kept, its sample (as in a report)."""
        if self.form == KEY:
            if kept:
                self._write(key)
            return
        named = _identity(self.form, sample)
        if named is None:
            self.unlisted += kept
            return
        line, digest = named
        if not kept:
            self._dropped.add(digest)
            self._stale = self._stale or digest in self._written
        elif digest not in self._dropped and digest not in self._written:
            self._written.add(digest)
            self._write(line)

    def _write(self, line: str) -> None:
        try:
            self._fh.write(line + "\n")
        except OSError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Finish the list (for ``sample``/``url``: leave out what a later item dropped, put it in place)."""
        try:
            self._fh.close()
            if self._tmp is not None:
                if self._stale:
                    self._leave_out_dropped(self._tmp)
                umask = os.umask(0o022)
                os.umask(umask)
                os.chmod(self._tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
                os.replace(self._tmp, self._path)
                self._tmp = None
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._fh.close()
            raise self._error(exc) from None
        finally:
            if self._tmp is not None:
                with contextlib.suppress(OSError):
                    self._tmp.unlink()

    def abort(self) -> None:
        """The run stopped short: a ``key`` list keeps the keys written so far (each was decided); a list of
        samples or URLs stays empty (one cut short could name a sample a later item would have dropped)."""
        if self._tmp is None:
            self.close()
            return
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()
        self._tmp = None

    def _leave_out_dropped(self, tmp: Path) -> None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=temp_prefix(self._path), suffix=".part", dir=self._path.parent)
        os.close(fd)
        kept = Path(name)
        try:
            with tmp.open(encoding="utf-8") as src, kept.open("w", encoding="utf-8") as dst:
                for line in src:
                    text = line.rstrip("\n")
                    sample = {"url": text} if self.form == URL else json.loads(text)
                    named = _identity(self.form, sample)
                    if named is not None and named[1] not in self._dropped:
                        dst.write(line)
            os.replace(kept, tmp)
        finally:
            with contextlib.suppress(OSError):
                kept.unlink()
