"""Parquet files with a column of image bytes (local path or fsspec URL).

The file is read with pyarrow in small record batches (:meth:`pyarrow.parquet.ParquetFile.iter_batches`),
only the columns needed, so memory stays flat whatever the number of rows (pyarrow still decodes one
column chunk of a row group at a time: a file written with huge row groups costs one row group).
A remote file is read by range requests through an fsspec file object, not downloaded whole.

The image column is ``column`` when given, otherwise detected: a binary column (``binary``,
``large_binary``, ``binary_view``, ``fixed_size_binary``) or a struct column with a binary ``bytes``
field, which is how Hugging Face ``datasets`` stores ``Image`` features (``{bytes, path}``). Columns
the file's Hugging Face metadata declares as ``Image`` come first; among several candidates a name
like ``image``, ``img``, ``jpg``, ``png``, ``bytes`` decides; when it stays ambiguous the file yields
one error item asking for ``column``.

Each row is a sample (:class:`~rightsmark.models.Sample`): the file as given, the row's own id, where
that id came from (``key_from``), the row index (0-based, counted over the whole file) and the row's
URL (a ``url`` column). The id is, in this order: the ``key_column`` value when given; a ``__key__``,
``key``, ``id`` or ``path`` column's value (``key_from`` ``column:NAME``); the non-empty ``path``
field of a Hugging Face image struct (``column:IMAGE.path``); none (``row``: the sample key is the row
index). Columns named like the HTTP headers a crawler recorded, and a ``headers`` column, are read as
the row's sidecar values (:mod:`rightsmark.sources.sidecars`).

Keys are ``f"{file}#{name}"``, unique within the file (a pass over the key columns only, before the
first item streams out, finds the ids that need it):

* ``name`` is the row's id where no other row has it (``file.parquet#cat.jpg``);
* ``ID@ROW`` where several rows have that id (ten rows whose ``image.path`` is ``image.jpg`` are
  ``image.jpg@0`` ... ``image.jpg@9``), or where the id itself ends in ``@`` and digits;
* the row index where the row has no id (``file.parquet#4``), or ``@ROW`` where another row's id is
  that number (``file.parquet#@4``).

Only a name made with ``@ROW`` ends in ``@`` and digits, and its digits are its own row: no two rows
share a key, and no row takes another's. A null image cell (or an HF image stored by reference, with
``path`` but no ``bytes``) yields an item with ``error``; a file that cannot be opened or breaks while
being read yields one error item keyed by the file. A cell longer than the maximum item size is an
error item (its length is read from the Arrow array; the cell is never copied into Python).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rightsmark.models import Sample
from rightsmark.sources.base import SPECS, Item, Skip, WorkUnit, checked
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE, open_regular, too_large
from rightsmark.sources.storage import credentials_problem, is_url, open_url

#: Column names that mark the image column among several binary ones, best first.
IMAGE_COLUMN_NAMES = ("image", "img", "jpg", "jpeg", "png", "webp", "bytes", "data", "content")
#: Columns used as keys when no key column is named, best first.
KEY_COLUMN_NAMES = ("__key__", "key", "id", "path")
#: Rows per record batch.
BATCH_ROWS = 16


def _is_binary(t: Any) -> bool:
    import pyarrow as pa

    is_view = getattr(pa.types, "is_binary_view", None)
    return bool(
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or (is_view is not None and is_view(t))
    )


def _is_image_struct(t: Any) -> bool:
    import pyarrow as pa

    if not pa.types.is_struct(t):
        return False
    index = t.get_field_index("bytes")
    return bool(index >= 0 and _is_binary(t.field(index).type))


def _hf_image_columns(schema: Any) -> set[str]:
    """Columns declared as ``Image`` in Hugging Face ``datasets`` metadata, if any."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return set()
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
        return {name for name, spec in features.items() if isinstance(spec, dict) and spec.get("_type") == "Image"}
    except (ValueError, AttributeError):
        return set()


class ColumnError(ValueError):
    """The image or key column cannot be determined."""


def choose_image_column(schema: Any, column: str | None) -> str:
    """The name of the column holding image bytes; raises :class:`ColumnError` with the reason."""
    names: list[str] = [str(name) for name in schema.names]
    if column is not None:
        if column not in names:
            raise ColumnError(f"no column {column!r} (columns: {', '.join(names)})")
        t = schema.field(column).type
        if not (_is_binary(t) or _is_image_struct(t)):
            raise ColumnError(f"column {column!r} has type {t}, not binary or a struct with a 'bytes' field")
        return column
    candidates = [str(f.name) for f in schema if _is_binary(f.type) or _is_image_struct(f.type)]
    if not candidates:
        raise ColumnError(f"no column of image bytes (columns: {', '.join(names)}); name one with column=")
    declared = _hf_image_columns(schema)
    pool = [c for c in candidates if c in declared] or candidates
    if len(pool) == 1:
        return pool[0]
    for preferred in IMAGE_COLUMN_NAMES:
        for name in pool:
            if name.lower() == preferred:
                return name
    raise ColumnError(f"several columns could hold the images ({', '.join(pool)}); name one with column=")


def choose_key_column(schema: Any, key_column: str | None, image_column: str) -> str | None:
    names: list[str] = list(schema.names)
    if key_column is not None:
        if key_column not in names:
            raise ColumnError(f"no key column {key_column!r} (columns: {', '.join(names)})")
        return key_column
    for name in KEY_COLUMN_NAMES:
        if name in names and name != image_column:
            return name
    return None


class ParquetSource:
    """The images in one Parquet file (local path or fsspec URL)."""

    def __init__(
        self,
        file: str | os.PathLike[str],
        column: str | None = None,
        key_column: str | None = None,
        *,
        storage_options: Mapping[str, Any] | None = None,
        batch_rows: int = BATCH_ROWS,
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    ) -> None:
        self.file = os.fspath(file)
        self.column = column
        self.key_column = key_column
        self.storage_options = dict(storage_options or {})
        self.batch_rows = batch_rows
        self.max_item_size = max_item_size

    def work_units(self, skip: Skip | None = None) -> Iterator[WorkUnit]:
        """One unit, the whole file: its duplicate keys and row numbers are known only to a reader of all of it."""
        yield WorkUnit(SPECS, (self.file,), whole=True)

    def __iter__(self) -> Iterator[Item]:
        yield from checked(self._items())

    def _items(self) -> Iterator[Item]:
        handle = None
        try:
            import pyarrow.parquet as pq

            if is_url(self.file):
                handle = open_url(self.file, self.storage_options)
                parquet = pq.ParquetFile(handle)
            else:
                fd, _ = open_regular(self.file, 1 << 62)  # a FIFO or device is refused, never read
                handle = open(fd, "rb")  # noqa: SIM115 (closed below)
                parquet = pq.ParquetFile(handle)
        except FileNotFoundError:
            yield Item(key=self.file, error="no such file")
            return
        except IsADirectoryError:
            yield Item(key=self.file, error="is a directory where a Parquet file was expected")
            return
        except Exception as exc:  # not Parquet, damaged footer, storage error: reported, never raised
            if handle is not None:
                handle.close()
            credentials_problem(exc, self.file)
            yield Item(key=self.file, error=f"cannot read Parquet file: {exc}")
            return
        try:
            yield from self._rows(parquet)
        finally:
            parquet.close()
            if handle is not None:
                handle.close()

    def _rows(self, parquet: Any) -> Iterator[Item]:
        schema = parquet.schema_arrow
        try:
            image = choose_image_column(schema, self.column)
            key_name = choose_key_column(schema, self.key_column, image)
        except ColumnError as exc:
            yield Item(key=self.file, error=str(exc))
            return
        from rightsmark.sources.sidecars import ColumnReader

        beside = ColumnReader([str(n) for n in schema.names], skip=(image, key_name))
        columns = list(dict.fromkeys([image, *([key_name] if key_name else []), *beside.columns]))
        try:
            keys = self._key_survey(parquet, image, key_name)
        except Exception as exc:
            yield Item(key=self.file, error=f"Parquet file damaged (reading its keys): {exc}")
            return
        row = 0
        batches = parquet.iter_batches(batch_size=self.batch_rows, columns=columns, use_threads=False)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                cells = {name: batch.column(i) for i, name in enumerate(columns)}
                column = cells[image]
                struct = _is_image_struct(column.type)
                if struct:  # {bytes, path}: the bytes and the paths apart
                    data_array, refs = column.field("bytes"), column.field("path").to_pylist()
                else:
                    data_array, refs = column, [None] * len(column)
                lengths = _lengths(data_array)
                key_cells: list[Any] = [None] * len(column)
                if key_name == image:  # the image struct names its rows: its paths only, never its bytes again
                    key_cells = [{"path": r} for r in refs] if struct else column.to_pylist()
                elif key_name is not None:
                    key_cells = cells[key_name].to_pylist()
                others = {name: cells[name].to_pylist() for name in beside.columns}
            except Exception as exc:
                yield Item(key=self.file, error=f"Parquet file damaged after row {row}: {exc}")
                return
            for index in range(len(column)):
                ref = refs[index] or None
                raw, key_from = _raw_id(key_cells[index], ref, key_name, image)
                key = f"{self.file}#{keys.name(raw, row)}"
                url, values = beside.row({name: cells_[index] for name, cells_ in others.items()})
                sample = Sample(self.file, raw if raw is not None else str(row), key_from, row, url)
                length = lengths[index]
                if length is None:
                    if ref:
                        message = f"no image bytes in column {image!r}: the image is stored by path ({ref})"
                    else:
                        message = f"no image bytes in column {image!r} (null cell)"
                    yield Item(key=key, error=message, sample=sample)
                elif length > self.max_item_size:
                    yield Item(key=key, error=too_large(length, self.max_item_size), sample=sample)
                else:  # one cell at a time into Python: the batch is never held twice
                    data = bytes(data_array[index].as_py())
                    yield Item(key=key, data=data, sample=sample, sidecar=values)
                row += 1

    def _key_survey(self, parquet: Any, image: str, key_name: str | None) -> _Keys:
        """Which ids more than one row has, and which look like row numbers, from the key columns alone."""
        import pyarrow as pa
        import pyarrow.compute as pc

        struct = _is_image_struct(parquet.schema_arrow.field(image).type)
        columns: list[str] = []
        if key_name is not None:
            key_type = parquet.schema_arrow.field(key_name).type
            columns.append(f"{key_name}.path" if _is_image_struct(key_type) else key_name)
        if struct and key_name != image:
            columns.append(f"{image}.path")
        if not columns:
            return _Keys()  # keyed by row number only: unique
        chunks: list[Any] = []
        for batch in parquet.iter_batches(batch_size=65536, columns=columns, use_threads=False):
            first: list[Any] = batch.column(0).to_pylist()
            second: list[Any] = batch.column(1).to_pylist() if batch.num_columns > 1 else [None] * len(first)
            raws = []
            for index, value in enumerate(first):
                holder: dict[str, Any] = (value if key_name is None else second[index]) or {}
                if key_name is None:  # the only column read is the image path
                    value, ref = None, holder.get("path")
                else:
                    ref = holder.get("path") if struct else None
                raws.append(_raw_id(value, ref or None, key_name, image)[0])
            chunks.append(pa.array(raws, type=pa.large_string()))
        if not chunks:
            return _Keys()
        ids = pa.chunked_array(chunks, type=pa.large_string())
        counts = pc.value_counts(ids.drop_null())
        repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
        numeric: list[str] = []
        if ids.null_count:  # rows without an id are named by row number: which ids could clash
            values = counts.field("values")
            numeric = values.filter(pc.match_substring_regex(values, r"^(0|[1-9][0-9]*)$")).to_pylist()
        return _Keys(frozenset(repeated), frozenset(numeric))


#: An id that ends like one made unique by its row number (``name@3``).
_ROW_SUFFIX = re.compile(r"@[0-9]+$")


@dataclass(frozen=True)
class _Keys:
    """What makes each row's id unique in its file (see the module docstring)."""

    repeated: frozenset[str] = frozenset()
    numeric: frozenset[str] = frozenset()

    def name(self, raw: str | None, row: int) -> str:
        """What follows ``#`` in the key of row ``row`` whose id is ``raw`` (None: it has none)."""
        if raw is None:
            return f"@{row}" if str(row) in self.numeric else str(row)
        if raw in self.repeated or _ROW_SUFFIX.search(raw):
            return f"{raw}@{row}"
        return raw


def _raw_id(key_value: Any, ref: str | None, key_name: str | None, image: str) -> tuple[str | None, str]:
    """A row's own id and where it came from (:attr:`~rightsmark.models.Sample.key_from`): the key column's
    value (``column:NAME``; ``column:NAME.path`` when it names an image struct), else the image's path
    (``column:IMAGE.path``), else none (``row``)."""
    if key_name is not None:
        source = f"column:{key_name}"
        if isinstance(key_value, dict):  # key_column named the image struct itself: use its path
            key_value, source = key_value.get("path") or None, f"column:{key_name}.path"
        if key_value not in (None, ""):
            return str(key_value), source
    if ref:
        return ref, f"column:{image}.path"
    return None, "row"


def _lengths(array: Any) -> list[int | None]:
    """The byte length of each cell of a binary array (None for a null cell), without copying the bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_fixed_size_binary(array.type):
        width = array.type.byte_width
        return [None if not valid else width for valid in pc.is_valid(array).to_pylist()]
    lengths: list[int | None] = pc.binary_length(array).to_pylist()
    return lengths
