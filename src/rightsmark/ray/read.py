"""WebDataset tar shards as a Ray Dataset, read by rightsmark's own tar source: :func:`read_shards`.

    import rightsmark.ray
    from rightsmark import load_policy

    ds = rightsmark.ray.read_shards("s3://bucket/shards/{00000..00999}.tar", storage_options={...})
    ds = rightsmark.ray.verify(ds, load_policy("policy.toml"))
    ds = ds.filter(lambda row: row["decision"] == "keep")

Rows are WebDataset samples as ``ray.data.read_webdataset(..., decoder=None)`` makes them: ``__key__`` (the
member name up to the first dot of its last component), ``__url__`` (the shard, as given: a URL keeps its
scheme) and one column per member extension holding the member's bytes (``jpg``, ``json``, ``txt``, ...),
so :func:`rightsmark.ray.verify` keys each record ``SHARD/MEMBER``, like ``rightsmark verify --engine ray``.

What that reader crashes on or passes over in silence becomes rows that :func:`~rightsmark.ray.verify`
turns into error records (the column :data:`~rightsmark.ray.data.READ_ERROR_COLUMN`, ``{key, error,
reason}``): a truncated or corrupt shard (its samples before the damage are read; then one error,
keyed by the member being read or by the shard), a refused member (link, device, unsafe or duplicate
name, over ``max_item_size``: :mod:`rightsmark.sources.tar`), a missing shard, an image member without
an extension, a member whose extension names a reserved column (``__...``), and the members of a sample
met again after other samples (WebDataset keeps a sample's members adjacent). A sample with such an
error is one row holding the members that were read and the first error, plus a row per further error:
its image is never kept. A member that is not an image and has no extension (a ``README``) belongs to
no sample and is left out, as the tar source leaves sidecars out when verifying.

Which shards: each path is brace-expanded and planned by the sources' one dispatch table
(:mod:`rightsmark.sources.dispatch`): a shard (``.tar``, ``.tar.gz``, ``.tgz``, ...; local or a URL),
a directory or a URL prefix (the shards found there; other files are no part of a WebDataset and are
left out, as ``read_webdataset`` does), ``@LIST``. A path that holds no shard is refused
(:class:`~rightsmark.errors.UsageError`) when the dataset is made. Each read task reads whole shards
(one per task unless ``override_num_blocks`` asks for fewer tasks), streaming: one member in memory at a
time, blocks of at most :data:`BLOCK_ROWS` samples or about :data:`BLOCK_BYTES` bytes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from rightsmark.errors import UsageError
from rightsmark.media.formats import HEADER_BYTES, sniff
from rightsmark.ray.data import READ_ERROR_COLUMN, SIDECAR_NOTE
from rightsmark.sources.base import ERRORS, SPECS, UNREADABLE, Item, WorkUnit
from rightsmark.sources.containers import is_tar_name
from rightsmark.sources.dispatch import open_unit, work_units
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE
from rightsmark.sources.samples import wds_key
from rightsmark.sources.tar import TarSource

#: A block is cut after this many rows (samples), or once it holds :data:`BLOCK_BYTES` bytes of members.
BLOCK_ROWS = 256
BLOCK_BYTES = 64 << 20

KEY, URL = "__key__", "__url__"
#: The Arrow type of :data:`~rightsmark.ray.data.READ_ERROR_COLUMN`.
READ_ERROR_TYPE = pa.struct([("key", pa.string()), ("error", pa.string()), ("reason", pa.string())])
#: The Arrow type of :data:`~rightsmark.ray.data.SIDECAR_NOTE`.
SIDECAR_NOTE_TYPE = pa.struct([("value", pa.string()), ("where", pa.string())])

NO_EXTENSION = "an image member without an extension is no part of a WebDataset sample; refused, never kept"
RESERVED = "the member's extension names a reserved column (__...); refused, never kept: rename it"
SCATTERED = (
    "the sample's members are not adjacent in the shard (met again after other samples); refused, never kept:"
    " write its members together"
)

Row = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Planning (on the driver)


def _is_shard(unit: WorkUnit) -> bool:
    return unit.kind == SPECS and unit.whole and len(unit.names) == 1 and is_tar_name(unit.names[0])


def plan_shards(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    storage_options: Mapping[str, Any] | None = None,
) -> list[WorkUnit]:
    """The shards (one work unit each) and unreadable lists (``errors`` units) that ``paths`` name, in order;
    :class:`UsageError` for a path that names none."""
    given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not given:
        raise UsageError("no shards named", hint="name tar shards, a directory or a prefix holding them")
    units: list[WorkUnit] = []
    for path in (os.fspath(p) for p in given):
        found = [u for u in work_units([path], storage_options=storage_options) if _is_shard(u) or u.kind == ERRORS]
        if not found:
            raise UsageError(
                "no tar shards there",
                path=path,
                hint="read_shards reads WebDataset tar shards (.tar, .tar.gz, ...): name shards, or a directory"
                " or prefix holding them",
            )
        units += found
    return units


# ---------------------------------------------------------------------------------------------
# Reading (in the read tasks)


def sample_name(member: str) -> tuple[str, str] | None:
    """(sample key, extension) of a member name, as WebDataset groups members: the key is the name up to
    the first dot of its last component (``a/b.seg.png`` -> ``a/b``, ``seg.png``); None without one."""
    key = wds_key(member)  # the one rule (rightsmark.sources.samples)
    extension = member[len(key) + 1 :] if key != member else ""
    return (key, extension) if extension else None


def _error(key: str, error: str, reason: str | None = None) -> dict[str, str | None]:
    return {"key": key, "error": error, "reason": reason}


def shard_rows(shard: str, items: Iterable[Item]) -> Iterator[Row]:
    """The rows of one shard from its tar source's items (sidecars included), sample by sample."""
    prefix = shard + "/"
    seen: set[str] = set()
    key: str | None = None
    members: dict[str, bytes] = {}
    errors: list[dict[str, str | None]] = []
    notes: list[dict[str, str]] = []  # a sidecar the source could not read (damage): it fails closed in verify
    scattered = False

    def flush() -> Iterator[Row]:
        if key is not None and (members or errors):
            note = notes[0] if notes else None
            yield {
                KEY: key,
                URL: shard,
                **members,
                READ_ERROR_COLUMN: errors[0] if errors else None,
                SIDECAR_NOTE: note,
            }
            for error in errors[1:]:
                yield {KEY: key, URL: shard, READ_ERROR_COLUMN: error}
        members.clear()
        errors.clear()
        notes.clear()

    for item in items:
        name = sample_name(item.key[len(prefix) :]) if item.key.startswith(prefix) else None
        if name is None:  # the shard itself (missing, damaged between members) or a member without an extension
            if item.error is None and sniff((item.data or b"")[:HEADER_BYTES], item.key) is None:
                continue  # not an image, no part of a sample
            yield from flush()
            key = None
            yield {KEY: None, URL: shard, READ_ERROR_COLUMN: _error(item.key, item.error or NO_EXTENSION, item.reason)}
            continue
        sample, extension = name
        if sample != key:
            yield from flush()
            key, scattered = sample, sample in seen
            seen.add(sample)
        notes.extend({"value": v.value, "where": v.where} for v in item.sidecar if v.name == UNREADABLE and not notes)
        if item.error is not None:
            errors.append(_error(item.key, item.error, item.reason))
        elif scattered:
            errors.append(_error(item.key, SCATTERED))
        elif extension.startswith("__") or extension in (READ_ERROR_COLUMN, SIDECAR_NOTE) or extension in members:
            errors.append(_error(item.key, RESERVED))
        elif item.data is None:  # pragma: no cover - the tar source yields bytes or an error
            errors.append(_error(item.key, "no data"))
        else:
            members[extension] = item.data
    yield from flush()


def unit_rows(unit: WorkUnit, storage_options: Mapping[str, Any] | None, max_item_size: int) -> Iterator[Row]:
    """The rows of one planned unit: a shard's samples, or the error rows of what could not be planned."""
    if unit.kind == ERRORS:
        for item in open_unit(unit, storage_options=storage_options, max_item_size=max_item_size):
            yield {KEY: None, URL: None, READ_ERROR_COLUMN: _error(item.key, item.error or "unreadable", item.reason)}
        return
    shard = unit.names[0]
    source = TarSource(shard, storage_options=storage_options, max_item_size=max_item_size, sidecars=True)
    yield from shard_rows(shard, source)


def to_table(rows: list[Row]) -> pa.Table:
    """One block: ``__key__``, ``__url__``, the read-error and unreadable-sidecar columns, then a binary column
    per member extension (in order of appearance; null where a sample lacks that member)."""
    fixed = (KEY, URL, READ_ERROR_COLUMN, SIDECAR_NOTE)
    extensions = list(dict.fromkeys(name for row in rows for name in row if name not in fixed))
    columns = {
        KEY: pa.array([row.get(KEY) for row in rows], pa.string()),
        URL: pa.array([row.get(URL) for row in rows], pa.string()),
        READ_ERROR_COLUMN: pa.array([row.get(READ_ERROR_COLUMN) for row in rows], READ_ERROR_TYPE),
        SIDECAR_NOTE: pa.array([row.get(SIDECAR_NOTE) for row in rows], SIDECAR_NOTE_TYPE),
    }
    for name in extensions:
        columns[name] = pa.array([row.get(name) for row in rows], pa.binary())
    return pa.table(columns)


def read_units(
    units: Sequence[WorkUnit], storage_options: Mapping[str, Any] | None, max_item_size: int
) -> Iterator[pa.Table]:
    """The blocks of ``units``, cut every :data:`BLOCK_ROWS` rows or :data:`BLOCK_BYTES` bytes."""
    rows: list[Row] = []
    size = 0
    for unit in units:
        for row in unit_rows(unit, storage_options, max_item_size):
            rows.append(row)
            size += sum(len(v) for v in row.values() if isinstance(v, bytes))
            if len(rows) >= BLOCK_ROWS or size >= BLOCK_BYTES:
                yield to_table(rows)
                rows, size = [], 0
    if rows:
        yield to_table(rows)


class ShardDatasource(Datasource):
    """A Ray Data datasource of planned shards: one read task per shard (or per group of neighbouring shards)."""

    def __init__(self, units: Sequence[WorkUnit], storage_options: Mapping[str, Any] | None, max_item_size: int):
        super().__init__()  # type: ignore[no-untyped-call]  # Ray's own __init__ has no annotations
        self.units = list(units)
        self.storage_options = dict(storage_options or {})
        self.max_item_size = max_item_size

    def get_name(self) -> str:
        return "ReadShards"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        count = max(1, min(parallelism, len(self.units)))
        step, extra = divmod(len(self.units), count)
        tasks = []
        start = 0
        for index in range(count):
            end = start + step + (1 if index < extra else 0)
            group = self.units[start:end]
            start = end
            metadata = BlockMetadata(
                num_rows=None,
                size_bytes=None,
                exec_stats=None,
                input_files=tuple(name for unit in group if _is_shard(unit) for name in unit.names),
            )
            read = functools.partial(read_units, group, self.storage_options, self.max_item_size)
            tasks.append(ReadTask(read, metadata, per_task_row_limit=per_task_row_limit))
        return tasks


def read_shards(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    storage_options: Mapping[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    concurrency: int | None = None,
    override_num_blocks: int | None = None,
) -> ray.data.Dataset:
    """A dataset of the WebDataset samples of the tar shards ``paths`` names (see the module docstring), for
    :func:`rightsmark.ray.verify`: damage becomes error rows, never an exception or a sample lost in silence.

    ``storage_options`` go to fsspec for URLs (s3fs: ``endpoint_url``, ``key``, ``secret``, ``anon``, ...);
    ``max_item_size`` caps each member (default 512 MiB; a larger one is an error row, unread);
    ``concurrency`` caps the read tasks running at once; ``override_num_blocks`` the number of read
    tasks (default: one per shard). The shards are planned here, on the driver (directories and prefixes
    listed, lists read); nothing is read until the dataset runs. Raises :class:`UsageError` for a path
    that names no shard.
    """
    units = plan_shards(paths, storage_options)
    source = ShardDatasource(units, storage_options, max_item_size)
    dataset: ray.data.Dataset = ray.data.read_datasource(
        source, concurrency=concurrency, override_num_blocks=override_num_blocks
    )
    return dataset


__all__ = ["READ_ERROR_TYPE", "ShardDatasource", "plan_shards", "read_shards", "sample_name", "shard_rows"]
