"""Filtered copies of Parquet files: the rows the report kept, every column, and the report's own columns added.

The file is read in record batches (all columns; pyarrow decodes one column chunk of a row group at a
time) and written in row groups of at most :data:`ROW_GROUP_ROWS` rows or :data:`ROW_GROUP_BYTES`, so
memory holds a few batches, never the file. The schema, its metadata (Hugging Face ``datasets``
features too, extended with the added columns) and the row order are kept; added are the report's
:data:`~rightsmark.subset.report.VALUE_COLUMNS` (``decision``, ``reason_codes``, ``integrity``, ``trust``,
``signer_common_name``, ..., each named ``rightsmark_<name>`` when the file already has a column of that
name) and ``rightsmark_key`` (the report's item key for the row). The schema metadata gains
``rightsmark.subset``: the report read and what its run rested on (``REPORT.meta.json``).

A row is matched to its record by the row index of the record's sample when every record of the file
has one; otherwise by its item key, computed by verify's own Parquet reader (so ``--column`` and
``--key-column`` must be those verify was given), which reads the key columns once more. A row is
copied when exactly one record names it and says keep; a row whose record's sample key disagrees
with the row (``column:NAME``: the value in column NAME; ``path``: the image's path) is unmatched.
Where rows are known by their position only (keyed by row index), a row inserted or removed since
the report would shift every record onto another row: unless the report names exactly the file's
rows, no copy of such a file is written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rightsmark.reports.formats import LIST_COLUMNS
from rightsmark.subset.report import AMBIGUOUS, VALUE_COLUMNS, Covered, Entry
from rightsmark.subset.results import Counts, FilterInputError

#: The column holding the report's item key of each row.
KEY_COLUMN = "rightsmark_key"
#: Bytes (uncompressed, as the footer estimates them) read per record batch, and the bounds on its rows.
BATCH_BYTES = 4 << 20
BATCH_ROWS = (16, 4096)
#: A row group of the copy is written once it holds this many rows or bytes.
ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 32 << 20


def _damaged(file: str, exc: object) -> FilterInputError:
    return FilterInputError(f"cannot read Parquet file: {exc}; no copy of it written", path=file)


def added_names(existing: list[str], file: str) -> dict[str, str]:
    """Report column -> its name in the copy (``rightsmark_`` prefixed when the file has the plain name)."""
    taken = set(existing)
    out = {c: (f"rightsmark_{c}" if c in taken else c) for c in VALUE_COLUMNS}
    out[KEY_COLUMN] = KEY_COLUMN
    clash = sorted(name for name in out.values() if name in taken)
    if clash:
        raise FilterInputError(
            f"the file already has columns named {', '.join(clash)}, which the copy would add; no copy written",
            path=file,
            hint="rename or drop those columns first",
        )
    return out


def _type(column: str) -> Any:
    import pyarrow as pa

    return pa.list_(pa.string()) if column in LIST_COLUMNS else pa.string()


def _hf_features(raw: bytes, added: dict[str, str]) -> bytes:
    """Hugging Face ``datasets`` metadata declaring the added columns too (unchanged when it does not parse)."""
    try:
        doc = json.loads(raw)
        features = doc["info"]["features"]
        if not isinstance(features, dict):
            return raw
    except (ValueError, KeyError, TypeError):
        return raw
    for column, name in added.items():
        value = {"dtype": "string", "_type": "Value"}
        features[name] = {"feature": value, "_type": "Sequence"} if column in LIST_COLUMNS else value
    return json.dumps(doc).encode()


def _schema(schema: Any, added: dict[str, str], provenance: dict[str, Any]) -> Any:
    import pyarrow as pa

    out = schema
    for column, name in added.items():
        out = out.append(pa.field(name, _type(column)))
    metadata = dict(schema.metadata or {})
    if b"huggingface" in metadata:
        metadata[b"huggingface"] = _hf_features(metadata[b"huggingface"], added)
    metadata[b"rightsmark.subset"] = json.dumps(provenance, sort_keys=True).encode()
    return out.with_metadata(metadata)


def row_names(file: str, column: str | None, key_column: str | None) -> list[str]:
    """What follows ``#`` in each row's item key, as verify's Parquet reader names the rows (cells not read)."""
    from rightsmark.sources.parquet import ParquetSource

    prefix = file + "#"
    names: list[str] = []
    for item in ParquetSource(file, column, key_column, max_item_size=0):  # every cell "too large": keys only
        if not item.key.startswith(prefix):
            raise FilterInputError(
                f"{item.error or 'cannot name its rows'}; no copy written",
                path=file,
                hint="give --column / --key-column as verify was given them",
            )
        names.append(item.key[len(prefix) :])
    return names


class _Matcher:
    """The record of each row (see the module docstring), and the rows counted."""

    def __init__(self, file: str, covered: Covered, rows: int, names: list[str] | None) -> None:
        self.covered, self.names = covered, names
        self.counts = Counts()
        if names is None:
            self.repeated: set[str] = set()
            self.counts.unclaimed = covered.whole + sum(1 for row in covered.by_row if row >= rows)
            described = sum(1 for row in covered.by_row if row < rows)
            entries = [e for row, e in covered.by_row.items() if row < rows and e is not AMBIGUOUS]
            # ids several rows share (made unique by their row number) know a row by its position too
            shared = any(n > 1 for n in Counter(e.key for e in entries).values())
            positional = shared or any(not _named(e.key_from) for e in entries)
        else:
            self.repeated = {name for name, n in Counter(names).items() if n > 1}
            present = set(names)
            self.counts.unclaimed = covered.whole + sum(1 for name in covered.by_name if name not in present)
            described = sum(1 for name in present if name in covered.by_name)
            positional = any(name == str(row) or name.endswith(f"@{row}") for row, name in enumerate(names))
        if positional and (self.counts.unclaimed or described != rows):
            raise FilterInputError(
                f"the report does not describe this file exactly ({described} of its {rows} rows have a record,"
                f" {self.counts.unclaimed} records name none of them) and rows are known by their position only,"
                " so none can be matched safely; no copy written",
                path=file,
                hint="verify the file again and filter it with that report",
            )

    def entry(self, row: int, batch: Any, index: int) -> Entry | None:
        """The record that lets row ``row`` (``index`` in ``batch``) be copied, else None (counted)."""
        if self.names is None:
            entry = self.covered.by_row.get(row)
            ok = entry is not None and entry is not AMBIGUOUS and self._same_key(entry, row, batch, index)
        else:
            name = self.names[row]
            entry = self.covered.by_name.get(name)
            ok = entry is not None and entry is not AMBIGUOUS and name not in self.repeated
        if not ok or entry is None:
            self.counts.unmatched += 1
            return None
        if not entry.keep:
            self.counts.dropped += 1
            return None
        self.counts.kept += 1
        return entry

    def _same_key(self, entry: Entry, row: int, batch: Any, index: int) -> bool:
        how = entry.key_from or ""
        if how == "row":
            return entry.key == str(row)
        if how.startswith("column:"):
            name = how.removeprefix("column:")
            column, _, field = name.rpartition(".") if name not in batch.schema.names else (name, "", "")
            if column not in batch.schema.names:
                return False
            value = batch.column(column)[index].as_py()
            if field:  # NAME.path: the path of an image struct
                value = value.get(field) if isinstance(value, dict) else None
            return value is not None and str(value) == entry.key
        return False  # a key made another way names nothing in the row to compare: not matched


def _named(key_from: str | None) -> bool:
    """Whether a row's key names it by its content (a key column, the image's path), not by its position."""
    return key_from is not None and key_from.startswith("column:")


def _batch_rows(metadata: Any) -> int:
    """Rows per record batch: about :data:`BATCH_BYTES`, from the first row groups' sizes in the footer."""
    groups = [metadata.row_group(i) for i in range(min(4, metadata.num_row_groups))]
    rows = sum(g.num_rows for g in groups)
    per_row = max(1, sum(g.total_byte_size for g in groups) // rows) if rows else 1
    return max(BATCH_ROWS[0], min(BATCH_ROWS[1], BATCH_BYTES // per_row))


def _batches(parquet: Any, file: str) -> Iterator[Any]:
    batches = parquet.iter_batches(batch_size=_batch_rows(parquet.metadata), use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:  # a damaged page
            raise _damaged(file, exc) from None
        if batch is None:
            return
        yield batch


def filter_file(
    fh: IO[bytes],
    file: str,
    covered: Covered,
    dest: Path,
    *,
    column: str | None,
    key_column: str | None,
    provenance: dict[str, Any],
) -> Counts:
    """Write the rows of the Parquet file open as ``fh`` that the report kept to ``dest``; the counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(fh, pre_buffer=False, buffer_size=1 << 20)  # read as needed: less memory
    except Exception as exc:  # not Parquet, a damaged footer
        raise _damaged(file, exc) from None
    with parquet:
        schema = parquet.schema_arrow
        added = added_names(list(schema.names), file)
        rows = parquet.metadata.num_rows
        names = None if covered.by_sample else row_names(file, column, key_column)
        if names is not None and len(names) != rows:
            raise _damaged(file, f"{len(names)} rows named of {rows}")
        matcher = _Matcher(file, covered, rows, names)
        out_schema = _schema(schema, added, provenance)
        buffered: list[Any] = []
        size = 0
        row = 0
        with pq.ParquetWriter(dest, out_schema) as writer:
            for batch in _batches(parquet, file):
                chosen = [(i, e) for i in range(batch.num_rows) if (e := matcher.entry(row + i, batch, i)) is not None]
                row += batch.num_rows
                if not chosen:
                    continue
                kept = batch.take(pa.array([i for i, _ in chosen], pa.int64()))
                columns = list(kept.columns)
                for position, name in enumerate(VALUE_COLUMNS):
                    values = [e.values[position] if e.values is not None else None for _, e in chosen]
                    columns.append(pa.array(values, _type(name)))
                columns.append(pa.array([e.path for _, e in chosen], pa.string()))
                buffered.append(pa.RecordBatch.from_arrays(columns, schema=out_schema))
                size += buffered[-1].nbytes
                if size >= ROW_GROUP_BYTES or sum(b.num_rows for b in buffered) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(buffered, schema=out_schema))
                    buffered, size = [], 0
            if buffered:
                writer.write_table(pa.Table.from_batches(buffered, schema=out_schema))
        if row != rows:
            raise _damaged(file, f"{row} rows read of the {rows} its footer counts")
    return matcher.counts
