"""What a bulk run's workers hand back for a chunk of items, one :class:`~rightsmark.verify.worker.Stage` each.

* :class:`FactsStage`: the facts, unjudged (the verdict cache, re-judging under another policy).
* :class:`RecordStage`: :class:`~rightsmark.models.VerifyRecord` s, judged under the run's policy.
* :class:`ReportStage`: what ``rightsmark verify`` writes, already made: the records judged, encoded in
  the report's format, counted for the summary, the keep list's lines picked, the error lines for the
  terminal. The coordinating process then only appends text to files; it never handles a record.

Judging and encoding are the same functions whichever process runs them
(:func:`~rightsmark.verify.verifier.make_record`, :meth:`~rightsmark.reports.formats.Report.encode`,
:meth:`~rightsmark.reports.summary.Summary.add`), so a record is the same with one job or sixteen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rightsmark.models import Decision, Integrity, VerifyRecord
from rightsmark.reports.keeplist import KEY
from rightsmark.reports.outputs import report_class
from rightsmark.reports.summary import Summary
from rightsmark.sources.base import Item
from rightsmark.verify.facts import Facts
from rightsmark.verify.policy import Policy
from rightsmark.verify.verifier import make_record


class FactsStage:
    """The facts themselves."""

    def finish(self, items: list[Item], facts: list[Facts]) -> list[Facts]:
        return facts


@dataclass(frozen=True)
class RecordStage:
    """Each item's record under ``policy`` at ``now`` (the moment of judging when None)."""

    policy: Policy
    now: dt.datetime | None = None

    def finish(self, items: list[Item], facts: list[Facts]) -> list[VerifyRecord]:
        judged = zip(items, facts, strict=True)
        return [make_record(item.key, f, self.policy, self.now, item=item) for item, f in judged]


@dataclass
class Settled:
    """A chunk of records as a report run needs them; see :class:`ReportStage`."""

    count: int
    #: the records in the report's format (:meth:`~rightsmark.reports.formats.Report.encode`)
    text: str
    tally: Summary
    dropped: int
    #: for a keep list of keys, the kept keys; for one of samples or URLs, ``(key, kept, sample)`` of each record
    keep: list[Any] = field(default_factory=list)
    #: ``(key, error)`` of the records that are errors, when asked for
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReportStage:
    """Records judged under ``policy``, encoded as report format ``fmt``; ``keep_form`` is the keep list's
    form (None without one), ``errors`` whether the error records' lines are wanted apart."""

    policy: Policy
    fmt: str
    now: dt.datetime | None = None
    keep_form: str | None = None
    errors: bool = False

    def finish(self, items: list[Item], facts: list[Facts]) -> Settled:
        records = RecordStage(self.policy, self.now).finish(items, facts)
        tally = Summary()
        dropped = 0
        keep: list[Any] = []
        errors: list[tuple[str, str]] = []
        for record in records:
            tally.add(record)
            kept = record.decision is Decision.KEEP
            dropped += not kept
            if self.keep_form == KEY:
                if kept:
                    keep.append(record.path)
            elif self.keep_form is not None:
                keep.append((record.path, kept, record.sample.to_dict() if record.sample else None))
            if self.errors and record.integrity is Integrity.ERROR:
                errors.append((record.path, record.error or ""))
        text = report_class(self.fmt).encode(records)
        return Settled(len(records), text, tally, dropped, keep, errors)
