"""``rightsmark verify --engine ray``: the same sources, policies and reports, on a Ray cluster.

The driver (the ``rightsmark`` process) asks the sources for their work units (:mod:`rightsmark.ray.plan`);
each unit is opened on a worker by the ordinary source plug-ins, so keys are the local engine's
(``shard.tar/member``, ``file.parquet#key``, the URL as listed), and judged by an actor holding one
engine context (:class:`UnitVerifier`); no image bytes pass through the driver.

Reports:

* ``-o DIR``, ``-o s3://bucket/prefix/`` (any URL, a trailing ``/``, an existing directory or a name
  without an extension): shards written by Ray Data, one per unit. ``--format parquet`` (default):
  the flat report columns plus ``record`` (the whole record as JSON); ``--format jsonl``: one record
  per line, exactly as the local engine's JSON Lines report. The directory must be empty or new.
* ``-o FILE.jsonl|.csv|.json|.parquet`` (a local file) or stdout: one report written by the driver,
  in input order, byte for byte what the local engine writes.

Ray Data restarts an actor whose worker died and runs its unit again, so no key is lost or doubled;
what a source cannot read (a corrupt shard, a missing object) becomes error records, as locally.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.errors import UsageError
from rightsmark.models import Reason, VerifyRecord
from rightsmark.ray.plan import plan
from rightsmark.sources.base import Item, WorkUnit
from rightsmark.sources.dispatch import open_unit
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE
from rightsmark.sources.storage import is_url
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import Facts, error_facts
from rightsmark.verify.policy import Policy

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

#: What each output row carries besides the flat report columns: the record, and the facts (dropped
#: before shards are written; the driver re-judges them to write one report through the ordinary writers).
RECORD = "record"
FACTS = "facts"


# ---------------------------------------------------------------------------------------------
# Running (on the workers)


class Judge:
    """One engine context (a :class:`~rightsmark.verify.facts.FactReader`) and a policy: what each actor holds."""

    def __init__(self, policy: Policy, trust: TrustSources | None, now: dt.datetime | None) -> None:
        from rightsmark.verify.facts import FactReader

        self.policy = policy
        self.now = now
        self.reader = FactReader(trust, fingerprints=policy.needs_fingerprints)

    def facts(self, data: bytes, key: str) -> Facts:
        try:
            return self.reader.read(data, key)
        except Exception as exc:  # the engine raised something unforeseen: a drop, never a crash
            return error_facts(f"verification failed: {type(exc).__name__}: {exc}")

    def record(self, key: str, facts: Facts) -> VerifyRecord:
        from rightsmark.verify.verifier import make_record

        return make_record(key, facts, self.policy, self.now)


def with_reason(record: VerifyRecord, reason: str | None) -> VerifyRecord:
    """The record of an item a source could not produce, with the source's own reason code (``duplicate-key``)
    in place of ``integrity-error`` when it gave one, as the local engine says."""
    if reason is None:
        return record
    return dataclasses.replace(record, reasons=(Reason(reason, record.error or reason),))


def record_type(column: str) -> Any:
    """The Arrow type of a flat report column."""
    import pyarrow as pa

    from rightsmark.reports.formats import LIST_COLUMNS

    return pa.list_(pa.string()) if column in LIST_COLUMNS else pa.string()


def record_json(record: VerifyRecord) -> str:
    """A record as one line of a JSON Lines report (exactly what the local engine writes)."""
    return json.dumps(record.to_dict(), ensure_ascii=False)


def output_schema() -> pa.Schema:
    import pyarrow as pa

    from rightsmark.reports.formats import FLAT_COLUMNS

    fields = [pa.field(c, record_type(c)) for c in FLAT_COLUMNS]
    return pa.schema([*fields, pa.field(RECORD, pa.string()), pa.field(FACTS, pa.string())])


class UnitVerifier(Judge):
    """A Ray Data callable class: work units in, one row per item out (flat columns, record, facts)."""

    def __init__(
        self,
        policy: Policy,
        trust: TrustSources | None,
        now: dt.datetime | None,
        column: str | None,
        key_column: str | None,
        storage_options: dict[str, Any],
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    ) -> None:
        super().__init__(policy, trust, now)
        self.column = column
        self.key_column = key_column
        self.storage_options = storage_options
        self.max_item_size = max_item_size

    def item_facts(self, item: Item) -> Facts:
        from rightsmark.verify.bulk import read_error

        if item.error is not None:
            return error_facts(item.error)
        try:
            data = item.read(self.max_item_size)
        except OSError as exc:
            return error_facts(read_error(exc))
        return self.facts(data, item.key)

    def verify_unit(self, unit: WorkUnit) -> Iterator[tuple[VerifyRecord, Facts]]:
        from rightsmark.rights.signals import declared_beside

        for item in open_unit(unit, self.column, self.key_column, self.storage_options, self.max_item_size):
            # values recorded beside the image travel in the facts: the driver re-judges those alone
            facts = self.item_facts(item).with_declared(declared_beside(item.sidecar))
            record = self.record(item.key, facts)
            if item.error is not None:
                record = with_reason(record, item.reason)
            yield record, facts

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        from rightsmark.reports.formats import flat

        schema = output_schema()
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        for text in batch.column("unit").to_pylist():
            for record, facts in self.verify_unit(WorkUnit.from_json(text)):
                for name, value in flat(record).items():
                    columns[name].append(value)
                columns[RECORD].append(record_json(record))
                columns[FACTS].append(facts.to_json())
        return pa.table(columns, schema=schema)


def verify_units(
    units: Sequence[WorkUnit],
    policy: Policy,
    *,
    trust: TrustSources | None = None,
    jobs: int | None = None,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
    verifier: type[UnitVerifier] = UnitVerifier,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> ray.data.Dataset:
    """A dataset of one row per item of ``units`` (lazy; needs an initialised Ray): the columns of
    :func:`output_schema`. ``jobs`` actors (default: the cluster's CPUs), one engine context each."""
    import ray
    import ray.data

    items = [{"unit": unit.to_json()} for unit in units or [WorkUnit("errors", ())]]  # nothing to do: one empty unit
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))  # one unit per block and task
    if jobs is None:
        jobs = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    size = max(1, min(jobs, len(items)))
    return ds.map_batches(
        verifier,
        fn_constructor_kwargs={
            "policy": policy,
            "trust": trust,
            "now": now,
            "column": column,
            "key_column": key_column,
            "storage_options": dict(storage_options or {}),
            "max_item_size": max_item_size,
        },
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=1,
    )


# ---------------------------------------------------------------------------------------------
# Reports


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


@dataclass
class Outcome:
    """What the driver learnt from the run (for the summary and the exit code)."""

    dropped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def _read_back(fs: Any, root: str, fmt: str) -> Iterator[tuple[str, str, str, list[str], str | None]]:
    """(key, decision, integrity, reason codes, error) of every record in the shards under ``root``."""
    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    for name in sorted(p for p in fs.find(root) if p.endswith(suffix)):
        with fs.open(name, "rb") as fh:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                wanted = ["path", "decision", "integrity", "reason_codes", "error"]
                for batch in pq.ParquetFile(fh).iter_batches(columns=wanted):
                    yield from zip(*(batch.column(c).to_pylist() for c in wanted), strict=True)
            else:
                for line in fh:
                    rec = json.loads(line)
                    codes = [r["code"] for r in rec["reasons"]]
                    yield rec["path"], rec["decision"], rec["integrity"], codes, rec.get("error")


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
) -> Iterator[tuple[str, str, str, list[str], str | None]]:
    """Write ``results`` as shards under ``output`` (a directory or a URL prefix), then read back the
    columns the summary and the keep list need."""
    fs, root = shard_target(output, storage_options)

    filesystem = None
    if is_url(output):
        import pyarrow.fs as pafs

        filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    shards = results.drop_columns([FACTS])
    if fmt == "parquet":
        shards.write_parquet(root, filesystem=filesystem)
    else:
        shards.write_datasink(_jsonl_datasink(root, filesystem))
    yield from _read_back(fs, root, fmt)


# ---------------------------------------------------------------------------------------------
# The command


def _connect(address: str | None, jobs: int | None) -> bool:
    """Join or start a cluster; True when this call initialised Ray (and must shut it down)."""
    if address is None:
        # A cluster started for one run listens on 127.0.0.1 only and reports no usage statistics.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--engine ray needs Ray, which is not installed", hint="pip install 'rightsmark[ray]'"
        ) from None
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(
                num_cpus=jobs,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except Exception as exc:
        where = f"join the Ray cluster at {address}" if address else "start a local Ray cluster"
        raise UsageError(
            f"cannot {where}: {exc}", hint="check --address (auto joins the cluster of this machine)"
        ) from None
    return True


def run(
    specs: Sequence[str],
    policy: Policy,
    *,
    address: str | None,
    jobs: int | None,
    output: str | None,
    fmt: str | None,
    keep_list: Path | None,
    column: str | None,
    key_column: str | None,
    storage_options: dict[str, Any],
    quiet: bool,
    echo: Callable[[str], None],
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
) -> int:
    """``rightsmark verify --engine ray``; returns the exit code (0 all kept, 1 any dropped).

    ``echo`` prints a line on stderr. Raises :class:`UsageError` for what the user must change.
    """
    from rightsmark.reports.formats import terminal_safe
    from rightsmark.reports.outputs import KeepList, format_for, journal_path, meta_path, open_report
    from rightsmark.reports.summary import Summary
    from rightsmark.verify.policy import run_meta

    shards = output is not None and is_shard_target(output)
    if shards:
        assert output is not None
        fmt = fmt or "parquet"
        if fmt not in ("parquet", "jsonl"):
            raise UsageError(f"report shards are parquet or jsonl, not {fmt}", hint="--format parquet or jsonl")
        shard_target(output, storage_options)
    else:
        fmt = format_for(Path(output) if output else None, fmt)
    trust = policy.trust_sources()
    now = dt.datetime.now(dt.UTC)
    exclude: list[str | os.PathLike[str]] = [p for p in (keep_list,) if p is not None]
    if output is not None and not shards:
        exclude += [output, journal_path(Path(output)), meta_path(Path(output))]
    elif output is not None and os.path.isdir(output):
        exclude.append(output)

    summary = Summary()
    units = plan(specs, storage_options=storage_options, stdin=sys.stdin, exclude=exclude)
    started = _connect(address, jobs)
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # records come out in input order
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        results = verify_units(
            units,
            policy,
            trust=trust,
            jobs=jobs,
            column=column,
            key_column=key_column,
            storage_options=storage_options,
            now=now,
            max_item_size=max_item_size,
        )
        outcome = Outcome()
        keeper = KeepList(keep_list, [], False) if keep_list else None
        to_stderr = fmt != "text" or output is not None
        try:
            if shards:
                assert output is not None
                for key, decision, integrity, codes, error in write_shards(results, output, fmt, storage_options):
                    summary.count(decision, integrity, codes)
                    if decision == "keep":
                        if keeper:
                            keeper.add(key)
                    else:
                        outcome.dropped += 1
                    if integrity == "error":
                        echo(f"rightsmark: {terminal_safe(f'{key}: {error}')}")
            else:
                from rightsmark.models import Decision, Integrity
                from rightsmark.verify.verifier import make_record

                meta = run_meta(policy)
                with open_report(Path(output) if output else None, fmt, resume=False, meta=meta) as (report, _):
                    batches: Iterable[Any] = results.select_columns(["path", FACTS]).iter_batches(
                        batch_format="pyarrow"
                    )
                    for batch in batches:
                        for key, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                            facts = Facts.from_json(text)
                            assert facts is not None, "driver and workers run different versions of rightsmark"
                            record = make_record(key, facts, policy, now)
                            report.write(record)
                            summary.add(record)
                            if record.decision is Decision.KEEP:
                                if keeper:
                                    keeper.add(record.path)
                            else:
                                outcome.dropped += 1
                            if record.integrity is Integrity.ERROR and to_stderr:
                                echo(f"rightsmark: {terminal_safe(f'{record.path}: {record.error}')}")
        finally:
            if keeper:
                keeper.close()
    finally:
        if started:
            import ray

            ray.shutdown()
    if not quiet and (summary.total > 1 or output is not None):
        echo(summary.render(trust=trust))
    return 1 if outcome.dropped else 0


__all__ = ["Judge", "UnitVerifier", "is_shard_target", "run", "verify_units", "with_reason"]
