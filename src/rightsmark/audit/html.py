"""The audit as one self-contained HTML file: inline CSS and inline SVG, no script, no external asset.

Above: a dataset summary; then an index of files and, per file, its chain of custody drawn as a graph
(geometry in :mod:`rightsmark.audit.svg`), the soft bindings its manifests record, what ``--recover`` found
(a manifest recovered through a soft binding is shown in a panel of its own, marked as not embedded in the
file; the graph draws only what the file carries), and its findings; below: what makes the audit
reproducible (tool version, audit time, trust anchors by sha256, withdrawal lists).

This module prepares what the page shows (strings, counts, colours from fixed tables); the markup is in
``templates/`` (``report.html.j2``, its macros, ``chain.svg.j2`` and ``report.css``), rendered by Jinja2
with autoescaping. Everything read from the audited files (titles, names, labels, messages) is
untrusted input: every value a template outputs is escaped, and nothing from a file ever becomes a
link, a style or an attribute other than an escaped tooltip. Bidirectional overrides and zero-width
characters, which would reorder or hide text in a browser, are shown as ``<U+202E>``; control
characters as ``\\x1b`` (:func:`rightsmark.reports.formats.visible_text`, applied to every value).

Jinja2 is imported by this module only, and this module only for ``audit --html``.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from rightsmark.audit.auditor import FINDING_CODES, SEVERITIES, FileAudit, ManifestNode, RecoveredAudit
from rightsmark.audit.svg import (
    NEUTRAL,
    OK,
    SEVERITY_COLOURS,
    USE_STYLE,
    Drawing,
    by_severity,
    chain_drawing,
    consent_line,
    readable_time,
)
from rightsmark.reports.formats import visible_text

__all__ = ["SEVERITY_COLOURS", "chain_svg", "render_html"]


def _escape(value: object) -> Markup:
    """How every value a template outputs is written: made visible, then escaped for text and for
    quoted attributes alike (``&quot;``, ``&#x27;``, as the page always wrote them).

    Installed as the environment's ``finalize``, which Jinja2 applies to each ``{{ ... }}`` value before
    autoescaping; the result is Markup, so it is escaped exactly once. Markup itself is passed through:
    it only ever comes from this environment's own macros, whose values were escaped the same way.
    """
    if isinstance(value, Markup):
        return value
    if type(value) in (int, float):  # digits, a sign, a point (or inf, nan); not subclasses, whose str() may differ
        return Markup(value)
    return Markup(html.escape(visible_text(value), quote=True))  # escaped on this very line


def _fixed(value: float, digits: int) -> Markup:
    """A number with ``digits`` decimals (coordinates and sizes). Marked safe: ``float()`` admits only
    numbers, and their text is digits, a sign and a point."""
    return Markup(f"{float(value):.{digits}f}")  # a number's digits only


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rightsmark.audit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fixed"] = _fixed
    return env


# ---------------------------------------------------------------------------------------------
# What the page shows


@dataclass(frozen=True)
class Badge:
    text: str
    background: str
    colour: str = "#ffffff"
    css: str = "badge"


@dataclass(frozen=True)
class BarRow:
    key: str
    note: str
    pct: float
    colour: str
    value: int


@dataclass(frozen=True)
class Card:
    title: str
    rows: tuple[BarRow, ...]


@dataclass(frozen=True)
class FindingRow:
    severity: Badge
    code: str
    message: str
    #: (label, what is shown for it) per manifest the finding is about
    manifests: tuple[tuple[str, str], ...]
    #: about a manifest recovered through a soft binding, not one the file carries
    recovered: bool = False


@dataclass(frozen=True)
class ManifestRow:
    """One manifest described in a table (the soft bindings it records; for a recovered chain, all of it)."""

    label: str
    title: str
    depth: int
    signer: str
    state: str
    author: str
    license: str
    uses: tuple[Badge, ...]
    consent: str
    #: (alg, value as people read it) per soft binding
    bindings: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RecoveredPanel:
    """What ``--recover`` found for a file: a recovered manifest's chain, nothing, or the problem."""

    repository: str
    manifest_id: str | None
    how: str
    others: tuple[str, ...]
    rows: tuple[ManifestRow, ...]
    problem: tuple[str, str] | None


@dataclass(frozen=True)
class FileSection:
    index: int
    path: str
    integrity: Badge
    trust: Badge
    manifests: int
    worst: Badge
    drawing: Drawing | None
    why: str
    findings: tuple[FindingRow, ...]
    #: the file's own manifests that record soft bindings
    bound: tuple[ManifestRow, ...] = ()
    recovered: RecoveredPanel | None = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _severity_badge(severity: str | None, text: str | None = None) -> Badge:
    if severity is None:
        return Badge(text or "no findings", OK)
    bg, fg = SEVERITY_COLOURS.get(severity, (NEUTRAL, "#ffffff"))
    return Badge(text or severity, bg, fg, "badge sev")


def _integrity_badge(value: str) -> Badge:
    colours = {"valid": OK, "invalid": "#b91c1c", "absent": "#64748b", "error": "#b91c1c"}
    return Badge(value, colours.get(value, NEUTRAL))


def _trust_badge(trusted: bool) -> Badge:
    return Badge("trusted", OK) if trusted else Badge("untrusted", "#f59e0b", "#3b2300")


#: The mark of a manifest recovered through a soft binding (its own colour: no severity uses it).
RECOVERED = Badge("Recovered through a soft binding — not embedded in this file", "#6d28d9", css="badge recovered")


def _recovered_badge(audit: FileAudit) -> Badge | None:
    r = audit.recovered
    return RECOVERED if r is not None and r.manifest_id is not None and r.problem is None else None


def _use_badge(purpose: str, value: object) -> Badge:
    symbol, fill, colour, _words = USE_STYLE.get(str(value), USE_STYLE["unspecified"])
    return Badge(f"{symbol} {purpose}", fill, colour, "badge pill")


def _manifest_row(node: ManifestNode) -> ManifestRow:
    d = node.to_dict()
    lic = d["license"] or {}
    state = d["validation"] + ("" if d["trust"] is None else f", {d['trust']}")
    uses = tuple(_use_badge(name, value) for name, value in d["training"].items() if name != "constraint_info")
    return ManifestRow(
        label=str(node.label or ""),
        title=str(node.title or "untitled"),
        depth=node.depth,
        signer=(d["signer"] or {}).get("common_name") or "unknown signer",
        state=state if node.label else "no manifest",
        author=", ".join(d["author"]) or "none",
        license=lic.get("id") or lic.get("url") or "none",
        uses=uses if node.label else (),
        consent=consent_line(d["consent"]) if node.label else "",
        bindings=tuple((b["alg"], b["display"]) for b in d["soft_bindings"]),
    )


def _recovered_panel(r: RecoveredAudit) -> RecoveredPanel:
    rows = tuple(_manifest_row(n) for n in r.nodes)
    return RecoveredPanel(r.repository, r.manifest_id, r.how, r.others, rows, r.problem)


def _count_badges(findings: Sequence[Any]) -> list[Badge]:
    """One badge per severity present ("2 critical"), the most serious first; "no findings" when none."""
    counts = {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}
    return [_severity_badge(s, f"{n} {s}") for s, n in counts.items() if n] or [_severity_badge(None)]


def _card(
    title: str,
    counts: Mapping[str, Any],
    colour_of: Callable[[str], str] | None = None,
    describe: Callable[[str], str] | None = None,
) -> Card:
    rows = [(str(k), int(v)) for k, v in counts.items() if isinstance(v, int)]
    top = max((v for _, v in rows), default=0)
    return Card(
        title,
        tuple(
            BarRow(
                key,
                describe(key) if describe else "",
                100.0 * value / top if top else 0.0,
                colour_of(key) if colour_of else "#64748b",
                value,
            )
            for key, value in rows
        ),
    )


def _summary(summary: Mapping[str, Any], audits: Sequence[FileAudit]) -> dict[str, Any]:
    files = int(summary.get("files", len(audits)))
    with_findings = int(summary.get("files_with_findings", sum(1 for a in audits if a.findings)))
    serious = sum(1 for a in audits if a.worst in ("error", "critical"))
    tiles = [
        ("files audited", str(files), "#0f172a"),
        ("with serious findings", str(serious), SEVERITY_COLOURS["critical"][0] if serious else OK),
        ("with findings", str(with_findings), "#92400e" if with_findings else OK),
        ("without findings", str(files - with_findings), OK),
    ]

    def use_colour(key: str) -> str:
        return USE_STYLE.get(key, USE_STYLE["unspecified"])[2]

    def code_colour(key: str) -> str:
        return SEVERITY_COLOURS.get(FINDING_CODES.get(key, ("info", ""))[0], (NEUTRAL, ""))[0]

    def sev_colour(key: str) -> str:
        return SEVERITY_COLOURS.get(key, (NEUTRAL, ""))[0]

    def consent_colour(key: str) -> str:
        return {"consent recorded": OK, "no identifiable people": "#0e7490"}.get(key, "#b45309")

    def code_meaning(key: str) -> str:
        return FINDING_CODES.get(key, ("", ""))[1]

    severities = summary.get("findings_by_severity") or {}
    ordered_sev = {s: severities[s] for s in reversed(SEVERITIES) if s in severities}
    cards = [
        _card("By signer (active manifest)", summary.get("by_signer") or {}),
        _card("By license", summary.get("by_license") or {}),
        _card("By AI-training permission", summary.get("by_ai_training") or {}, use_colour),
        _card("Consent coverage", summary.get("consent_coverage") or {}, consent_colour),
        _card("Findings by severity", ordered_sev, sev_colour),
        _card("Findings by code", summary.get("findings_by_code") or {}, code_colour, code_meaning),
    ]
    return {"tiles": tiles, "cards": cards}


def _index(audits: Sequence[FileAudit]) -> list[dict[str, Any]]:
    return [
        {
            "number": i,
            "path": a.path,
            "integrity": _integrity_badge(a.integrity.value),
            "trust": _trust_badge(a.trusted),
            "recovered": _recovered_badge(a),
            "manifests": sum(1 for n in a.nodes if n.label),
            "chips": _count_badges(a.findings),
        }
        for i, a in enumerate(audits, 1)
    ]


def _file_section(index: int, audit: FileAudit) -> FileSection:
    recovered = audit.recovered
    nodes = [*audit.nodes, *(recovered.nodes if recovered is not None else ())]
    titles = {n.label: n.title for n in nodes if n.label}
    rows = tuple(
        FindingRow(
            _severity_badge(f.severity),
            f.code,
            f.message,
            tuple((label, str(titles.get(label) or label or "(active manifest)")) for label in f.manifests),
            f.recovered,
        )
        for f in by_severity(audit.findings)
    )
    return FileSection(
        index=index,
        path=audit.path,
        integrity=_integrity_badge(audit.integrity.value),
        trust=_trust_badge(audit.trusted),
        manifests=sum(1 for n in audit.nodes if n.label),
        worst=_severity_badge(audit.worst, None if audit.worst is None else f"worst: {audit.worst}"),
        drawing=chain_drawing(audit),
        why=f" ({audit.error})" if audit.error else "",
        findings=rows,
        bound=tuple(_manifest_row(n) for n in audit.nodes if n.label and n.to_dict()["soft_bindings"]),
        recovered=None if recovered is None else _recovered_panel(recovered),
    )


def _legend() -> dict[str, list[Badge]]:
    return {
        "severities": [_severity_badge(s) for s in reversed(SEVERITIES)],
        "uses": [
            Badge(f"{symbol} {words}", fill, colour, "badge pill") for symbol, fill, colour, words in USE_STYLE.values()
        ],
    }


def _footer(header: Mapping[str, Any]) -> dict[str, Any]:
    tool = header.get("tool") or {}
    anchors = [
        (a.get("path", ""), a.get("sha256", "")) for a in header.get("trust_anchors") or [] if isinstance(a, Mapping)
    ]
    lists = [
        "; ".join(f"{k}: {v}" for k, v in entry.items()) if isinstance(entry, Mapping) else entry
        for entry in header.get("withdrawal_lists") or []
    ]
    sources = [
        (
            x.get("name", ""),
            x.get("role", ""),
            f"{x.get('origin', '')}" + (f" · {x['repository']}" if x.get("repository") else ""),
            x.get("sha256", ""),
        )
        for x in header.get("trust_sources") or []
        if isinstance(x, Mapping)
    ]
    return {
        "tool": f"{tool.get('name', 'rightsmark')} {tool.get('version', '')}",
        "audited_at": header.get("audited_at", ""),
        # an anchor list of non-mappings shows an empty table, not "none of your own"
        "has_anchors": bool(header.get("trust_anchors")),
        "anchors": anchors,
        "lists": lists,
        "sources": sources,
    }


def _worst_first(audits: Sequence[FileAudit]) -> list[tuple[int, FileAudit]]:
    """Files numbered as given, the most serious first (ties keep the order given)."""

    def rank(item: tuple[int, FileAudit]) -> tuple[int, int]:
        worst = item[1].worst
        return (-(SEVERITIES.index(worst) + 1) if worst in SEVERITIES else 0, item[0])

    return sorted(enumerate(audits, 1), key=rank)


def chain_svg(audit: FileAudit) -> str:
    """The manifest graph of one file as an inline SVG element ("" when the file has no manifest)."""
    drawing = chain_drawing(audit)
    if drawing is None:
        return ""
    return str(_environment().get_template("chain.svg.j2").module.chain(drawing))  # type: ignore[attr-defined]


def render_html(header: Mapping[str, Any], summary: Mapping[str, Any], audits: Sequence[FileAudit]) -> str:
    """The whole report as one HTML document (no script, no external asset; works offline)."""
    tool = header.get("tool") or {}
    when = readable_time(header.get("audited_at", ""))
    anchors = len(header.get("trust_anchors") or [])
    lists = len(header.get("withdrawal_lists") or [])
    named = [str(x.get("name")) for x in header.get("trust_sources") or [] if isinstance(x, Mapping)]
    trusted_by = f"trust: {', '.join(named)}" if named else _plural(anchors, "trust anchor")
    sub = (
        f"{_plural(len(audits), 'file')} · audited {when} · {tool.get('name', 'rightsmark')} "
        f"{tool.get('version', '')} · {trusted_by} · {_plural(lists, 'withdrawal list')}"
    )
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=f"rightsmark audit: {_plural(len(audits), 'file')}, {when}",
        sub=sub,
        chips=_count_badges([f for a in audits for f in a.findings]),
        summary=_summary(summary, audits),
        index=_index(audits),
        legend=_legend(),
        files=[_file_section(i, a) for i, a in _worst_first(audits)],
        recovered_mark=RECOVERED,
        footer=_footer(header),
    )
