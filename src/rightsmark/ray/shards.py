"""Report shards of ``rightsmark verify --engine ray``: written by Ray Data under a directory or prefix, read back.

``-o DIR``, ``-o s3://bucket/prefix/`` (any URL, a trailing ``/``, an existing directory or a name
without an extension) names shards rather than one report file (:func:`is_shard_target`). Each output
row of :func:`rightsmark.ray.engine.verify_units` carries the flat report columns, :data:`RECORD` (the
whole record as JSON) and the worker's notes, :data:`FACTS` and :data:`ITEM`, which never reach a shard.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.errors import UsageError
from rightsmark.reports.formats import sample_from_columns
from rightsmark.sources.storage import is_url

if TYPE_CHECKING:
    import ray.data

#: The record as one JSON Lines report line.
RECORD = "record"
#: The facts the worker established (the driver re-judges them to write one report through the ordinary writers).
FACTS = "facts"
#: What the source said of the item besides its bytes: role, reason, sample, sidecar values (JSON).
ITEM = "item"

#: What the read-back gives per record: key, decision, integrity, reason codes, error, sample.
ReadBack = tuple[str, str, str, list[str], str | None, dict[str, Any] | None]

_SAMPLE_COLUMNS = ("sample_source", "sample_key", "sample_key_from", "sample_row", "sample_url")


def _jsonl_datasink(path: str, filesystem: Any) -> Any:
    from ray.data.block import BlockAccessor
    from ray.data.datasource import BlockBasedFileDatasink

    class JsonLinesDatasink(BlockBasedFileDatasink):
        """The ``record`` column, one JSON document per line (what the local engine writes)."""

        def write_block_to_file(self, block: BlockAccessor, file: Any) -> None:
            lines = block.to_arrow().column(RECORD).to_pylist()
            file.write("".join(line + "\n" for line in lines).encode("utf-8"))

    return JsonLinesDatasink(path, filesystem=filesystem, file_format="jsonl")


def is_shard_target(output: str) -> bool:
    """Whether ``-o`` names a directory or prefix of report shards rather than one report file."""
    return is_url(output) or output.endswith(("/", os.sep)) or os.path.isdir(output) or not Path(output).suffix


def _read_back(fs: Any, root: str, fmt: str) -> Iterator[ReadBack]:
    """:data:`ReadBack` of every record in the shards under ``root``."""
    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    for name in sorted(p for p in fs.find(root) if p.endswith(suffix)):
        with fs.open(name, "rb") as fh:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                wanted = ["path", "decision", "integrity", "reason_codes", "error", *_SAMPLE_COLUMNS]
                for batch in pq.ParquetFile(fh).iter_batches(columns=wanted):
                    for row in batch.to_pylist():
                        codes, sample = row["reason_codes"], sample_from_columns(row)
                        yield row["path"], row["decision"], row["integrity"], codes, row["error"], sample
            else:
                for line in fh:
                    rec = json.loads(line)
                    codes = [r["code"] for r in rec["reasons"]]
                    sample = rec.get("sample")
                    yield rec["path"], rec["decision"], rec["integrity"], codes, rec.get("error"), sample


def shard_target(output: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """The file system and root path of a shard directory or prefix; refused unless new or empty."""
    import fsspec.core

    try:
        fs, root = fsspec.core.url_to_fs(output, **storage_options)
        root = root.rstrip("/") or root
        busy = fs.exists(root) and (not fs.isdir(root) or bool(fs.ls(root)))
    except Exception as exc:
        raise UsageError(f"cannot write the report there: {exc}", path=output) from None
    if busy:
        raise UsageError("the report directory is not empty", path=output, hint="name a new or empty one")
    return fs, root


def write_shards(
    results: ray.data.Dataset, output: str, fmt: str, storage_options: dict[str, Any]
) -> Iterator[ReadBack]:
    """Write ``results`` as shards under ``output`` (a directory or a URL prefix), then read back what the
    summary and the keep list need."""
    fs, root = shard_target(output, storage_options)

    filesystem = None
    if is_url(output):
        import pyarrow.fs as pafs

        filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    shards = results.drop_columns([FACTS, ITEM])
    if fmt == "parquet":
        shards.write_parquet(root, filesystem=filesystem)
    else:
        shards.write_datasink(_jsonl_datasink(root, filesystem))
    yield from _read_back(fs, root, fmt)


__all__ = ["FACTS", "ITEM", "RECORD", "is_shard_target", "shard_target", "write_shards"]
