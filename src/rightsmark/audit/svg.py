"""Geometry of the chain-of-custody graph: where each box, edge and label goes, as plain shapes.

Per file, the chain is drawn left to right like a timeline: the oldest ingredients on the left, the
file's active manifest on the right, an arrow from each ingredient to the manifest that used it,
labelled with the relationship and with the findings that compare the two. Boxes carry title, signer,
time, validation and trust, author, license, the four AI-use permissions and consent, and are coloured
by the worst finding about that manifest.

This module computes positions, colours and the (shortened) text of each shape; it writes no markup.
``templates/chain.svg.j2`` turns the shapes into SVG elements, escaping every text and attribute value.
Text read from files is made visible here (:func:`rightsmark.reports.formats.visible_text`) before it
is measured, so that what is cut to fit a box is what the page shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rightsmark.audit.auditor import SEVERITIES, FileAudit, Finding, ManifestNode
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
NEUTRAL = "#94a3b8"
OK = "#15803d"

#: How each AI-use permission is shown: symbol, fill, text colour, words.
USE_STYLE = {
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


# ---------------------------------------------------------------------------------------------
# Shapes: what the template draws. Numbers, colours from the tables above, and text to be escaped.


@dataclass(frozen=True)
class Rect:
    kind: ClassVar[str] = "rect"
    x: float
    y: float
    w: float
    h: float
    rx: float
    fill: str
    stroke: str | None = None
    stroke_width: float | None = None
    dash: str | None = None


@dataclass(frozen=True)
class Path:
    kind: ClassVar[str] = "path"
    #: path data built from numbers only
    d: str
    fill: str
    stroke: str | None = None
    stroke_width: float | None = None


@dataclass(frozen=True)
class Polygon:
    kind: ClassVar[str] = "polygon"
    #: points built from numbers only
    points: str
    fill: str


@dataclass(frozen=True)
class Text:
    kind: ClassVar[str] = "text"
    x: float
    y: float
    #: what is drawn (cut with an ellipsis to fit)
    shown: str
    #: the whole text as a tooltip, when ``shown`` was cut
    tooltip: str | None
    size: float
    weight: str
    fill: str
    anchor: str
    italic: bool


@dataclass(frozen=True)
class Group:
    kind: ClassVar[str] = "group"
    items: tuple[Shape, ...]
    css: str | None = None
    #: the group's tooltip
    title: str | None = None


Shape = Rect | Path | Polygon | Text | Group


@dataclass(frozen=True)
class Drawing:
    """One file's chain: the SVG's size, its accessible caption and its shapes."""

    width: float
    height: float
    caption: str
    items: tuple[Shape, ...]


# ---------------------------------------------------------------------------------------------
# Text measurement


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


def readable_time(value: object) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (the text itself when it is not one)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def worst(findings: Iterable[Finding]) -> str | None:
    severities = [f.severity for f in findings if f.severity in SEVERITIES]
    return max(severities, key=SEVERITIES.index) if severities else None


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 0)


def _text(
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
) -> Text:
    """A text shape; cut with an ellipsis to ``max_px`` (the full text then in a tooltip)."""
    text = visible_text(text)  # measured as shown
    shown = _fit(text, max_px, size, weight == "bold") if max_px is not None else text
    return Text(x, y, shown, text if shown != text else None, size, weight, fill, anchor, italic)


def _pill(x: float, y: float, w: float, text: str, fill: str, colour: str, size: float = 10.0) -> list[Shape]:
    return [
        Rect(x, y, w, 15, 7.5, fill),
        _text(x + w / 2, y + 11, text, size=size, fill=colour, anchor="middle", max_px=w - 5),
    ]


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


def consent_line(consent: Any) -> str:
    """What a box says about consent."""
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


def _plain_box(p: _Placed, title: str) -> Group:
    x, y = p.x, p.y
    return Group(
        (
            Rect(x, y, BOX_W, p.h, 8, "#f8fafc", "#d97706", 1.5, "6 4"),
            _text(x + 10, y + 22, title, size=12.5, weight="bold", max_px=BOX_W - 20),
            _text(x + 10, y + 42, "no manifest", fill="#475569"),
            _text(x + 10, y + 59, "unknown provenance", fill="#92400e", italic=True),
        ),
        css="node plain",
    )


def _box(p: _Placed) -> Group:
    d = p.info
    x, y, w = p.x, p.y, BOX_W
    inner = w - 20
    title = str(p.node.title or "untitled")
    if p.node.label is None:
        return _plain_box(p, title)
    out: list[Shape] = []
    severity = worst([*p.findings, *p.changes])
    stroke = SEVERITY_COLOURS[severity][0] if severity else NEUTRAL
    tint = SEVERITY_TINTS.get(severity, SEVERITY_TINTS[None])
    active = p.node.depth == 0
    out.append(Rect(x, y, w, p.h, 8, "#ffffff", stroke, 3 if active else 2))
    out.append(Path(f"M{x + 1.5:.1f},{y + 28:.1f} v-18.5 a7,7 0 0 1 7,-7 h{w - 17:.1f} a7,7 0 0 1 7,7 v18.5 z", tint))
    tag = "ACTIVE" if active else ("SEEN ABOVE" if p.repeated else "")
    tag_w = _text_width(tag, 9, bold=True) + 10 if tag else 0
    if tag:
        out.append(Rect(x + w - tag_w - 7, y + 8, tag_w, 14, 3, "#334155"))
        out.append(_text(x + w - 7 - tag_w / 2, y + 18.5, tag, size=9, weight="bold", fill="#ffffff", anchor="middle"))
    out.append(_text(x + 10, y + 21, title, size=12.5, weight="bold", max_px=inner - tag_w - 4))
    signer = d.get("signer") or {}
    ty = y + 28 + LINE
    who = str(signer.get("common_name") or "unknown signer")
    out.append(_text(x + 10, ty, who, size=11, fill="#0f172a", max_px=inner))
    issuer = f"issued by {signer.get('issuer') or 'unknown'}"
    out.append(_text(x + 10, ty + LINE, issuer, size=10.5, fill="#475569", max_px=inner))
    when = d.get("signed_at")
    stamp = f"signed {readable_time(when)}" if when else "no trusted time"
    out.append(_text(x + 10, ty + 2 * LINE, stamp, size=10.5, fill="#475569", italic=not when))
    # validation and trust chips
    cy = ty + 2 * LINE + 6
    valid = d.get("validation") == "valid"
    vtext = str(d.get("validation") or "unknown")
    vw = _text_width(vtext, 10, bold=True) + 12
    out.append(Rect(x + 10, cy, vw, 15, 3, OK if valid else "#b91c1c"))
    out.append(_text(x + 10 + vw / 2, cy + 11, vtext, size=10, fill="#ffffff", anchor="middle", weight="bold"))
    trust = d.get("trust")
    if trust:
        tw = _text_width(trust, 10, bold=True) + 12
        fill, colour = (OK, "#ffffff") if trust == "trusted" else ("#f59e0b", "#3b2300")
        out.append(Rect(x + 16 + vw, cy, tw, 15, 3, fill))
        out.append(_text(x + 16 + vw + tw / 2, cy + 11, trust, size=10, fill=colour, anchor="middle", weight="bold"))
    ly = cy + 15 + LINE
    author = "author: " + (", ".join(d.get("author") or ()) or "none")
    out.append(_text(x + 10, ly, author, size=11, max_px=inner))
    lic = d.get("license") or {}
    license_text = "license: " + str(lic.get("id") or lic.get("url") or "none")
    out.append(_text(x + 10, ly + LINE, license_text, size=11, max_px=inner))
    # the four permissions, two by two
    training = d.get("training") or {}
    pw = (inner - 6) / 2
    py = ly + LINE + 6
    for i, (key, words) in enumerate(_PURPOSES):
        use = str(training.get(key, "unspecified"))
        symbol, fill, colour, said = USE_STYLE.get(use, USE_STYLE["unspecified"])
        px = x + 10 + (i % 2) * (pw + 6)
        pill = _pill(px, py + (i // 2) * 18, pw, f"{words} {symbol}", fill, colour)
        out.append(Group(tuple(pill), title=f"{words}: {said}"))
    out.append(_text(x + 10, py + 48, consent_line(d.get("consent")), size=11, max_px=inner))
    codes = list(dict.fromkeys(f.code for f in by_severity(p.findings)))
    if codes:
        colour = "#7f1d1d" if worst(p.findings) in ("critical", "error") else "#78350f"
        lines = _wrap(["▲ " + codes[0], *codes[1:]], inner, 10.5, 2)
        for i, line in enumerate(lines):
            out.append(
                _text(x + 10, py + 48 + (i + 1) * LINE, line, size=10.5, weight="bold", fill=colour, max_px=inner)
            )
    return Group(tuple(out), css="node", title=str(p.node.label))


def _edge(child: _Placed, parent: _Placed, findings: list[Finding]) -> Group:
    severity = worst(findings)
    colour = SEVERITY_COLOURS[severity][0] if severity else NEUTRAL
    x1, y1 = child.x + BOX_W, child.mid
    x2, y2 = parent.x - 7, parent.mid
    cx = (x1 + x2) / 2
    out: list[Shape] = [
        Path(
            f"M{x1:.1f},{y1:.1f} C{cx:.1f},{y1:.1f} {cx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}",
            "none",
            colour,
            3 if findings else 2,
        ),
        Polygon(f"{x2 - 2:.1f},{y2 - 6:.1f} {x2 + 7:.1f},{y2:.1f} {x2 - 2:.1f},{y2 + 6:.1f}", colour),
    ]
    rel = str(child.node.relationship or "ingredient")
    out.append(_text(x1 + 8, y1 - 7, rel, size=10.5, fill="#475569", italic=True, max_px=COL_GAP - 16))
    for i, f in enumerate(by_severity(findings)):
        bg, fg = SEVERITY_COLOURS.get(f.severity, (NEUTRAL, "#ffffff"))
        pill = _pill(x1 + 5, y1 + 6 + i * 18, COL_GAP - 12, f.code, bg, fg, 9.0)
        out.append(Group(tuple(pill), title=f"{f.severity}: {f.message}"))
    return Group(tuple(out), css="edge")


def chain_drawing(audit: FileAudit) -> Drawing | None:
    """The manifest graph of one file (None when the file has no manifest)."""
    if not audit.nodes:
        return None
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
    items: list[Shape] = [
        _edge(child, parent, edge_findings.get((str(child.node.label), str(parent.node.label)), []))
        for child, parent in edges
    ]
    items += [_box(p) for p in placed]
    return Drawing(width, height, f"Chain of custody of {audit.path}", tuple(items))
