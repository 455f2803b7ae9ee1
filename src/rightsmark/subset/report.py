"""Reading a verify report for ``rightsmark filter``: which inputs it covers and what it decided for their items.

A report is read in any format verify writes to a file (JSON Lines, JSON, CSV, Parquet, chosen by the
extension) or a folder of report shards (``verify --engine ray -o DIR/``). Every record needs its
``path`` (the item key) and a ``decision`` of ``keep`` or ``drop``; anything else stops the reading
with one line naming the report and the record: a report that cannot be read whole is not trusted in part.

Where an item sits is read from its key: ``SHARD/MEMBER`` for a tar shard (the first path component
named like a shard), ``FILE#NAME`` for a Parquet file (the first ``.parquet#``); a key naming the shard
or file alone is a record of the whole input (it could not be read). The record's ``sample``, when it
has one (``sample_source``, ``sample_key``, ``sample_key_from``, ``sample_row`` columns in CSV and
Parquet), adds the sample's key (checked against the shard's ``__key__``) and a Parquet row's index.

An input given to ``filter`` is matched to the input the report names by its path: the same file, else
the report's name whose trailing path components agree with the most of the input's (``00000.tar``
verified as ``s3://bucket/shards/00000.tar`` matches ``./shards/00000.tar``). A tie, an input the
report does not name, or two inputs matching one name stop the run. Records carry no digest of the
bytes: that the input is the one the report saw is checked item by item (every image has a record,
every record an image; Parquet row keys agree), not byte by byte.

The report is read twice (the names it covers, then the records of the inputs given), so memory
grows with the items of the inputs given, not with the report.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rightsmark.errors import UsageError
from rightsmark.files import parse_document
from rightsmark.reports.formats import LIST_COLUMNS, flat_dict
from rightsmark.sources.containers import is_parquet_name, is_tar_name

#: The report's columns added to each Parquet row written (each prefixed ``rightsmark_`` when taken).
VALUE_COLUMNS = (
    "decision",
    "reason_codes",
    "integrity",
    "trust",
    "signer_common_name",
    "signer_issuer",
    "author",
    "license_id",
    "license_url",
    "consent_status",
)
#: Kinds of input.
TAR, PARQUET = "tar", "parquet"
_READABLE = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_HINT = "pass a report that rightsmark verify -o FILE wrote: jsonl, json, csv or parquet"


@dataclass(frozen=True, slots=True)
class Entry:
    """What the report says about one item."""

    path: str  # the item key, as the report has it
    keep: bool
    key: str | None = None  # the sample's key, from the record's sample
    key_from: str | None = None
    values: tuple[Any, ...] | None = None  # VALUE_COLUMNS, for a kept item


#: Several records name the same item: none of them is believed.
AMBIGUOUS = Entry(path="", keep=False)


@dataclass
class Covered:
    """The records of one input the report covers."""

    name: str  # as the report names it
    kind: str  # TAR or PARQUET
    by_name: dict[str, Entry] = field(default_factory=dict)  # the tar member, or what follows '#'
    by_row: dict[int, Entry] = field(default_factory=dict)  # Parquet: by the sample's row index
    whole: int = 0  # records of the input itself (it could not be read whole when verified)
    rowless: int = 0  # Parquet item records without a row index
    keyless: int = 0  # item records without a sample

    def add(self, rest: str | None, entry: Entry, row: int | None) -> None:
        if rest is None:
            self.whole += 1
            return
        self.by_name[rest] = AMBIGUOUS if rest in self.by_name else entry
        if entry.key is None:
            self.keyless += 1
        if self.kind == PARQUET:
            if row is None:
                self.rowless += 1
            else:
                self.by_row[row] = AMBIGUOUS if row in self.by_row else entry

    @property
    def by_sample(self) -> bool:
        """Whether every item record has its sample (and, for Parquet, its row index): items are matched by
        it; else by their item keys."""
        if self.kind == PARQUET:
            return self.rowless == 0 and bool(self.by_row)
        return self.keyless == 0 and bool(self.by_name)


@dataclass(frozen=True)
class _Row:
    path: str
    keep: bool
    sample: dict[str, Any] | None
    values: tuple[Any, ...] | None


def locate(path: str) -> tuple[str, str, str | None] | None:
    """``(kind, input, rest)`` of an item key inside a tar shard or Parquet file (``rest`` None for a key
    naming the input itself); None for any other key."""
    found: tuple[int, str, str, str | None] | None = None
    cut = path.lower().find(".parquet#")
    if cut >= 0:
        end = cut + len(".parquet")
        found = (end, PARQUET, path[:end], path[end + 1 :])
    elif is_parquet_name(path):
        found = (len(path), PARQUET, path, None)
    start = 0
    for part in path.split("/"):
        end = start + len(part)
        if found is not None and end > found[0]:
            break
        if is_tar_name(part):
            found = (end, TAR, path[:end], path[end + 1 :] if end < len(path) else None)
            break
        start = end + 1
    return None if found is None else found[1:]


def _parts(name: str) -> tuple[str, ...]:
    if "://" in name:
        return tuple(p for p in name.split("://", 1)[1].split("/") if p)
    return Path(os.path.normpath(name)).parts


def _score(given: str, named: str) -> int:
    """How well the report's name ``named`` fits the input ``given``: the trailing path components they
    share, or more than any count when both name the same local path."""
    if "://" not in named and os.path.abspath(named) == os.path.abspath(given):
        return 1 << 30
    a, b = Path(os.path.abspath(given)).parts, _parts(named)
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def match(inputs: Sequence[tuple[str, str]], named: dict[str, str], report: Path) -> dict[str, str]:
    """For each ``(input, kind)``, the name of the input in the report (see the module docstring)."""
    chosen: dict[str, str] = {}
    claimed: dict[str, str] = {}
    by_base: dict[tuple[str, str], list[str]] = {}  # only names sharing the input's base name can fit it
    for name, kind in named.items():
        parts = _parts(name)
        by_base.setdefault((kind, parts[-1] if parts else ""), []).append(name)
    for given, kind in inputs:
        base = Path(os.path.abspath(given)).name
        scores = sorted(((_score(given, n), n) for n in by_base.get((kind, base), ())), reverse=True)
        if not scores or scores[0][0] == 0:
            raise UsageError(
                f"not in the report {report}: it has no record of an input named {Path(given).name}",
                path=given,
                hint="verify it first, or pass the report of the run that verified it",
            )
        if len(scores) > 1 and scores[1][0] == scores[0][0]:
            raise UsageError(
                f"the report names several inputs this could be ({scores[0][1]}, {scores[1][1]})",
                path=given,
                hint="name the input by a path that tells them apart",
            )
        name = scores[0][1]
        if name in claimed:
            raise UsageError(
                f"both {claimed[name]} and {given} match {name} in the report; neither is filtered",
                path=given,
                hint="name the inputs by paths that tell them apart",
            )
        claimed[name] = given
        chosen[given] = name
    return chosen


def load(report: Path, inputs: Sequence[tuple[str, str]]) -> dict[str, Covered]:
    """The records of each input (``(path, kind)``), keyed by the input as given."""
    named: dict[str, str] = {}
    for row in _rows(report):
        where = locate(row.path)
        if where is not None:
            named.setdefault(where[1], where[0])
    chosen = match(inputs, named, report)
    wanted = {name: Covered(name, named[name]) for name in chosen.values()}
    for row in _rows(report):
        where = locate(row.path)
        covered = wanted.get(where[1]) if where is not None else None
        if covered is None or where is None:
            continue
        sample = row.sample or {}
        entry = Entry(row.path, row.keep, sample.get("key"), sample.get("key_from"), row.values if row.keep else None)
        covered.add(where[2], entry, sample.get("row"))
    return {given: wanted[name] for given, name in chosen.items()}


def meta(report: Path) -> dict[str, Any] | None:
    """The report's run description (``REPORT.meta.json``), when there is one that reads."""
    path = report.with_name(report.name + ".meta.json")
    with contextlib.suppress(OSError, UsageError):
        data = parse_document(path.read_bytes(), path, UsageError, syntax="json")
        return data if isinstance(data, dict) else None
    return None


# ---------------------------------------------------------------------------------------------
# the formats


def _files(report: Path) -> list[tuple[Path, str]]:
    if report.is_dir():
        found = sorted(p for p in report.iterdir() if p.suffix.lower() in _READABLE and p.is_file())
        if not found:
            raise UsageError("no report files (.jsonl, .json, .csv, .parquet) in this folder", path=report, hint=_HINT)
        return [(p, _READABLE[p.suffix.lower()]) for p in found]
    if not report.exists():
        journal = report.with_name(report.name + ".journal.jsonl")
        hint = f"its run did not finish: rerun it with --resume, or pass {journal.name}" if journal.exists() else _HINT
        raise UsageError("no such report", path=report, hint=hint)
    fmt = _READABLE.get(report.suffix.lower())
    if fmt is None:
        raise UsageError("cannot read this report: its name does not say jsonl, json, csv or parquet", path=report)
    return [(report, fmt)]


def _rows(report: Path) -> Iterator[_Row]:
    for path, fmt in _files(report):
        try:
            if fmt == "jsonl":
                yield from _jsonl(path)
            elif fmt == "json":
                yield from _json(path)
            elif fmt == "csv":
                yield from _csv(path)
            else:
                yield from _parquet(path)
        except OSError as exc:
            raise UsageError(f"cannot read the report: {exc.strerror or exc}", path=path) from None
        except UnicodeDecodeError:
            raise UsageError("cannot read the report: not UTF-8 text", path=path, hint=_HINT) from None


def _bad(path: Path, where: str, what: str) -> UsageError:
    return UsageError(f"{where} is not a record of a verify report ({what}); nothing filtered", path=path, hint=_HINT)


def _jsonl(path: Path) -> Iterator[_Row]:
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if text.strip():
                where = f"line {number}"
                try:
                    record = parse_document(text, path, UsageError, syntax="json")
                except UsageError:
                    raise _bad(path, where, "not JSON; cut short?") from None
                yield _from_record(record, path, where)


def _json(path: Path) -> Iterator[_Row]:
    records = parse_document(path.read_bytes(), path, UsageError, syntax="json", hint=_HINT)
    if not isinstance(records, list):
        raise _bad(path, "the document", "not a JSON array")
    for number, record in enumerate(records):
        yield _from_record(record, path, f"element {number}")


def _from_record(record: Any, path: Path, where: str) -> _Row:
    if not isinstance(record, dict):
        raise _bad(path, where, "not an object")
    try:
        values = flat_dict(record)
    except (KeyError, TypeError, AttributeError) as exc:
        raise _bad(path, where, f"no {exc}" if isinstance(exc, KeyError) else "fields of the wrong type") from None
    return _row(values, record.get("sample"), path, where)


def _row(values: dict[str, Any], sample: Any, path: Path, where: str) -> _Row:
    key, decision = values.get("path"), values.get("decision")
    if not isinstance(key, str) or not key:
        raise _bad(path, where, "no path")
    if decision not in ("keep", "drop"):
        raise _bad(path, where, f"decision {decision!r}, neither keep nor drop")
    if sample is not None and not (
        isinstance(sample, dict)
        and isinstance(sample.get("key"), str)
        and isinstance(sample.get("key_from"), str | None)
        and _row_index(sample.get("row"))
    ):
        raise _bad(path, where, "a sample without a key, or with a row that is not a count")
    return _Row(key, decision == "keep", sample, tuple(values.get(c) for c in VALUE_COLUMNS))


def _row_index(row: Any) -> bool:
    return row is None or (isinstance(row, int) and not isinstance(row, bool) and row >= 0)


def _flat_sample(values: dict[str, Any]) -> dict[str, Any] | None:
    key = values.get("sample_key")
    if key in (None, ""):
        return None
    row = values.get("sample_row")
    if isinstance(row, str):
        row = int(row) if row.isdigit() else None if row == "" else row
    return {"source": values.get("sample_source"), "key": key, "key_from": values.get("sample_key_from"), "row": row}


def _csv(path: Path) -> Iterator[_Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            for row in reader:
                values: dict[str, Any] = {
                    c: ([v for v in text.split(";") if v] if c in LIST_COLUMNS else (text or None))
                    for c, text in row.items()
                    if isinstance(c, str) and isinstance(text, str)
                }
                yield _row(values, _flat_sample(values), path, f"line {reader.line_num}")
        except csv.Error as exc:
            raise _bad(path, f"line {reader.line_num}", str(exc)) from None


def _parquet(path: Path) -> Iterator[_Row]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # not Parquet, a damaged footer
        raise UsageError(f"cannot read the report as Parquet: {exc}", path=path, hint=_HINT) from None
    names = set(file.schema_arrow.names)
    if "record" in names:  # a report shard of verify --engine ray: the whole record, as JSON
        columns = ["record"]
    else:
        wanted = {"path", "decision", *VALUE_COLUMNS, "sample_source", "sample_key", "sample_key_from", "sample_row"}
        columns = [c for c in file.schema_arrow.names if c in wanted]
    number = 0
    with file:
        try:
            for batch in file.iter_batches(batch_size=4096, columns=columns, use_threads=False):
                for values in batch.to_pylist():
                    number += 1
                    where = f"row {number - 1}"
                    if "record" in values:
                        try:
                            record = parse_document(values["record"] or "", path, UsageError, syntax="json")
                        except UsageError:
                            raise _bad(path, where, "its record is not JSON") from None
                        yield _from_record(record, path, where)
                    else:
                        yield _row(values, _flat_sample(values), path, where)
        except UsageError:
            raise
        except Exception as exc:  # a damaged page
            raise UsageError(f"cannot read the report: damaged after row {number}: {exc}", path=path) from None
