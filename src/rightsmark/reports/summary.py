"""The end-of-run summary (stderr) and the progress display (stderr, terminals only)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from rightsmark.models import Use, VerifyRecord
from rightsmark.reports.formats import safe_lines, terminal_safe
from rightsmark.sources.base import NonImages

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources


def trust_line(trust: TrustSources) -> str:
    """What trust rested on, in one line: each source with its role and the start of its sha256."""
    if not trust.sources:
        return "nothing (no trust list, no anchors): no signer can be trusted"
    return terminal_safe(", ".join(f"{s.name} ({s.role}, {s.origin}, sha256 {s.sha256[:12]})" for s in trust.sources))


class Summary:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.decisions: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.integrity: Counter[str] = Counter()
        #: files whose embedded XMP disagrees with their signed manifest
        self.drifting = 0
        #: files with declared signals (XMP, sidecar, column): any, opting out of some use, opting in to some
        self.declared = 0
        self.declared_out = 0
        self.declared_in = 0
        #: files and members left unverified because they are not images (counted by the run)
        self.non_images = NonImages()

    @property
    def total(self) -> int:
        return sum(self.decisions.values())

    def add(self, record: VerifyRecord) -> None:
        codes = [r.code for r in record.reasons]
        said = {
            u
            for s in record.declared
            for u in (s.uses.ai_training, s.uses.ai_generative_training, s.uses.ai_inference, s.uses.data_mining)
        }
        declared = (bool(record.declared), Use.NOT_ALLOWED in said, Use.ALLOWED in said)
        self.count(
            record.decision.value, record.integrity.value, codes, drift=bool(record.metadata_drift), declared=declared
        )

    def count(
        self,
        decision: str,
        integrity: str,
        reason_codes: list[str],
        *,
        drift: bool = False,
        declared: tuple[bool, bool, bool] = (False, False, False),
    ) -> None:
        """:meth:`add` for a record already flattened (a report read back); ``declared``: whether the file has
        declared signals, whether one opts out of some use, whether one opts in to some use."""
        self.drifting += drift
        self.declared += declared[0]
        self.declared_out += declared[1]
        self.declared_in += declared[2]
        self.decisions[decision] += 1
        self.integrity[integrity] += 1
        for code in dict.fromkeys(reason_codes):
            self.reasons[code] += 1

    def merge(self, other: Summary) -> None:
        """Add the counts of ``other`` (a tally made elsewhere: a worker's chunk of records)."""
        self.decisions.update(other.decisions)
        self.reasons.update(other.reasons)
        self.integrity.update(other.integrity)
        self.drifting += other.drifting
        self.declared += other.declared
        self.declared_out += other.declared_out
        self.declared_in += other.declared_in
        self.non_images.sidecars += other.non_images.sidecars
        self.non_images.others += other.non_images.others

    def render(self, *, skipped: int = 0, cache_hits: int = 0, trust: TrustSources | None = None) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        lines = [
            f"verified {self.total} files in {elapsed:.1f} s ({self.total / elapsed:.1f} files/s): "
            f"{self.decisions['keep']} keep, {self.decisions['drop']} drop"
        ]
        if skipped:
            lines.append(f"  resumed: {skipped} files already in the report were skipped")
        if cache_hits:
            lines.append(f"  cache: {cache_hits} verdicts reused")
        if self.non_images.total:
            lines.append("  " + non_images_line(self.non_images))
        if trust is not None:
            lines.append("  trust: " + trust_line(trust))
        lines.append("  integrity: " + ", ".join(f"{k} {v}" for k, v in sorted(self.integrity.items())))
        if self.drifting:
            files = "file" if self.drifting == 1 else "files"
            lines.append(
                f"  {self.drifting} {files}: embedded XMP disagrees with the signed manifest (reported, not dropped)"
            )
        if self.declared:
            files = "file" if self.declared == 1 else "files"
            lines.append(
                f"  declared signals: {self.declared} {files} ({self.declared_out} opting out of some use,"
                f" {self.declared_in} opting in to some use; an opt-in keeps no file without a manifest unless"
                ' [treat] declared_allowed = "keep")'
            )
        if self.reasons:
            lines.append("  drop reasons (files):")
            width = max(len(c) for c in self.reasons)
            for code, n in self.reasons.most_common():
                lines.append(f"    {code:<{width}}  {n}")
        return safe_lines(lines)


def non_images_line(counted: NonImages) -> str:
    """The summary's line on the files that were not verified because they are not images."""
    parts = []
    if counted.sidecars:
        parts.append(
            f"{counted.sidecars} sidecar{'s' if counted.sidecars != 1 else ''} read as the metadata of their images"
        )
    if counted.others:
        parts.append(f"{counted.others} other file{'s' if counted.others != 1 else ''}")
    return f"not images, not verified: {' and '.join(parts)} (--report-non-images reports them)"


@contextmanager
def progress(
    enabled: bool, stream: TextIO = sys.stderr, *, label: str = "verifying", total: int | None = None
) -> Iterator[Any]:
    """A callable advancing a rich progress display by some files (one by default); a no-op when disabled or
    not a terminal.

    With ``total`` known the display has a bar and an estimate of the time left.
    """
    if not enabled or not stream.isatty():
        yield lambda count=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn(label), MofNCompleteColumn(), TimeElapsedColumn()]
    if total is not None:
        columns[2:2] = [BarColumn()]
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda count=1: bar.advance(task, count)
