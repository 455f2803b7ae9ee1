"""Where verify reports go: stdout or a file, keep lists, and resuming an interrupted run.

Line formats (JSON Lines, CSV) are appended to the output as records arrive, flushed per
record, so an interrupted run leaves every finished record on disk. ``--resume`` reads
the keys already reported (dropping a half-written last line), skips them, and appends.
Parquet cannot be appended to, so its records go to a JSON Lines journal beside the
output (``OUT.journal.jsonl``) that is converted, in row groups, when the run completes.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rightsmark.errors import UsageError
from rightsmark.models import VerifyRecord
from rightsmark.report import FLAT_COLUMNS, FORMATS, LIST_COLUMNS, JsonLinesReport, Report, flat_dict

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


def read_done(path: Path, fmt: str) -> Done:
    done = Done()
    if not path.exists():
        return done
    _truncate_partial_line(path)
    with path.open(encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            for row in csv.DictReader(fh):
                done.keys.add(row["path"])
                if row["decision"] == "keep":
                    done.kept.append(row["path"])
        else:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                done.keys.add(rec["path"])
                if rec["decision"] == "keep":
                    done.kept.append(rec["path"])
    return done


class ParquetReport(Report):
    """Records journaled as JSON Lines, written as Parquet (flat columns) on close."""

    name = "parquet"

    def __init__(self, out: TextIO, *, target: Path, meta: dict[str, Any] | None = None) -> None:
        super().__init__(out)
        self._journal = JsonLinesReport(out)
        self._target = target
        self._meta = meta

    def write(self, record: VerifyRecord) -> None:
        self._journal.write(record)

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
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    if meta:
        schema = schema.with_metadata({f"rightsmark.{k}": json.dumps(v, sort_keys=True) for k, v in meta.items()})
    tmp = target.with_name(f".{target.name}.part")
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
    tmp.replace(target)
    journal.unlink()


def meta_path(output: Path) -> Path:
    """Where a report's run description is written beside it (``REPORT.meta.json``)."""
    return output.with_name(f"{output.name}.meta.json")


def write_meta(output: Path, meta: dict[str, Any]) -> None:
    """Write ``REPORT.meta.json`` atomically: what the report's verdicts rested on."""
    target = meta_path(output)
    tmp = target.with_name(f".{target.name}.part")
    try:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report's description: {exc.strerror}", path=target) from None


@contextmanager
def open_report(
    output: Path | None, fmt: str, *, resume: bool, meta: dict[str, Any] | None = None
) -> Iterator[tuple[Report, Done]]:
    """A report writer for ``output`` (stdout when None) and what an earlier run already did.

    ``meta`` describes the run (policy, trust sources): Parquet keeps it in its schema metadata, every
    report written to a file also gets it beside it as ``REPORT.meta.json``.
    """
    if resume and (output is None or fmt not in RESUMABLE):
        raise UsageError("--resume needs -o FILE in jsonl, csv or parquet format", hint="e.g. -o report.jsonl --resume")
    if output is None:
        report = FORMATS[fmt](sys.stdout) if fmt != "parquet" else None
        if report is None:
            raise UsageError("Parquet reports need -o FILE.parquet")
        yield report, Done()
        report.close()
        return
    if output.is_dir():
        raise UsageError("is a directory; -o names the report file", path=output)
    if not output.parent.exists():
        raise UsageError("cannot write the report: its directory does not exist", path=output, hint="create it first")
    if meta is not None:
        write_meta(output, meta)
    if fmt == "parquet":
        journal = journal_path(output)
        done = read_done(journal, "jsonl") if resume else Done()
        with journal.open("a" if resume else "w", encoding="utf-8") as fh:
            report = ParquetReport(fh, target=output, meta=meta)
            yield report, done
            report.close()
        return
    done = read_done(output, fmt) if resume else Done()
    append = resume and output.exists() and output.stat().st_size > 0
    with output.open("a" if append else "w", encoding="utf-8", newline="") as fh:
        report = FORMATS[fmt](fh, header=not append) if fmt == "csv" else FORMATS[fmt](fh)  # type: ignore[call-arg]
        yield report, done
        report.close()


class KeepList:
    """Keys of kept files, one per line, written as they come (rebuilt from the report on resume)."""

    def __init__(self, path: Path, already_kept: list[str], resume: bool) -> None:
        self._fh = path.open("w", encoding="utf-8")
        if resume:
            for key in already_kept:
                self._fh.write(key + "\n")

    def add(self, key: str) -> None:
        self._fh.write(key + "\n")

    def close(self) -> None:
        self._fh.close()
