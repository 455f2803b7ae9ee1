"""``rightsmark filter SPEC... --report REPORT -o OUT``: the arguments checked, each copy written atomically.

Everything that can be known before writing is checked first, and nothing is written when a check
fails: every input (brace ranges expanded as verify expands them) is a local tar shard or Parquet
file (a regular file), the report reads whole and
covers every input (:mod:`rightsmark.subset.report`), ``OUT`` is a folder (created when missing) in
which no copy would replace an input, the report, or (without ``force``) an existing file, and no two
inputs share a name. Then each input is copied to ``OUT/<its name>``: into a temporary beside the
copy, synced, then renamed, so a copy is whole or absent (an interrupted or failed run leaves the
copies finished before it, and no partial one; the next run sweeps a killed run's temporaries).
Inputs are only read. A damaged input stops the run at that input (exit 2).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rightsmark.errors import UsageError, disk_full
from rightsmark.files import sweep_stale_temporaries, temp_prefix
from rightsmark.sources.containers import is_parquet_name, is_tar_name
from rightsmark.sources.guard import ItemRefusedError, open_regular
from rightsmark.sources.storage import is_url
from rightsmark.subset.report import PARQUET, TAR, Covered, load, meta
from rightsmark.subset.results import Counts, FilterInputError, FilterResult, InputResult

T = TypeVar("T")


def filter_inputs(
    specs: Sequence[str],
    report: Path,
    out: Path,
    *,
    allow_unmatched: bool = False,
    force: bool = False,
    column: str | None = None,
    key_column: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> FilterResult:
    """Write ``OUT/<name>`` for each input: its samples (tar) or rows (Parquet) the report kept.

    ``echo`` receives one line per input as it is done. ``column``/``key_column``: as verify was given
    them, for a Parquet file whose records carry no row index. Raises :class:`UsageError` or
    :class:`FilterInputError` (one line, the input or file named) and writes nothing for that input.
    """
    if not specs:
        raise UsageError(
            "name the tar shards and Parquet files to filter", hint="e.g. rightsmark filter 'shards/*.tar'"
        )
    from rightsmark.sources.dispatch import expand  # brace ranges, quoted or not, as verify reads them

    inputs = [(name, _kind(name)) for spec in specs for name in expand(spec)]
    outputs = _outputs(inputs, out, report, force=force)
    covered = load(report, inputs)
    provenance = {"report": str(report), "run": meta(report)}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from None
    sweep_stale_temporaries(out, started=time.time())
    result = FilterResult(allow_unmatched=allow_unmatched)
    for (spec, kind), dest in zip(inputs, outputs, strict=True):
        records = covered[spec]
        counts = _filter_one(spec, kind, records, dest, column, key_column, provenance)
        done = InputResult(spec, dest, kind, records.name, records.by_sample, counts)
        result.inputs.append(done)
        if echo is not None:
            echo(done.line())
    return result


def _kind(spec: str) -> str:
    if is_url(spec):
        raise UsageError("filter reads local files only", path=spec, hint="copy the shard here, then filter the copy")
    kind = TAR if is_tar_name(spec) else PARQUET if is_parquet_name(spec) else None
    if kind is None:
        raise UsageError(
            "not a tar shard or Parquet file by its name", path=spec, hint="name .tar, .tar.gz, ... or .parquet files"
        )
    os.close(_open(spec))
    return kind


def _open(spec: str) -> int:
    """A read-only descriptor of the input ``spec``; the one-line error of why it cannot be opened."""
    try:
        fd, _ = open_regular(spec, 1 << 62)  # a FIFO or device is refused, never read
    except FileNotFoundError:
        raise FilterInputError("no such file", path=spec) from None
    except IsADirectoryError:
        raise FilterInputError("is a directory; name the shards in it", path=spec, hint="e.g. 'shards/*.tar'") from None
    except ItemRefusedError as exc:
        raise FilterInputError(str(exc), path=spec) from None
    except OSError as exc:
        raise FilterInputError(f"cannot read: {exc.strerror or exc}", path=spec) from None
    return fd


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _outputs(inputs: Sequence[tuple[str, str]], out: Path, report: Path, *, force: bool) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise UsageError("is not a folder; -o names the folder the copies go to", path=out)
    if report.is_dir() and (_identity(out) == _identity(report) or report.resolve() in out.resolve().parents):
        raise UsageError("is the report's folder, or inside it; choose another -o folder", path=out)
    protected = {_identity(Path(spec)) for spec, _ in inputs} | {_identity(report)}
    outputs: list[Path] = []
    named: dict[str, str] = {}
    for spec, _ in inputs:
        name = Path(spec).name
        if name in named:
            raise UsageError(f"{named[name]} and {spec} would both be copied to {out / name}", hint="filter them apart")
        named[name] = spec
        dest = out / name
        identity = _identity(dest)
        if identity is not None and identity in protected:
            raise UsageError(
                "the copy would replace an input or the report; nothing written", path=dest, hint="choose another -o"
            )
        if dest.is_dir():
            raise UsageError("is a folder where the copy would go; nothing written", path=dest)
        if identity is not None and not force:
            raise UsageError("exists; nothing written", path=dest, hint="pass --force to replace it")
        outputs.append(dest)
    return outputs


def _filter_one(
    spec: str,
    kind: str,
    records: Covered,
    dest: Path,
    column: str | None,
    key_column: str | None,
    provenance: dict[str, Any],
) -> Counts:
    with open(_open(spec), "rb") as fh:
        if kind == TAR:
            from rightsmark.subset.tar import compression, filter_shard

            def write_tar(tmp: Path) -> Counts:
                with tmp.open("wb") as copy:
                    return filter_shard(fh, spec, records, copy, compression(dest.name))

            return _atomically(dest, spec, write_tar)
        from rightsmark.subset.parquet import filter_file

        def write_parquet(tmp: Path) -> Counts:
            return filter_file(fh, spec, records, tmp, column=column, key_column=key_column, provenance=provenance)

        return _atomically(dest, spec, write_parquet)


def _atomically(dest: Path, spec: str, fill: Callable[[Path], T]) -> T:
    """``fill(temporary)``, then the temporary synced and renamed to ``dest``; removed on any failure."""
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise UsageError(f"cannot write the copy: {exc.strerror or exc}", path=dest) from None
    os.close(fd)
    tmp = Path(name)
    try:
        result = fill(tmp)
        with tmp.open("rb") as written:
            os.fsync(written.fileno())
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(tmp, dest)
        return result
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if disk_full(exc):
            raise UsageError(
                f"cannot write the copy: {exc.strerror or exc}; no copy of {spec} written",
                path=dest,
                hint="free some space, then run again",
            ) from None
        raise FilterInputError(f"cannot read or write: {exc.strerror or exc}; no copy written", path=spec) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
