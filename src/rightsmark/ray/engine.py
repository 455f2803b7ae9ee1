"""``rightsmark verify --engine ray``: the same sources, policies and reports, on a Ray cluster.

The driver (the ``rightsmark`` process) asks the sources for their work units (:mod:`rightsmark.ray.plan`);
each unit is opened on a worker by the ordinary source plug-ins, so keys are the local engine's
(``shard.tar/member``, ``file.parquet#key``, the URL as listed), and judged by an actor holding one
engine context (:class:`UnitVerifier`); no image bytes pass through the driver. Each row also carries what
the source said of its item (role, sample, sidecar values: :func:`item_json`), so the records the driver
makes are the local engine's.

Reports (shards: :mod:`rightsmark.ray.shards`):

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
from rightsmark.models import Sample, SignalSource, VerifyRecord
from rightsmark.ray.plan import plan
from rightsmark.ray.shards import FACTS, ITEM, RECORD, is_shard_target, shard_target, write_shards
from rightsmark.sources.base import IMAGE, SIDECAR, Item, SidecarValue, WorkUnit
from rightsmark.sources.dispatch import open_unit
from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE
from rightsmark.trust.sources import TrustSources
from rightsmark.verify.facts import Facts, error_facts
from rightsmark.verify.policy import Policy

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

    from rightsmark.verify.recover import Recoverer

#: What a worker does with items that are not images: leave them out, hand them to the driver to be
#: counted (rows whose :data:`ITEM` says their role, never a record of the report), or verify them.
SKIP, COUNT, REPORT = "skip", "count", "report"


# ---------------------------------------------------------------------------------------------
# Running (on the workers)


class Judge:
    """One engine context (a :class:`~rightsmark.verify.facts.FactReader`) and a policy: what each actor holds."""

    def __init__(self, policy: Policy, trust: TrustSources | None, now: dt.datetime | None) -> None:
        from rightsmark.verify.facts import FactReader

        self.policy = policy
        self.now = now
        self.reader = FactReader(trust, fingerprints=policy.needs_fingerprints)
        self.recoverer: Recoverer | None = None
        if policy.recover:
            from rightsmark.verify.recover import Recoverer

            self.recoverer = Recoverer(policy.recover, self.reader)

    def facts(self, data: bytes, key: str) -> Facts:
        try:
            facts = self.reader.read(data, key)
            return self.recoverer.apply(facts, data, key) if self.recoverer is not None else facts
        except Exception as exc:  # the engine raised something unforeseen: a drop, never a crash
            return error_facts(f"verification failed: {type(exc).__name__}: {exc}")

    def record(self, key: str, facts: Facts, item: Item | None = None) -> VerifyRecord:
        return judged(key, facts, self.policy, self.now, item)


def judged(key: str, facts: Facts, policy: Policy, now: dt.datetime | None, item: Item | None) -> VerifyRecord:
    """The record of an item, as the local engine makes it: its sample and sidecar values from ``item``, and
    an error item's own reason code (``duplicate-key``) instead of ``integrity-error``."""
    from rightsmark.verify.verifier import make_record

    return make_record(key, facts, policy, now, item=item)


def item_json(item: Item) -> str:
    """What the source said of an item besides its bytes, for the driver (:func:`item_from_json`)."""
    sidecar = [[v.name, v.value, v.source.value, v.where] for v in item.sidecar]
    sample = item.sample.to_dict() if item.sample else None
    reason = item.reason if item.error is not None else None
    note = {"role": item.role, "error": item.error, "reason": reason, "sample": sample, "sidecar": sidecar}
    return json.dumps(note, ensure_ascii=False)


def item_from_json(key: str, text: str) -> Item:
    """The item (without its bytes) that :func:`item_json` described."""
    note = json.loads(text)
    sample = Sample(**note["sample"]) if note.get("sample") else None
    sidecar = tuple(SidecarValue(n, v, SignalSource(s), w) for n, v, s, w in note.get("sidecar") or ())
    return Item(
        key=key, error=note.get("error"), reason=note.get("reason"), role=note.get("role") or IMAGE, sample=sample,
        sidecar=sidecar,
    )  # fmt: skip


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
    notes = [pa.field(RECORD, pa.string()), pa.field(FACTS, pa.string()), pa.field(ITEM, pa.string())]
    return pa.schema([*fields, *notes])


class UnitVerifier(Judge):
    """A Ray Data callable class: work units in, one row per item out (flat columns, record, facts, item);
    ``non_images`` (:data:`SKIP`, :data:`COUNT`, :data:`REPORT`) says what becomes of items that are not images."""

    def __init__(
        self,
        policy: Policy,
        trust: TrustSources | None,
        now: dt.datetime | None,
        column: str | None,
        key_column: str | None,
        storage_options: dict[str, Any],
        max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
        non_images: str = SKIP,
    ) -> None:
        super().__init__(policy, trust, now)
        self.column = column
        self.key_column = key_column
        self.storage_options = storage_options
        self.max_item_size = max_item_size
        self.non_images = non_images

    def item_facts(self, item: Item) -> Facts:
        from rightsmark.verify.localfile import read_error

        if item.error is not None:
            return error_facts(item.error)
        try:
            data = item.read(self.max_item_size)
        except OSError as exc:
            return error_facts(read_error(exc))
        return self.facts(data, item.key)

    def verify_unit(self, unit: WorkUnit) -> Iterator[tuple[VerifyRecord, Facts, Item]]:
        options = (self.column, self.key_column, self.storage_options, self.max_item_size)
        for item in open_unit(unit, *options, non_images=self.non_images != SKIP):
            if item.role != IMAGE and self.non_images == COUNT:  # for the driver to count: never read
                facts = error_facts("not an image; not verified")
            else:
                facts = self.item_facts(item)
                if item.role != IMAGE:
                    item = dataclasses.replace(item, role=IMAGE)  # reported: a record like any other
            yield self.record(item.key, facts, item), facts, item

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        from rightsmark.reports.formats import flat

        schema = output_schema()
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        for text in batch.column("unit").to_pylist():
            for record, facts, item in self.verify_unit(WorkUnit.from_json(text)):
                for name, value in flat(record).items():
                    columns[name].append(value)
                columns[RECORD].append(record_json(record))
                columns[FACTS].append(facts.to_json())
                columns[ITEM].append(item_json(item))
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
    non_images: str = SKIP,
) -> ray.data.Dataset:
    """A dataset of one row per item of ``units`` (lazy; needs an initialised Ray): the columns of
    :func:`output_schema`. ``jobs`` actors (default: the cluster's CPUs), one engine context each.
    Items that are not images are left out (``non_images``: see :class:`UnitVerifier`)."""
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
            "non_images": non_images,
        },
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=1,
    )


# ---------------------------------------------------------------------------------------------
# The command


@dataclass
class Outcome:
    """What the driver learnt from the run (for the summary and the exit code)."""

    dropped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


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
    keep_list_form: str = "key",
    report_non_images: bool = False,
) -> int:
    """``rightsmark verify --engine ray``; returns the exit code (0 all kept, 1 any dropped).

    ``echo`` prints a line on stderr. Raises :class:`UsageError` for what the user must change. Keep list
    forms and files that are not images as in :func:`rightsmark.verify.run.run` (report shards, ``-o DIR/``,
    leave non-images out without counting them: they never reach the driver).
    """
    from rightsmark.reports.keeplist import KeepList
    from rightsmark.reports.outputs import format_for, journal_path, meta_path
    from rightsmark.reports.summary import Summary
    from rightsmark.verify.run import unlisted_line

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
    outcome = Outcome()
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # records come out in input order
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        non_images = REPORT if report_non_images else SKIP if shards else COUNT
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
            non_images=non_images,
        )
        keeper = KeepList(keep_list, keep_list_form) if keep_list else None
        try:
            if shards:
                assert output is not None
                for key, decision, integrity, codes, error, sample in write_shards(
                    results, output, fmt, storage_options
                ):
                    summary.count(decision, integrity, codes)
                    if keeper:
                        keeper.add(key, decision == "keep", sample)
                    outcome.dropped += decision != "keep"
                    if integrity == "error":
                        echo(f"rightsmark: {_safe(f'{key}: {error}')}")
            else:
                _one_report(results, policy, now, output, fmt, summary, keeper, outcome, echo, report_non_images)
        except BaseException:
            if keeper:
                keeper.abort()
            raise
        if keeper:
            keeper.close()
            if keeper.unlisted:
                echo(unlisted_line(keeper.unlisted, keeper.form))
    finally:
        if started:
            import ray

            ray.shutdown()
    if not quiet and (summary.total > 1 or summary.non_images.total or output is not None):
        echo(summary.render(trust=trust))
    return 1 if outcome.dropped else 0


def _safe(text: str) -> str:
    from rightsmark.reports.formats import terminal_safe

    return terminal_safe(text)


def _one_report(
    results: ray.data.Dataset,
    policy: Policy,
    now: dt.datetime,
    output: str | None,
    fmt: str,
    summary: Any,
    keeper: Any,
    outcome: Outcome,
    echo: Callable[[str], None],
    reported: bool,
) -> None:
    """One report written by the driver, in input order, through the local engine's writers; the facts
    the workers established judged again here (items that are not images counted, not reported)."""
    from rightsmark.models import Decision, Integrity
    from rightsmark.reports.outputs import open_report, write_meta
    from rightsmark.verify.policy import run_meta

    meta = run_meta(policy)
    meta["non_images"] = {**summary.non_images.to_dict(), "reported": reported}
    to_stderr = fmt != "text" or output is not None
    target = Path(output) if output else None
    with open_report(target, fmt, resume=False, meta=meta) as (report, _):
        batches: Iterable[Any] = results.select_columns(["path", FACTS, ITEM]).iter_batches(batch_format="pyarrow")
        for batch in batches:
            for key, text, note in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                item = item_from_json(key, note)
                if item.role != IMAGE:
                    summary.non_images.sidecars += item.role == SIDECAR
                    summary.non_images.others += item.role != SIDECAR
                    continue
                facts = Facts.from_json(text)
                assert facts is not None, "driver and workers run different versions of rightsmark"
                record = judged(key, facts, policy, now, item)
                report.write(record)
                summary.add(record)
                if keeper:
                    keeper.note(record)
                outcome.dropped += record.decision is not Decision.KEEP
                if record.integrity is Integrity.ERROR and to_stderr:
                    echo(f"rightsmark: {_safe(f'{record.path}: {record.error}')}")
        if summary.non_images.total:
            meta["non_images"] = {**summary.non_images.to_dict(), "reported": reported}
            if target is not None:
                write_meta(target, meta)


__all__ = ["Judge", "UnitVerifier", "is_shard_target", "run", "verify_units"]
