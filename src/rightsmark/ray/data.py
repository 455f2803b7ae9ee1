"""Verification inside a Ray Data pipeline: :func:`verify` adds keep/drop columns to a dataset.

    import ray, rightsmark.ray
    from rightsmark import load_policy

    ds = ray.data.read_webdataset("s3://bucket/shards/", decoder=None)   # images stay undecoded
    ds = rightsmark.ray.verify(ds, load_policy("policy.toml"))
    ds = ds.filter(lambda row: row["decision"] == "keep")

Images must reach the verifier as the bytes of the file: decoding or re-encoding drops the manifest.
Inputs that keep them: :func:`rightsmark.ray.read_shards` (tar shards read by rightsmark's own tar source:
a truncated shard or a corrupt member becomes rows that get error records, where Ray's
``read_webdataset(..., decoder=None)`` stops the pipeline), ``read_binary_files(...)``,
``read_parquet(...)`` with a bytes column or a Hugging Face ``Image`` struct (``{bytes, path}``).
A row whose :data:`READ_ERROR_COLUMN` holds something is what a reader could not read: its record is an error.

Work goes batch by batch (``map_batches``) to a pool of actors, each holding one engine context for
its life; nothing runs per image in its own task. Ray Data restarts an actor whose worker dies and
retries its batch, so a lost worker loses no row.

This is the only module of rightsmark that imports Ray (``pip install 'rightsmark[ray]'``);
:mod:`rightsmark.ray.engine` runs ``rightsmark verify --engine ray`` with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pyarrow as pa
import ray.data
from ray.data import ActorPoolStrategy

from rightsmark.models import SignalSource, VerifyRecord
from rightsmark.ray.engine import Judge, record_json, record_type
from rightsmark.reports.formats import FLAT_COLUMNS, flat
from rightsmark.sources.base import DUPLICATE_KEY, Item, SidecarValue
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import error_facts
from rightsmark.verify.policy import Policy

#: Column names that hold the image, best first: the WebDataset extensions of images (``read_webdataset``
#: names a column after each member's extension), then generic names (``read_binary_files`` says ``bytes``).
IMAGE_COLUMNS = (
    *("jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "avif", "heic", "heif", "jxl", "dng", "svg"),
    *("image", "img", "bytes", "data", "content"),
)
#: Columns naming a row when no ``key_column`` is given, best first.
KEY_COLUMNS = ("path", "__key__", "key", "id")
#: The columns :func:`verify` adds besides the flat report columns.
KEY_COLUMN = "rightsmark_key"
RECORD_COLUMN = "rightsmark_record"
#: The column of what a reader could not read (:func:`rightsmark.ray.read_shards`): ``{key, error, reason}``,
#: null in a row that was read. A row holding anything there gets an error record under ``key``, never ``keep``.
READ_ERROR_COLUMN = "rightsmark_read_error"
#: A sidecar of the row's sample that its reader could not read (``{value, where}``, from
#: :func:`rightsmark.ray.read_shards`: the shard was damaged by it): judged as unreadable, an opt-out of every use.
SIDECAR_NOTE = "rightsmark_sidecar_unreadable"
#: Reason codes a reader may give instead of ``integrity-error`` (any other is not taken from the data).
READ_REASONS = frozenset({DUPLICATE_KEY})


# ---------------------------------------------------------------------------------------------
# Finding the image and the key in a row


def _present(value: Any) -> bool:
    """Whether a cell holds something (pandas-made blocks say NaN where a sample lacks a member)."""
    return value is not None and not (isinstance(value, float) and value != value)


def _bytes_of(cell: Any) -> tuple[bytes | None, str | None]:
    """(bytes, HF path) of a cell holding raw bytes or a Hugging Face ``{bytes, path}`` struct."""
    if isinstance(cell, dict) and "bytes" in cell:
        data = cell.get("bytes")
        ref = cell.get("path") or None
        return (bytes(data) if isinstance(data, bytes | bytearray | memoryview) else None), ref
    if isinstance(cell, bytes | bytearray | memoryview):
        return bytes(cell), None
    return None, None


def find_image(row: dict[str, Any], column: str | None) -> tuple[str | None, bytes | None, str | None, str | None]:
    """(column, bytes, path recorded with a Hugging Face image, why there are no bytes) for one row.

    ``column`` when given; else the one column named like an image (:data:`IMAGE_COLUMNS`) that holds
    something in this row (a WebDataset sample has a ``jpg`` or a ``png`` column, the other one empty);
    else the one column holding bytes. Two such columns holding something are refused (one record per row).
    """
    if column is not None:
        if column not in row:
            return None, None, None, f"no column {column!r} (columns: {', '.join(row)})"
        names = [column]
    else:
        names = [n for preferred in IMAGE_COLUMNS for n in row if n.lower() == preferred]
        if not names:
            names = [n for n, v in row.items() if _bytes_of(v) != (None, None) and not n.startswith("__")]
        # one record per row: a row with two images (a sample's jpg and png) would pass the second unchecked
        holding = [n for n in names if _present(row[n])]
        if len(holding) > 1:
            return None, None, None, f"several columns could hold the image ({', '.join(holding)}); name one"
    for name in names:
        cell = row[name]
        if not _present(cell):
            continue
        data, ref = _bytes_of(cell)
        if data is not None:
            return name, data, ref, None
        if isinstance(cell, dict) and "bytes" in cell:
            where = f": the image is stored by path ({ref})" if ref else ""
            return name, None, ref, f"no image bytes in column {name!r}{where}"
        return name, None, None, f"column {name!r} holds {type(cell).__name__}, not the bytes of an image"
    if column is not None:
        return column, None, None, f"no image bytes in column {column!r} (empty cell)"
    if not names:
        return None, None, None, f"no column of image bytes (columns: {', '.join(row)}); name one with column="
    return None, None, None, f"no image bytes in this row (looked in {', '.join(names)})"


def row_key(row: dict[str, Any], key_column: str | None, image: str | None, ref: str | None, data: bytes | None) -> str:
    """What names a row in records and keep lists.

    ``key_column`` when given; for a WebDataset sample ``URL/KEY.EXT`` (like the tar source's
    ``SHARD/MEMBER``); else a ``path``, ``__key__``, ``key`` or ``id`` column; else the path recorded in
    a Hugging Face image; else ``sha256:`` and the digest of the bytes.
    """
    if key_column is not None:
        return str(row.get(key_column))
    url, key = row.get("__url__"), row.get("__key__")
    if _present(url) and _present(key) and image is not None:
        return f"{url}/{key}.{image}"
    for name in KEY_COLUMNS:
        value = row.get(name)
        if _present(value) and value != "" and name != image:
            return str(value)
    if ref:
        return ref
    if data is not None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "<no key>"


def read_error(row: dict[str, Any], column: str | None, key_column: str | None) -> tuple[str, str, str | None] | None:
    """(key, error, reason code) of a row a reader could not read (:data:`READ_ERROR_COLUMN` not null), else None.

    Whatever the cell holds makes the row an error: a malformed one is not read as permission (its key is
    then the row's usual one, :func:`row_key`)."""
    cell = row.get(READ_ERROR_COLUMN)
    if not _present(cell):
        return None
    fields = cell if isinstance(cell, dict) else {"error": cell}
    key = fields.get("key")
    if not isinstance(key, str) or not key:
        image, data, ref, _ = find_image(row, column)
        key = row_key(row, key_column, image, ref, data)
    error = fields.get("error")
    reason = fields.get("reason")
    return (
        key,
        str(error) if _present(error) and error != "" else "unreadable",
        reason if reason in READ_REASONS else None,
    )


# ---------------------------------------------------------------------------------------------
# The actor


class RowVerifier(Judge):
    """A Ray Data callable class: one engine context per actor, batches of rows in, the same rows out
    with the verdict columns added."""

    def __init__(
        self,
        policy: Policy,
        trust: TrustSources | None,
        column: str | None,
        key_column: str | None,
        now: dt.datetime | None,
    ) -> None:
        super().__init__(policy, trust, now)
        self.column = column
        self.key_column = key_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        from rightsmark.sources.sidecars import ColumnReader

        records: list[VerifyRecord] = []
        skip = (self.column, self.key_column, SIDECAR_NOTE, *json_columns(batch.column_names))
        columns = ColumnReader(batch.column_names, skip=skip)
        for row in batch.to_pylist():
            unread = read_error(row, self.column, self.key_column)
            if unread is not None:
                key, error, reason = unread
                records.append(self.record(key, error_facts(error), Item(key=key, error=error, reason=reason)))
                continue
            image, data, ref, problem = find_image(row, self.column)
            key = row_key(row, self.key_column, image, ref, data)
            facts = error_facts(problem or "no image bytes") if data is None else self.facts(data, key)
            beside = row_sidecar(row, key, columns)
            records.append(self.record(key, facts, Item(key=key, sidecar=beside) if beside else None))
        return add_record_columns(batch, records)


def row_sidecar(row: dict[str, Any], key: str, columns: Any) -> tuple[SidecarValue, ...]:
    """What a row records beside its image, as the sources read it for ``verify``: a WebDataset sample's
    ``json`` member (any case of the extension; crawler headers, an unreadable one failing closed) and
    header-named columns."""
    from rightsmark.sources.sidecars import from_json, unreadable

    values: list[SidecarValue] = []
    note = row.get(SIDECAR_NOTE)
    if isinstance(note, dict):
        why = str(note.get("value")).removeprefix("unreadable: ")  # the reader's value, as the sources write it
        values.append(unreadable(why, SignalSource.SIDECAR, str(note.get("where"))))
    for name in json_columns(row):
        raw = row[name]
        if not _present(raw):
            continue
        data = (
            raw.encode("utf-8") if isinstance(raw, str) else bytes(raw) if isinstance(raw, bytes | bytearray) else None
        )
        where = f"sidecar {key.rsplit('.', 1)[0]}.{name}"
        values.extend(from_json(data, where, error="not bytes or text")[1])
    values.extend(columns.row(row)[1])
    return tuple(values)


def json_columns(row: dict[str, Any] | list[str]) -> list[str]:
    """The columns holding a WebDataset sample's ``.json`` member (``json``, ``JSON``, ...)."""
    return [name for name in row if name.lower() == "json"]


def output_names(existing: list[str]) -> dict[str, str]:
    """Flat report column -> the name it gets in the output (prefixed ``rightsmark_`` when the input has it)."""
    taken = set(existing)
    return {c: (f"rightsmark_{c}" if c in taken else c) for c in FLAT_COLUMNS if c != "path"}


def add_record_columns(batch: pa.Table, records: list[VerifyRecord]) -> pa.Table:
    rows = [flat(r) for r in records]
    out = batch
    for column, name in output_names(batch.column_names).items():
        out = out.append_column(
            pa.field(name, record_type(column)), pa.array([r[column] for r in rows], record_type(column))
        )
    out = out.append_column(pa.field(KEY_COLUMN, pa.string()), pa.array([r.path for r in records], pa.string()))
    return out.append_column(
        pa.field(RECORD_COLUMN, pa.string()), pa.array([record_json(r) for r in records], pa.string())
    )


def actor_pool(concurrency: int | tuple[int, int] | None) -> ActorPoolStrategy:
    if concurrency is None:
        return ActorPoolStrategy(min_size=1, max_size=None)  # grows with the cluster's free CPUs
    if isinstance(concurrency, tuple):
        return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ActorPoolStrategy(size=concurrency)


def verify(
    ds: ray.data.Dataset,
    policy: Policy | None = None,
    *,
    column: str | None = None,
    key_column: str | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = 32,
    now: dt.datetime | None = None,
) -> ray.data.Dataset:
    """``ds`` with the verdict of each row's image added (lazily, like any Ray Data transform).

    ``column`` holds the image bytes (default: found per row, see :func:`find_image`; raw bytes or a
    Hugging Face ``{bytes, path}`` struct); ``key_column`` names rows (default:
    see :func:`row_key`). Every input column is kept; added are the flat report columns of
    :data:`rightsmark.reports.formats.FLAT_COLUMNS` except ``path`` (``decision``, ``reason_codes``,
    ``integrity``, ``trust``, ``signer_common_name``, ... each prefixed ``rightsmark_`` when the input
    already has a column of that name), ``rightsmark_key`` (what the record calls the row) and
    ``rightsmark_record`` (the whole record, JSON). A row without image bytes gets an ``error`` record,
    never an exception; so does a row a reader could not read (:data:`READ_ERROR_COLUMN`, from
    :func:`rightsmark.ray.read_shards`), under the key and with the reason code the reader gave.
    ``concurrency``: actors (a number, or ``(min, max)``; default: as many as the cluster's free CPUs
    allow), each with one CPU and one engine context; a fixed number should leave CPUs for the tasks
    reading the input, or the reads wait for ever. Trust lists and anchors are read here, on the driver,
    and travel to the actors as PEM text.
    """

    policy = policy or Policy()
    trust = policy.trust_sources()
    return ds.map_batches(
        RowVerifier,
        fn_constructor_kwargs={
            "policy": policy,
            "trust": trust,
            "column": column,
            "key_column": key_column,
            "now": now,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=actor_pool(concurrency),
        num_cpus=1,
    )


__all__ = [
    "IMAGE_COLUMNS",
    "KEY_COLUMN",
    "READ_ERROR_COLUMN",
    "RECORD_COLUMN",
    "RowVerifier",
    "find_image",
    "read_error",
    "row_key",
    "verify",
]
