"""One audit run over files and folders: what ``rightsmark audit`` does, callable from Python.

:func:`run_audit` loads the withdrawal lists, walks the folders, audits every file and returns an
:class:`AuditReport`: the audits, the JSON document (``schemas/audit.schema.json``), the terminal
text, the HTML page on request, and the exit status. It prints nothing; ``on_file`` sees each
file's audit as it is made (the command prints its tree there).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsmark.audit.auditor import Auditor, FileAudit, report_header, summarise

if TYPE_CHECKING:
    from rightsmark.trust.sources import TrustSources

#: Severities that make a finding serious: a run with any exits 1.
SERIOUS = ("error", "critical")


@dataclass(frozen=True)
class AuditOptions:
    """How to audit. ``anchors``: your own claim-signer anchor files (recorded in the report by sha256;
    they also vouch for withdrawal lists); ``sources``: the trust sources (default: the default lists
    with ``anchors``); ``withdrawals``: signed withdrawal lists; ``expiring_within``: warn of consent
    expiring within this window; ``now``: the time of the audit (default: the time of the run);
    ``recover``: a manifest repository in which files without a valid manifest of their own are matched back
    to their manifests through their soft bindings (:mod:`rightsmark.audit.recovery`)."""

    anchors: Sequence[str | Path] = ()
    sources: TrustSources | None = None
    withdrawals: Sequence[str | Path] = ()
    expiring_within: dt.timedelta | None = None
    now: dt.datetime | None = None
    recover: str | None = None


@dataclass(frozen=True)
class AuditReport:
    """The outcome of a run: every file's audit, with what makes the run reproducible (``header``)
    and the dataset-level counts (``summary``)."""

    audits: tuple[FileAudit, ...]
    header: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        """The JSON document ``--json`` writes (``schemas/audit.schema.json``)."""
        return {**self.header, "summary": self.summary, "files": [a.to_dict() for a in self.audits]}

    def json_text(self) -> str:
        return json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"

    def text(self) -> str:
        """Every file's tree, as the terminal shows them."""
        from rightsmark.audit.text import tree_text

        return "".join(tree_text(a) + "\n\n" for a in self.audits)

    def html(self) -> str:
        """The self-contained HTML page ``--html`` writes."""
        from rightsmark.audit.html import render_html

        return render_html(self.header, self.summary, list(self.audits))

    @property
    def serious(self) -> int:
        """How many files have a finding of severity error or critical."""
        return sum(1 for a in self.audits if a.worst in SERIOUS)

    @property
    def exit_code(self) -> int:
        return 1 if self.serious else 0

    def closing_line(self) -> str:
        return f"audited {len(self.audits)} files: {self.serious} with serious findings"


def run_audit(
    paths: Sequence[str | Path],
    options: AuditOptions | None = None,
    on_file: Callable[[FileAudit], None] | None = None,
) -> AuditReport:
    """Audit every file given and every file below each folder given, in order.

    Withdrawal lists are loaded (and their signatures checked against ``options.anchors``) before
    any file is read; a list that cannot be trusted raises, as does an unusable trust source, and a
    ``recover`` repository that cannot be asked (:class:`~rightsmark.repository.base.RepositoryError`).
    """
    from rightsmark.sources.fs import walk_files

    options = options or AuditOptions()
    now = options.now or dt.datetime.now(dt.UTC)
    withdrawn: dict[str, str] = {}
    lists: list[dict[str, Any]] = []
    if options.withdrawals:
        from rightsmark.verify.withdrawals import load_withdrawals

        loaded = load_withdrawals(options.withdrawals, options.anchors)
        withdrawn, lists = loaded.withdrawn, loaded.describe()
    if options.recover:
        from rightsmark.verify.recover import check_repository

        check_repository(options.recover)
    audits: list[FileAudit] = []
    with Auditor(
        options.anchors,
        sources=options.sources,
        withdrawn=withdrawn,
        expiring_within=options.expiring_within,
        now=now,
        recover=options.recover,
    ) as auditor:
        for given in map(str, paths):
            for file in walk_files(given) if os.path.isdir(given) else [given]:
                audit = auditor.audit_file(file)
                audits.append(audit)
                if on_file is not None:
                    on_file(audit)
        header = report_header(options.anchors, lists, now, auditor.sources)
    return AuditReport(tuple(audits), header, summarise(audits))
