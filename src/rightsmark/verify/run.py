"""``rightsmark verify`` on this machine: sources in; the report, the keep list and the summary out.

:func:`run` is the local engine's whole run (the Ray engine's is :func:`rightsmark.ray.engine.run`):
every item of the specs verified by :class:`~rightsmark.verify.bulk.BulkVerifier`, each record written
to the report and counted, the keys of kept files listed, an interrupted run resumed from its report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.sources.guard import DEFAULT_MAX_ITEM_SIZE

if TYPE_CHECKING:
    from rightsmark.verify.policy import Policy


def run(
    specs: Sequence[str],
    policy: Policy,
    *,
    echo: Callable[[str], None],
    jobs: int | None = None,
    cache: Path | None = None,
    output: Path | None = None,
    fmt: str | None = None,
    keep_list: Path | None = None,
    resume: bool = False,
    column: str | None = None,
    key_column: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    max_item_size: int = DEFAULT_MAX_ITEM_SIZE,
    quiet: bool = False,
    keep_list_form: str = "key",
    report_non_images: bool = False,
) -> int:
    """Verify every item of ``specs`` under ``policy``; returns the exit code (0 all kept, 1 any dropped,
    counting the drops the resumed run recorded).

    ``echo`` prints a line on stderr: unreadable files when the report goes elsewhere than the terminal,
    and (unless ``quiet``) the closing summary. The report (format ``fmt``, default from ``output``'s
    extension, else text on stdout) and the keep list are never themselves verified when they lie
    inside a folder being verified.

    ``keep_list_form`` (:mod:`rightsmark.reports.keeplist`): ``key``, ``sample`` or ``url``. Files that are
    not images (sidecars, other files of a folder, non-image members of a shard) are counted in the
    summary and the report's description, not verified, unless ``report_non_images`` (then each gets a
    record, as before sidecars were told apart).
    """
    from rightsmark.reports.formats import terminal_safe
    from rightsmark.reports.keeplist import KEY, KeepList
    from rightsmark.reports.outputs import format_for, journal_path, meta_path, open_report, write_meta
    from rightsmark.reports.summary import Summary, progress
    from rightsmark.sources import open_sources
    from rightsmark.sources.base import images_only
    from rightsmark.sources.fs import skipping
    from rightsmark.verify.bulk import BulkVerifier
    from rightsmark.verify.policy import run_meta
    from rightsmark.verify.stages import ReportStage

    dropped = 0
    summary = Summary()
    fmt = format_for(output, fmt)
    to_stderr = fmt != "text" or output is not None
    meta = run_meta(policy)
    meta["non_images"] = {**summary.non_images.to_dict(), "reported": report_non_images}
    samples = keep_list is not None and keep_list_form != KEY
    with (
        BulkVerifier(policy, jobs=jobs, cache_dir=cache, max_item_size=max_item_size) as bulk,
        open_report(output, fmt, resume=resume, meta=meta, samples=samples) as (report, done),
    ):
        if bulk.jobs == 1:  # this process reads every file: keep the engine's freed buffers for the next
            from rightsmark.engine.adapter import keep_freed_memory

            keep_freed_memory()
        keeper = None
        if keep_list:
            replay = done.entries if samples else [(key, True, None) for key in done.kept]
            keeper = KeepList(keep_list, keep_list_form, replay)
        items = open_sources(
            specs,
            column=column,
            key_column=key_column,
            storage_options=storage_options,
            max_item_size=max_item_size,
            non_images=True,
            defer_sidecars=True,
        )
        # never verify our own outputs when they sit inside a folder being verified
        own = [p for p in (output, keep_list) if p is not None]
        if output is not None:
            own += [journal_path(output), meta_path(output)]
        skip = skipping(own)
        items = (i for i in items if i.path is None or not skip(i.path))
        if not report_non_images:
            items = images_only(items, summary.non_images)
        if done.keys:
            items = (i for i in items if i.key not in done.keys)
        stage = ReportStage(policy, fmt, bulk.now, keep_form=keep_list_form if keeper else None, errors=to_stderr)
        try:
            with progress(not quiet) as tick:
                for settled in bulk.settle(items, stage):
                    report.write_encoded(settled.text, settled.count)
                    summary.merge(settled.tally)
                    tick(settled.count)
                    dropped += settled.dropped
                    if keeper:
                        keeper.add_settled(settled.keep)
                    for key, error in settled.errors:
                        echo(f"rightsmark: {terminal_safe(f'{key}: {error}')}")
        except BaseException:
            if keeper:
                keeper.abort()
            raise
        if keeper:
            keeper.close()
        if summary.non_images.total:  # the counts join the description (and Parquet's metadata, written on close)
            meta["non_images"] = {**summary.non_images.to_dict(), "reported": report_non_images}
            if output is not None:
                write_meta(output, meta)
        cache_hits = bulk.cache.hits if bulk.cache else 0
    if keeper and keeper.unlisted:
        echo(unlisted_line(keeper.unlisted, keeper.form))
    if not quiet and (summary.total > 1 or summary.non_images.total or done.keys or output is not None):
        echo(summary.render(skipped=len(done.keys), cache_hits=cache_hits, trust=policy.trust_sources()))
    return 1 if dropped or len(done.keys) > len(set(done.kept)) else 0


def unlisted_line(count: int, form: str) -> str:
    """The line saying that kept files are missing from a keep list of samples or URLs, and why."""
    what = "URL (none recorded by a sidecar or a url column)" if form == "url" else "sample"
    files = "file has" if count == 1 else "files have"
    return f"rightsmark: {count} kept {files} no {what}: not in the keep list (--keep-list-form {form})"
