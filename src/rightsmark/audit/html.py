"""The audit as one self-contained HTML file: inline CSS and inline SVG, no script, no external asset.

Per file, the chain of custody is drawn as a graph that reads left to right like a timeline: the
oldest ingredients on the left, the file's active manifest on the right, an arrow from each ingredient
to the manifest that used it, labelled with the relationship and with the findings that compare the
two. Boxes carry title, signer, time, validation and trust, author, license, the four AI-use
permissions and consent, and are coloured by the worst finding about that manifest. Above: a dataset
summary; below: what makes the audit reproducible (tool version, audit time, trust anchors by sha256,
withdrawal lists).

Everything read from the audited files (titles, names, labels, messages) is untrusted input and is
escaped; nothing from a file ever becomes a link, a style or an attribute other than an escaped tooltip.
Bidirectional overrides and zero-width characters, which would reorder or hide text in a browser, are
shown as ``<U+202E>``; control characters as ``\x1b`` (:func:`rightsmark.reports.formats.visible_text`).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rightsmark.audit.auditor import FINDING_CODES, SEVERITIES, FileAudit, Finding, ManifestNode
from rightsmark.reports.formats import visible_text

#: Solid colour (badges, borders, edges) and text colour per severity.
SEVERITY_COLOURS = {
    "critical": ("#b91c1c", "#ffffff"),
    "error": ("#ea580c", "#ffffff"),
    "warning": ("#f59e0b", "#3b2300"),
    "info": ("#2563eb", "#ffffff"),
}
#: Light fills of boxes per severity (and for a manifest without findings).
SEVERITY_TINTS = {"critical": "#fee2e2", "error": "#ffedd5", "warning": "#fef3c7", "info": "#dbeafe", None: "#f1f5f9"}
_NEUTRAL = "#94a3b8"
_OK = "#15803d"

#: How each AI-use permission is shown: symbol, fill, text colour, words.
_USE_STYLE = {
    "allowed": ("✓", "#dcfce7", "#14532d", "allowed"),
    "notAllowed": ("✗", "#fee2e2", "#7f1d1d", "not allowed"),
    "constrained": ("~", "#fef3c7", "#78350f", "constrained"),
    "unspecified": ("?", "#e2e8f0", "#334155", "unspecified"),
}
_PURPOSES = (
    ("ai_training", "AI training"),
    ("ai_generative_training", "generative"),
    ("ai_inference", "inference"),
    ("data_mining", "data mining"),
)
#: Findings that compare a manifest with one of its ingredients: drawn on the edge between the two.
EDGE_CODES = frozenset(
    {"permission-widened", "consent-dropped", "consent-changed", "author-changed", "license-changed", "time-order"}
)

# Graph geometry (px)
BOX_W = 200
BOX_H = 222
PLAIN_H = 74
COL_GAP = 112
ROW_GAP = 22
PAD = 10
LINE = 16


def _e(value: object) -> str:
    return html.escape(visible_text(value), quote=True)


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of rendered width (DejaVu Sans metrics, the widest common fallback)."""
    width = 0.0
    for ch in text:
        if ch in "il|!.,:;'j":
            width += 0.3
        elif ch in "frtI ()[]-/":
            width += 0.42
        elif ch in "mwMW@%":
            width += 0.95
        elif ch.isupper() or ch.isdigit():
            width += 0.7
        elif ord(ch) > 0x2E7F:  # CJK and other wide scripts
            width += 1.0
        else:
            width += 0.61
    return width * size * (1.12 if bold else 1.0)


def _fit(text: str, max_px: float, size: float, bold: bool = False) -> str:
    """``text`` cut with an ellipsis so that it fits ``max_px`` at font size ``size``."""
    if _text_width(text, size, bold) <= max_px:
        return text
    out = text
    while out and _text_width(out + "…", size, bold) > max_px:
        out = out[:-1]
    return out.rstrip() + "…"


def _readable_time(value: object) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (the text itself when it is not one)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _wrap(words: Sequence[str], max_px: float, size: float, max_lines: int) -> list[str]:
    """``words`` joined with " · " into at most ``max_lines`` lines of ``max_px`` (bold); the last line
    takes whatever is left (and is cut with an ellipsis when drawn)."""
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} · {word}" if current else word
        if current and _text_width(candidate, size, True) > max_px and len(lines) < max_lines - 1:
            lines.append(current)
            current = word
        elif current and len(lines) == max_lines - 1 and _text_width(candidate, size, True) > max_px:
            current = f"{current} · {' · '.join(words[i:])}"
            break
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _worst(findings: Iterable[Finding]) -> str | None:
    severities = [f.severity for f in findings if f.severity in SEVERITIES]
    return max(severities, key=SEVERITIES.index) if severities else None


def _by_severity(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 0)


def _badge(text: str, background: str, colour: str = "#ffffff", css: str = "badge") -> str:
    return f'<span class="{css}" style="background:{background};color:{colour}">{_e(text)}</span>'


def _severity_badge(severity: str | None, text: str | None = None) -> str:
    if severity is None:
        return _badge(text or "no findings", _OK)
    bg, fg = SEVERITY_COLOURS.get(severity, (_NEUTRAL, "#ffffff"))
    return _badge(text or severity, bg, fg, "badge sev")


def _integrity_badge(value: str) -> str:
    colours = {"valid": _OK, "invalid": "#b91c1c", "absent": "#64748b", "error": "#b91c1c"}
    return _badge(value, colours.get(value, _NEUTRAL))


def _trust_badge(trusted: bool) -> str:
    return _badge("trusted", _OK) if trusted else _badge("untrusted", "#f59e0b", "#3b2300")


# ---------------------------------------------------------------------------------------------
# The chain as a graph


@dataclass
class _Placed:
    node: ManifestNode
    info: dict[str, Any]
    x: float
    y: float
    h: float
    repeated: bool
    #: findings about this manifest alone (listed in its box)
    findings: list[Finding] = field(default_factory=list)
    #: findings of the comparison with its ingredients (drawn on the edges; they colour the box too)
    changes: list[Finding] = field(default_factory=list)

    @property
    def mid(self) -> float:
        return self.y + self.h / 2


def _layout(nodes: Sequence[ManifestNode]) -> tuple[list[_Placed], list[tuple[_Placed, _Placed]], float, float]:
    """Place every node: columns by depth (deepest ingredient on the left); each subtree gets its own
    horizontal band, tall enough for the node and for its ingredients stacked, so nothing overlaps."""
    max_depth = max(n.depth for n in nodes)

    def height(node: ManifestNode) -> float:
        return BOX_H if node.label else PLAIN_H

    band: dict[int, float] = {}

    def measure(node: ManifestNode) -> float:
        stacked = sum(measure(c) for c in node.children) + ROW_GAP * max(len(node.children) - 1, 0)
        band[id(node)] = max(height(node), stacked)
        return band[id(node)]

    tops: dict[int, float] = {}

    def place(node: ManifestNode, top: float) -> None:
        tops[id(node)] = top + (band[id(node)] - height(node)) / 2
        stacked = sum(band[id(c)] for c in node.children) + ROW_GAP * max(len(node.children) - 1, 0)
        cursor = top + (band[id(node)] - stacked) / 2
        for child in node.children:
            place(child, cursor)
            cursor += band[id(child)] + ROW_GAP

    total = measure(nodes[0])
    place(nodes[0], PAD)
    for node in nodes:  # not reachable through children lists (should not happen): below the rest
        if id(node) not in tops:
            tops[id(node)] = PAD + total + ROW_GAP
            total += ROW_GAP + height(node)
    seen: set[str] = set()
    placed: dict[int, _Placed] = {}
    for node in nodes:
        repeated = node.label is not None and node.label in seen
        if node.label:
            seen.add(node.label)
        x = PAD + (max_depth - node.depth) * (BOX_W + COL_GAP)
        placed[id(node)] = _Placed(node, node.to_dict(), x, tops[id(node)], height(node), repeated)
    edges = [(placed[id(c)], placed[id(n)]) for n in nodes for c in n.children if id(c) in placed]
    width = 2 * PAD + (max_depth + 1) * BOX_W + max_depth * COL_GAP
    return list(placed.values()), edges, width, total + 2 * PAD


def _svg_text(
    x: float,
    y: float,
    text: str,
    *,
    size: float = 11.5,
    weight: str = "normal",
    fill: str = "#1e293b",
    anchor: str = "start",
    italic: bool = False,
    max_px: float | None = None,
) -> str:
    """An SVG text element; cut with an ellipsis to ``max_px`` (the full text then in a tooltip)."""
    text = visible_text(text)  # measured as shown
    shown = _fit(text, max_px, size, weight == "bold") if max_px is not None else text
    style = ' font-style="italic"' if italic else ""
    tip = f"<title>{_e(text)}</title>" if shown != text else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" fill="{fill}" '
        f'text-anchor="{anchor}"{style}>{tip}{_e(shown)}</text>'
    )


def _pill(x: float, y: float, w: float, text: str, fill: str, colour: str, size: float = 10.0) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="15" rx="7.5" fill="{fill}"/>' + _svg_text(
        x + w / 2, y + 11, text, size=size, fill=colour, anchor="middle", max_px=w - 5
    )


def _consent_line(consent: Any) -> str:
    if not isinstance(consent, dict):
        return "consent not recorded"
    if not consent.get("identifiable_people"):
        return "no identifiable people"
    from rightsmark.rights.consent import subject_entries

    subjects = subject_entries(consent)
    if subjects is None:
        return "consent malformed (not a list of subjects)"
    refs = ", ".join(str(s.get("ref")) for s in subjects)
    return f"consent: {len(subjects)} record{'s' if len(subjects) != 1 else ''}" + (f" ({refs})" if refs else "")


def _box(p: _Placed) -> str:
    d = p.info
    x, y, w = p.x, p.y, BOX_W
    inner = w - 20
    out: list[str] = []
    title = str(p.node.title or "untitled")
    if p.node.label is None:
        out.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{p.h}" rx="8" fill="#f8fafc" stroke="#d97706" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        out.append(_svg_text(x + 10, y + 22, title, size=12.5, weight="bold", max_px=inner))
        out.append(_svg_text(x + 10, y + 42, "no manifest", fill="#475569"))
        out.append(_svg_text(x + 10, y + 59, "unknown provenance", fill="#92400e", italic=True))
        return '<g class="node plain">' + "".join(out) + "</g>"
    worst = _worst([*p.findings, *p.changes])
    stroke = SEVERITY_COLOURS[worst][0] if worst else _NEUTRAL
    tint = SEVERITY_TINTS.get(worst, SEVERITY_TINTS[None])
    active = p.node.depth == 0
    out.append(
        f'<rect x="{x}" y="{y}" width="{w}" height="{p.h}" rx="8" fill="#ffffff" stroke="{stroke}" '
        f'stroke-width="{3 if active else 2}"/>'
    )
    out.append(f'<path d="M{x + 1.5},{y + 28} v-18.5 a7,7 0 0 1 7,-7 h{w - 17} a7,7 0 0 1 7,7 v18.5 z" fill="{tint}"/>')
    tag = "ACTIVE" if active else ("SEEN ABOVE" if p.repeated else "")
    tag_w = _text_width(tag, 9, bold=True) + 10 if tag else 0
    if tag:
        out.append(f'<rect x="{x + w - tag_w - 7}" y="{y + 8}" width="{tag_w}" height="14" rx="3" fill="#334155"/>')
        out.append(
            _svg_text(x + w - 7 - tag_w / 2, y + 18.5, tag, size=9, weight="bold", fill="#ffffff", anchor="middle")
        )
    out.append(_svg_text(x + 10, y + 21, title, size=12.5, weight="bold", max_px=inner - tag_w - 4))
    signer = d.get("signer") or {}
    ty = y + 28 + LINE
    who = str(signer.get("common_name") or "unknown signer")
    out.append(_svg_text(x + 10, ty, who, size=11, fill="#0f172a", max_px=inner))
    issuer = f"issued by {signer.get('issuer') or 'unknown'}"
    out.append(_svg_text(x + 10, ty + LINE, issuer, size=10.5, fill="#475569", max_px=inner))
    when = d.get("signed_at")
    stamp = f"signed {_readable_time(when)}" if when else "no trusted time"
    out.append(_svg_text(x + 10, ty + 2 * LINE, stamp, size=10.5, fill="#475569", italic=not when))
    # validation and trust chips
    cy = ty + 2 * LINE + 6
    valid = d.get("validation") == "valid"
    vtext = str(d.get("validation") or "unknown")
    vw = _text_width(vtext, 10, bold=True) + 12
    out.append(
        f'<rect x="{x + 10}" y="{cy}" width="{vw:.1f}" height="15" rx="3" fill="{_OK if valid else "#b91c1c"}"/>'
    )
    out.append(_svg_text(x + 10 + vw / 2, cy + 11, vtext, size=10, fill="#ffffff", anchor="middle", weight="bold"))
    trust = d.get("trust")
    if trust:
        tw = _text_width(trust, 10, bold=True) + 12
        fill, colour = (_OK, "#ffffff") if trust == "trusted" else ("#f59e0b", "#3b2300")
        out.append(f'<rect x="{x + 16 + vw:.1f}" y="{cy}" width="{tw:.1f}" height="15" rx="3" fill="{fill}"/>')
        out.append(
            _svg_text(x + 16 + vw + tw / 2, cy + 11, trust, size=10, fill=colour, anchor="middle", weight="bold")
        )
    ly = cy + 15 + LINE
    author = "author: " + (", ".join(d.get("author") or ()) or "none")
    out.append(_svg_text(x + 10, ly, author, size=11, max_px=inner))
    lic = d.get("license") or {}
    license_text = "license: " + str(lic.get("id") or lic.get("url") or "none")
    out.append(_svg_text(x + 10, ly + LINE, license_text, size=11, max_px=inner))
    # the four permissions, two by two
    training = d.get("training") or {}
    pw = (inner - 6) / 2
    py = ly + LINE + 6
    for i, (key, words) in enumerate(_PURPOSES):
        use = str(training.get(key, "unspecified"))
        symbol, fill, colour, said = _USE_STYLE.get(use, _USE_STYLE["unspecified"])
        px = x + 10 + (i % 2) * (pw + 6)
        out.append(f"<g><title>{_e(words)}: {_e(said)}</title>")
        out.append(_pill(px, py + (i // 2) * 18, pw, f"{words} {symbol}", fill, colour))
        out.append("</g>")
    consent = _consent_line(d.get("consent"))
    out.append(_svg_text(x + 10, py + 48, consent, size=11, max_px=inner))
    codes = list(dict.fromkeys(f.code for f in _by_severity(p.findings)))
    if codes:
        colour = "#7f1d1d" if _worst(p.findings) in ("critical", "error") else "#78350f"
        lines = _wrap(["▲ " + codes[0], *codes[1:]], inner, 10.5, 2)
        for i, line in enumerate(lines):
            out.append(
                _svg_text(x + 10, py + 48 + (i + 1) * LINE, line, size=10.5, weight="bold", fill=colour, max_px=inner)
            )
    label = str(p.node.label)
    return f'<g class="node"><title>{_e(label)}</title>' + "".join(out) + "</g>"


def _edge(child: _Placed, parent: _Placed, findings: list[Finding]) -> str:
    worst = _worst(findings)
    colour = SEVERITY_COLOURS[worst][0] if worst else _NEUTRAL
    x1, y1 = child.x + BOX_W, child.mid
    x2, y2 = parent.x - 7, parent.mid
    cx = (x1 + x2) / 2
    out = [
        f'<path d="M{x1:.1f},{y1:.1f} C{cx:.1f},{y1:.1f} {cx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" '
        f'stroke="{colour}" stroke-width="{3 if findings else 2}"/>',
        f'<polygon points="{x2 - 2:.1f},{y2 - 6:.1f} {x2 + 7:.1f},{y2:.1f} {x2 - 2:.1f},{y2 + 6:.1f}" '
        f'fill="{colour}"/>',
    ]
    rel = str(child.node.relationship or "ingredient")
    out.append(_svg_text(x1 + 8, y1 - 7, rel, size=10.5, fill="#475569", italic=True, max_px=COL_GAP - 16))
    for i, f in enumerate(_by_severity(findings)):
        bg, fg = SEVERITY_COLOURS.get(f.severity, (_NEUTRAL, "#ffffff"))
        out.append(f"<g><title>{_e(f.severity)}: {_e(f.message)}</title>")
        out.append(_pill(x1 + 5, y1 + 6 + i * 18, COL_GAP - 12, f.code, bg, fg, 9.0))
        out.append("</g>")
    return '<g class="edge">' + "".join(out) + "</g>"


def chain_svg(audit: FileAudit) -> str:
    """The manifest graph of one file as an inline SVG element ("" when the file has no manifest)."""
    if not audit.nodes:
        return ""
    placed, edges, width, height = _layout(audit.nodes)
    by_label: dict[str, list[_Placed]] = {}
    for p in placed:
        if p.node.label:
            by_label.setdefault(p.node.label, []).append(p)
    edge_findings: dict[tuple[str, str], list[Finding]] = {}
    for f in audit.findings:
        if f.code in EDGE_CODES and len(f.manifests) == 2:
            edge_findings.setdefault((f.manifests[0], f.manifests[1]), []).append(f)
            for p in by_label.get(f.manifests[1], ()):
                p.changes.append(f)
        elif len(f.manifests) == 1 and f.code != "ancestor-unknown-provenance":
            for p in by_label.get(f.manifests[0], ()):
                p.findings.append(f)
    parts = [
        _edge(child, parent, edge_findings.get((str(child.node.label), str(parent.node.label)), []))
        for child, parent in edges
    ]
    parts += [_box(p) for p in placed]
    caption = f"Chain of custody of {audit.path}"
    return (
        f'<svg class="chain" role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Verdana, sans-serif">'
        f"<title>{_e(caption)}</title>" + "".join(parts) + "</svg>"
    )


# ---------------------------------------------------------------------------------------------
# Sections


def _bars(title: str, counts: Mapping[str, Any], colour_of: Any = None, describe: Any = None) -> str:
    rows = [(str(k), int(v)) for k, v in counts.items() if isinstance(v, int)]
    top = max((v for _, v in rows), default=0)
    body = []
    for key, value in rows:
        colour = colour_of(key) if colour_of else "#64748b"
        pct = 100.0 * value / top if top else 0.0
        note = f'<div class="note">{_e(describe(key))}</div>' if describe and describe(key) else ""
        body.append(
            f'<tr><td class="k">{_e(key)}{note}</td>'
            f'<td class="bar"><div style="width:{pct:.1f}%;background:{colour}"></div></td>'
            f'<td class="n">{value}</td></tr>'
        )
    if not body:
        body.append('<tr><td class="k empty" colspan="3">none</td></tr>')
    return f'<div class="card"><h3>{_e(title)}</h3><table class="bars">{"".join(body)}</table></div>'


def _summary_section(summary: Mapping[str, Any], audits: Sequence[FileAudit]) -> str:
    files = int(summary.get("files", len(audits)))
    with_findings = int(summary.get("files_with_findings", sum(1 for a in audits if a.findings)))
    serious = sum(1 for a in audits if a.worst in ("error", "critical"))
    clean = files - with_findings
    tiles = [
        ("files audited", str(files), "#0f172a"),
        ("with serious findings", str(serious), SEVERITY_COLOURS["critical"][0] if serious else _OK),
        ("with findings", str(with_findings), "#92400e" if with_findings else _OK),
        ("without findings", str(clean), _OK),
    ]
    tile_html = "".join(
        f'<div class="tile"><div class="num" style="color:{c}">{_e(n)}</div><div class="what">{_e(w)}</div></div>'
        for w, n, c in tiles
    )

    def use_colour(key: str) -> str:
        return _USE_STYLE.get(key, _USE_STYLE["unspecified"])[2]

    def code_colour(key: str) -> str:
        return SEVERITY_COLOURS.get(FINDING_CODES.get(key, ("info", ""))[0], (_NEUTRAL, ""))[0]

    def sev_colour(key: str) -> str:
        return SEVERITY_COLOURS.get(key, (_NEUTRAL, ""))[0]

    def consent_colour(key: str) -> str:
        return {"consent recorded": _OK, "no identifiable people": "#0e7490"}.get(key, "#b45309")

    def code_meaning(key: str) -> str:
        return FINDING_CODES.get(key, ("", ""))[1]

    severities = summary.get("findings_by_severity") or {}
    ordered_sev = {s: severities[s] for s in reversed(SEVERITIES) if s in severities}
    cards = [
        _bars("By signer (active manifest)", summary.get("by_signer") or {}),
        _bars("By license", summary.get("by_license") or {}),
        _bars("By AI-training permission", summary.get("by_ai_training") or {}, use_colour),
        _bars("Consent coverage", summary.get("consent_coverage") or {}, consent_colour),
        _bars("Findings by severity", ordered_sev, sev_colour),
        _bars("Findings by code", summary.get("findings_by_code") or {}, code_colour, code_meaning),
    ]
    return (
        '<section id="summary"><h2>Dataset summary</h2>'
        f'<div class="tiles">{tile_html}</div><div class="cards">{"".join(cards)}</div></section>'
    )


def _index_section(audits: Sequence[FileAudit]) -> str:
    rows = []
    for i, a in enumerate(audits, 1):
        counts = {s: sum(1 for f in a.findings if f.severity == s) for s in reversed(SEVERITIES)}
        chips = " ".join(_severity_badge(s, f"{n} {s}") for s, n in counts.items() if n) or _severity_badge(None)
        rows.append(
            f'<tr><td class="n">{i}</td><td><a href="#file-{i}">{_e(a.path)}</a></td>'
            f"<td>{_integrity_badge(a.integrity.value)}</td><td>{_trust_badge(a.trusted)}</td>"
            f'<td class="n">{sum(1 for n in a.nodes if n.label)}</td><td>{chips}</td></tr>'
        )
    return (
        '<section id="files"><h2>Files</h2><table class="index"><thead><tr><th>#</th><th>file</th>'
        "<th>integrity</th><th>trust</th><th>manifests</th><th>findings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _manifest_names(audit: FileAudit, labels: Sequence[str]) -> str:
    titles = {n.label: n.title for n in audit.nodes if n.label}
    parts = []
    for label in labels:
        shown = titles.get(label) or label or "(active manifest)"
        parts.append(f'<span class="mf" title="{_e(label)}">{_e(shown)}</span>')
    return ' <span class="arrow">→</span> '.join(parts)


def _file_section(index: int, audit: FileAudit) -> str:
    manifests = sum(1 for n in audit.nodes if n.label)
    head = (
        f'<div class="filehead"><h3>{_e(audit.path)}</h3><div class="badges">'
        f"{_integrity_badge(audit.integrity.value)} {_trust_badge(audit.trusted)} "
        f'<span class="muted">{manifests} manifest{"s" if manifests != 1 else ""}</span> '
        f"{_severity_badge(audit.worst, None if audit.worst is None else f'worst: {audit.worst}')}</div></div>"
    )
    svg = chain_svg(audit)
    why = f" ({audit.error})" if audit.error else ""
    graph = (
        f'<div class="graph">{svg}</div>'
        if svg
        else f'<p class="muted">Nothing to draw: the file carries no readable C2PA manifest{_e(why)}.</p>'
    )
    if audit.findings:
        rows = "".join(
            f"<tr><td>{_severity_badge(f.severity)}</td><td><code>{_e(f.code)}</code></td>"
            f"<td>{_e(f.message)}</td><td>{_manifest_names(audit, f.manifests)}</td></tr>"
            for f in _by_severity(audit.findings)
        )
        table = (
            '<table class="findings"><thead><tr><th>severity</th><th>code</th><th>what was found</th>'
            f"<th>manifests</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        table = (
            '<p class="clean">No findings: every manifest validates, is trusted and agrees with its ingredients.</p>'
        )
    return f'<section class="file" id="file-{index}">{head}{graph}{table}</section>'


def _legend() -> str:
    sev = " ".join(_severity_badge(s) for s in reversed(SEVERITIES))
    uses = " ".join(
        f'<span class="badge pill" style="background:{fill};color:{colour}">{_e(symbol)} {_e(words)}</span>'
        for symbol, fill, colour, words in _USE_STYLE.values()
    )
    return (
        '<div class="legend"><p>Each graph reads left to right: ingredients (earlier versions and components) on the '
        "left, the file's active manifest on the right; an arrow runs from an ingredient to the manifest that used "
        "it, labelled with the relationship and with what changed between the two. A box's colour is the worst "
        "finding about that manifest or about what it changed; a dashed box is an ingredient without a manifest. "
        "Files with the most "
        "serious findings come first.</p>"
        f"<p><b>Severity</b> {sev} &nbsp; <b>Permission</b> {uses}</p></div>"
    )


def _footer(header: Mapping[str, Any]) -> str:
    tool = header.get("tool") or {}
    anchors = header.get("trust_anchors") or []
    lists = header.get("withdrawal_lists") or []
    if anchors:
        anchor_rows = "".join(
            f'<tr><td>{_e(a.get("path", ""))}</td><td><code class="hash">{_e(a.get("sha256", ""))}</code></td></tr>'
            for a in anchors
            if isinstance(a, Mapping)
        )
        anchor_html = f"<table><thead><tr><th>file</th><th>sha256</th></tr></thead><tbody>{anchor_rows}</tbody></table>"
    else:
        anchor_html = "<p>none of your own (--trust)</p>"
    if lists:
        items = []
        for entry in lists:
            if isinstance(entry, Mapping):
                pairs = "; ".join(f"{_e(k)}: {_e(v)}" for k, v in entry.items())
            else:
                pairs = _e(entry)
            items.append(f"<li><code class='hash'>{pairs}</code></li>")
        lists_html = f"<ul>{''.join(items)}</ul>"
    else:
        lists_html = "<p>none given: no consent was checked for withdrawal</p>"
    sources = [x for x in header.get("trust_sources") or [] if isinstance(x, Mapping)]
    if sources:
        source_rows = "".join(
            f"<tr><td>{_e(x.get('name', ''))}</td><td>{_e(x.get('role', ''))}</td><td>{_e(x.get('origin', ''))}"
            f"{(' · ' + _e(x['repository'])) if x.get('repository') else ''}</td>"
            f'<td><code class="hash">{_e(x.get("sha256", ""))}</code></td></tr>'
            for x in sources
        )
        sources_html = (
            "<table><thead><tr><th>source</th><th>role</th><th>origin</th><th>sha256</th></tr></thead>"
            f"<tbody>{source_rows}</tbody></table>"
        )
    else:
        sources_html = "<p>none: no trust list and no anchors, so no signer could be trusted</p>"
    return (
        '<footer id="reproducibility"><h2>Reproducibility</h2><dl>'
        f"<dt>tool</dt><dd>{_e(tool.get('name', 'rightsmark'))} {_e(tool.get('version', ''))}</dd>"
        f"<dt>audited at</dt><dd>{_e(header.get('audited_at', ''))}</dd>"
        f"<dt>trust rested on</dt><dd>{sources_html}</dd>"
        f"<dt>trust anchors</dt><dd>{anchor_html}</dd>"
        f"<dt>withdrawal lists</dt><dd>{lists_html}</dd></dl>"
        '<p class="muted">The same files audited with the same tool version, trust anchors and withdrawal lists '
        "give the same findings, except consent expiry, which is judged at the time of the audit.</p></footer>"
    )


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#0f172a;font:14px/1.45 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",
Verdana,sans-serif}
main,header.top>div,footer{max-width:1240px;margin:0 auto;padding:0 20px}
header.top{background:#0f172a;color:#f8fafc;padding:18px 0 16px}
header.top h1{margin:0 0 4px;font-size:22px}
header.top .sub{margin:0 0 8px;color:#cbd5e1;font-size:13px}
h2{font-size:18px;margin:26px 0 10px;padding-bottom:4px;border-bottom:2px solid #e2e8f0}
h3{font-size:14px;margin:0 0 8px}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;font-size:12px;font-weight:bold;white-space:nowrap}
.badge.pill{border-radius:9px;font-weight:normal}
.tiles{display:flex;gap:12px;margin-bottom:12px}
.tile{flex:1;background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px}
.tile .num{font-size:26px;font-weight:bold;line-height:1.1}
.tile .what{color:#475569;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;align-items:start}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px}
table{border-collapse:collapse}
table.bars{width:100%;font-size:12.5px}
table.bars td{padding:3px 4px;vertical-align:top}
table.bars{table-layout:fixed}
table.bars td.k{width:46%;word-break:break-word}
table.bars td.bar{width:40%}
table.bars td.bar div{height:12px;border-radius:3px;min-width:2px;margin-top:3px}
table.bars td.n,td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:#64748b;font-size:11px}
.empty{color:#64748b}
table.index,table.findings{width:100%;background:#fff;border:1px solid #e2e8f0;font-size:13px}
table.index th,table.index td,table.findings th,table.findings td{padding:5px 8px;border-bottom:1px solid #e2e8f0;
text-align:left;vertical-align:top}
th{background:#f1f5f9;font-size:12px;color:#334155}
table.index td a{color:#1d4ed8;text-decoration:none;word-break:break-all}
section.file{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px;margin:14px 0}
.filehead{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin-bottom:8px}
.filehead h3{margin:0;font-size:16px;word-break:break-all}
.graph{overflow-x:auto;padding:4px 0 10px}
svg.chain{display:block}
.muted{color:#64748b}
.mf{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
.arrow{color:#64748b}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12.5px}
code.hash{word-break:break-all}
p.clean{color:#15803d;font-weight:bold}
p.error{color:#b91c1c}
.legend{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:4px 14px;font-size:13px;color:#334155}
footer{margin-top:20px;padding-bottom:30px;font-size:13px}
footer dl{display:grid;grid-template-columns:140px 1fr;gap:6px 12px;margin:0}
footer dt{font-weight:bold;color:#334155}
footer dd{margin:0}
footer table td,footer table th{padding:3px 8px;border-bottom:1px solid #e2e8f0;text-align:left}
footer ul{margin:0;padding-left:18px}
@media print{.graph{overflow:visible}section.file{break-inside:avoid}}
"""


def _worst_first(audits: Sequence[FileAudit]) -> list[tuple[int, FileAudit]]:
    """Files numbered as given, the most serious first (ties keep the order given)."""

    def rank(item: tuple[int, FileAudit]) -> tuple[int, int]:
        worst = item[1].worst
        return (-(SEVERITIES.index(worst) + 1) if worst in SEVERITIES else 0, item[0])

    return sorted(enumerate(audits, 1), key=rank)


def render_html(header: Mapping[str, Any], summary: Mapping[str, Any], audits: Sequence[FileAudit]) -> str:
    """The whole report as one HTML document (no script, no external asset; works offline)."""
    tool = header.get("tool") or {}
    when = _readable_time(header.get("audited_at", ""))
    total = {s: sum(1 for a in audits for f in a.findings if f.severity == s) for s in reversed(SEVERITIES)}
    chips = " ".join(_severity_badge(s, f"{n} {s}") for s, n in total.items() if n) or _severity_badge(None)
    anchors = len(header.get("trust_anchors") or [])
    lists = len(header.get("withdrawal_lists") or [])
    named = [str(x.get("name")) for x in header.get("trust_sources") or [] if isinstance(x, Mapping)]
    trusted_by = f"trust: {', '.join(named)}" if named else f"{anchors} trust anchor{'s' if anchors != 1 else ''}"
    sub = (
        f"{len(audits)} file{'s' if len(audits) != 1 else ''} · audited {when} · "
        f"{tool.get('name', 'rightsmark')} {tool.get('version', '')} · "
        f"{trusted_by}"
        f" · {lists} withdrawal list{'s' if lists != 1 else ''}"
    )
    body = [
        f'<header class="top"><div><h1>Chain-of-custody audit</h1><p class="sub">{_e(sub)}</p>'
        f'<div class="chips">{chips}</div></div></header><main>',
        _summary_section(summary, audits),
        _index_section(audits),
        '<section id="chains"><h2>Chains of custody</h2>',
        _legend(),
        *(_file_section(i, a) for i, a in _worst_first(audits)),
        "</section></main>",
        _footer(header),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>rightsmark audit: {len(audits)} file{'s' if len(audits) != 1 else ''}, {_e(when)}</title>"
        f"<style>{_CSS}</style></head><body>" + "".join(body) + "</body></html>\n"
    )
