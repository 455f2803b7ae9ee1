"""Where verify reports go: stdout or a file, and resuming an interrupted run (keep lists: :mod:`.keeplist`).

Line formats (JSON Lines, CSV) are appended to the output as records arrive, flushed per
record, so an interrupted run leaves every finished record on disk. ``--resume`` reads
the keys already reported (dropping a half-written last line), skips them, and appends.
Parquet cannot be appended to, so its records go to a JSON Lines journal beside the
output (``OUT.journal.jsonl``) that is converted, in row groups, when the run completes.

A report that cannot be written (a full disk, a quota) stops the run with one line naming it:
a resumable one (jsonl, csv, parquet's journal) keeps the records finished so far for ``--resume``,
any other is removed; no empty report is left behind. Temporaries a killed earlier run left beside
the report are swept when the next run opens it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from rightsmark.errors import UsageError, disk_full
from rightsmark.files import parse_document, sweep_stale_temporaries, temp_prefix, write_atomic
from rightsmark.models import VerifyRecord
from rightsmark.reports.formats import (
    FLAT_COLUMNS,
    FORMATS,
    LIST_COLUMNS,
    JsonLinesReport,
    Report,
    flat_dict,
    sample_from_columns,
)

_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
}
RESUMABLE = {"jsonl", "csv", "parquet"}
PARQUET_ROW_GROUP = 10_000


def report_class(fmt: str) -> type[Report]:
    """The report class of format ``fmt`` (Parquet's included)."""
    return ParquetReport if fmt == "parquet" else FORMATS[fmt]


def format_for(output: Path | None, explicit: str | None) -> str:
    """The report format: the one asked for, else the output's extension, else text."""
    if explicit:
        return explicit
    if output is None:
        return "text"
    fmt = _BY_SUFFIX.get(output.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the report format from '{output.name}'",
            hint="use .jsonl, .csv, .parquet, .json or .txt, or pass --format",
        )
    return fmt


def journal_path(output: Path) -> Path:
    return output.with_name(output.name + ".journal.jsonl")


def _truncate_partial_line(path: Path) -> None:
    """Cut a half-written last line (a run killed mid-write) so appending continues cleanly."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        step = min(size, 1 << 16)
        pos = size
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return
            nl = chunk.rfind(b"\n")
            if nl != -1:
                fh.truncate(start + nl + 1)
                return
            pos = start
        fh.truncate(0)


@dataclass
class Done:
    """What an earlier run of the same output already reported."""

    keys: set[str] = field(default_factory=set)
    kept: list[str] = field(default_factory=list)
    #: ``(key, kept, sample)`` of every record, in order, when asked for (to rebuild a keep list of samples)
    entries: list[tuple[str, bool, dict[str, Any] | None]] = field(default_factory=list)
    samples: bool = False


def read_done(path: Path, fmt: str, *, samples: bool = False) -> Done:
    """What the report at ``path`` holds already; with ``samples`` each record's sample too."""
    import csv

    done = Done(samples=samples)
    if not path.exists():
        return done
    _truncate_partial_line(path)
    line = 0
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                reader = csv.DictReader(fh)
                for row in reader:
                    line = reader.line_num
                    _add_done(done, row)
            else:
                for text in fh:
                    line += 1
                    if text.strip():
                        _add_done(done, parse_document(text, path, UsageError, syntax="json"))
    except (UsageError, csv.Error, UnicodeDecodeError, KeyError, TypeError, AttributeError, ValueError):
        raise UsageError(
            f"cannot resume: line {line} is not a record of a rightsmark report",
            path=path,
            hint="move the file away, or run without --resume to start a new report",
        ) from None
    return done


def _add_done(done: Done, record: Any) -> None:
    path, decision = record["path"], record["decision"]
    if not isinstance(path, str):
        raise TypeError(path)
    done.keys.add(path)
    if decision == "keep":
        done.kept.append(path)
    if done.samples:
        done.entries.append((path, decision == "keep", _sample_of(record)))


def _sample_of(record: Any) -> dict[str, Any] | None:
    """The sample of a report line (JSON: ``sample``; CSV: the ``sample_*`` columns), if it has one."""
    if "sample" in record:
        sample = record["sample"]
        return sample if isinstance(sample, dict) else None
    return sample_from_columns(record)


class ParquetReport(Report):
    """Records journaled as JSON Lines, written as Parquet (flat columns) on close."""

    name = "parquet"

    def __init__(self, out: TextIO, *, target: Path, meta: dict[str, Any] | None = None) -> None:
        super().__init__(out)
        self._journal = JsonLinesReport(out)
        self._target = target
        self._meta = meta

    @classmethod
    def encode(cls, records: list[VerifyRecord]) -> str:
        return JsonLinesReport.encode(records)

    def write_encoded(self, text: str, count: int) -> None:
        self._journal.write_encoded(text, count)

    def close(self) -> None:
        self.out.flush()
        convert_journal(Path(self.out.name), self._target, self._meta)


def _parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.list_(pa.string()) if c in LIST_COLUMNS else pa.string()) for c in FLAT_COLUMNS])


def convert_journal(journal: Path, target: Path, meta: dict[str, Any] | None = None) -> None:
    """Write ``target`` (Parquet) from a JSON Lines journal of verify records, in row groups.

    ``meta`` (what the run rested on: policy, trust sources) goes into the schema's key-value
    metadata, each value as JSON under ``rightsmark.<key>``.
    """
    schema = _parquet_schema()
    if meta:
        schema = schema.with_metadata({f"rightsmark.{k}": json.dumps(v, sort_keys=True) for k, v in meta.items()})
    tmp = _temporary(target)
    try:
        _write_parquet(journal, tmp, schema)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    journal.unlink()


def _temporary(target: Path) -> Path:
    """A new temporary beside ``target``, named so a later run can sweep it if this one is killed."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".part", dir=target.parent)
    os.close(fd)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
    return Path(name)


def _write_parquet(journal: Path, tmp: Path, schema: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(tmp, schema) as writer, journal.open(encoding="utf-8") as fh:
        batch: dict[str, list[Any]] = {c: [] for c in FLAT_COLUMNS}
        count = 0
        for line in fh:
            if not line.strip():
                continue
            row = flat_dict(json.loads(line))
            for c in FLAT_COLUMNS:
                batch[c].append(row[c])
            count += 1
            if count % PARQUET_ROW_GROUP == 0:
                writer.write_table(pa.table(batch, schema=schema))
                batch = {c: [] for c in FLAT_COLUMNS}
        if batch["path"] or count == 0:
            writer.write_table(pa.table(batch, schema=schema))


def meta_path(output: Path) -> Path:
    """Where a report's run description is written beside it (``REPORT.meta.json``)."""
    return output.with_name(f"{output.name}.meta.json")


def write_meta(output: Path, meta: dict[str, Any]) -> None:
    """Write ``REPORT.meta.json`` atomically: what the report's verdicts rested on."""
    target = meta_path(output)
    text = json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot write the report's description: {exc.strerror or exc}", path=target, hint=_hint(exc)
        ) from None


def _hint(exc: OSError) -> str | None:
    return "free some space, then run again" if disk_full(exc) else None


class _WriteFailedError(Exception):
    """Writing a report file failed (the disk is full...): ``open_report`` says so in one line."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Guarded:
    """A report's open file whose failed writes and flushes raise :class:`_WriteFailedError`."""

    def __init__(self, fh: TextIO) -> None:
        self._fh = fh

    def write(self, text: str) -> int:
        try:
            return self._fh.write(text)
        except BrokenPipeError:  # stdout's reader went away: the command line stops quietly
            raise
        except OSError as exc:
            raise _WriteFailedError(exc) from exc

    def flush(self) -> None:
        try:
            self._fh.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _WriteFailedError(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _sweep(output: Path) -> None:
    """Remove the temporaries a killed earlier run left beside ``output`` (and its description)."""
    started = time.time()
    sweep_stale_temporaries(output.parent, started=started)
    for target in (output, meta_path(output)):  # the fixed names earlier versions used
        legacy = target.with_name(f".{target.name}.part")
        with contextlib.suppress(OSError):
            if stat.S_ISREG(legacy.lstat().st_mode) and legacy.lstat().st_ctime < started:
                legacy.unlink()


def _failed(output: Path, fmt: str, fh: TextIO, error: OSError) -> UsageError:
    """The one-line error for a report that could not be written; keeps it for --resume or removes it."""
    with contextlib.suppress(OSError, ValueError):
        fh.close()  # its buffer cannot be written either
    why = f"cannot write the report: {error.strerror or error}"
    written = journal_path(output) if fmt == "parquet" else output
    kept = False
    if fmt in RESUMABLE:
        with contextlib.suppress(OSError):
            _truncate_partial_line(written)
            kept = written.stat().st_size > 0
    if kept:
        where = f" in {written.name}" if written != output else ""
        return UsageError(
            f"{why}; the records finished so far are kept{where}",
            path=output,
            hint="free some space, then run the same command with --resume to finish it",
        )
    for path in (written, output, meta_path(output)):
        with contextlib.suppress(OSError):
            path.unlink()
    return UsageError(f"{why}; removed the unfinished report", path=output, hint=_hint(error) or "run again")


@contextmanager
def open_report(
    output: Path | None, fmt: str, *, resume: bool, meta: dict[str, Any] | None = None, samples: bool = False
) -> Iterator[tuple[Report, Done]]:
    """A report writer for ``output`` (stdout when None) and what an earlier run already did (with each
    record's sample when ``samples``).

    ``meta`` describes the run (policy, trust sources): Parquet keeps it in its schema metadata (as it is
    when the report is closed), every report written to a file also gets it beside it as ``REPORT.meta.json``.
    """
    if resume and (output is None or fmt not in RESUMABLE):
        raise UsageError("--resume needs -o FILE in jsonl, csv or parquet format", hint="e.g. -o report.jsonl --resume")
    if output is None:
        if fmt == "parquet":
            raise UsageError("Parquet reports need -o FILE.parquet")
        report = FORMATS[fmt](cast(TextIO, _Guarded(sys.stdout)))
        try:
            yield report, Done()
            report.close()
        except _WriteFailedError as exc:  # e.g. stdout redirected to a full disk
            raise UsageError(
                f"cannot write the report to standard output: {exc.error.strerror or exc.error}",
                hint=_hint(exc.error) or "or write it to a file with -o",
            ) from None
        return
    if output.is_dir():
        raise UsageError("is a directory; -o names the report file", path=output)
    if not output.parent.exists():
        raise UsageError("cannot write the report: its directory does not exist", path=output, hint="create it first")
    _sweep(output)
    if meta is not None:
        write_meta(output, meta)
    if fmt == "parquet":
        journal = journal_path(output)
        done = read_done(journal, "jsonl", samples=samples) if resume else Done()
        fh = _open(journal, "a" if resume else "w")
        out = cast(TextIO, _Guarded(fh))
        writer: Report = ParquetReport(out, target=output, meta=meta)
    else:
        done = read_done(output, fmt, samples=samples) if resume else Done()
        append = resume and output.exists() and output.stat().st_size > 0
        fh = _open(output, "a" if append else "w")
        out = cast(TextIO, _Guarded(fh))
        writer = FORMATS[fmt](out, header=not append) if fmt == "csv" else FORMATS[fmt](out)  # type: ignore[call-arg]
    try:
        yield writer, done
    except _WriteFailedError as exc:
        raise _failed(output, fmt, fh, exc.error) from None
    except BaseException:
        with contextlib.suppress(OSError):
            fh.close()
        raise
    try:
        writer.close()
        fh.close()
    except _WriteFailedError as exc:
        raise _failed(output, fmt, fh, exc.error) from None
    except OSError as exc:  # writing the last buffer, or the Parquet file
        raise _failed(output, fmt, fh, exc) from None


def _open(path: Path, mode: str) -> TextIO:
    try:
        return cast(TextIO, path.open(mode, encoding="utf-8", newline=""))
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror or exc}", path=path, hint=_hint(exc)) from None
