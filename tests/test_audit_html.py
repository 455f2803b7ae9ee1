"""The HTML audit report: one self-contained file, everything from the files escaped, and what a person
sees when headless Chromium renders it (the DOM it builds and a screenshot)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

import rightsmark
from rightsmark.audit.auditor import Auditor, FileAudit, report_header, summarise
from rightsmark.audit.html import SEVERITY_COLOURS, render_html
from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.rights.consent import load_consent_file
from rightsmark.rights.licenses import parse_license
from rightsmark.sign.signer import Signer

from .chains import Chain, build_chain, consent_file, edit, people_rights
from .conftest import EXAMPLE_IMAGES, open_rights

SCRIPT_AUTHOR = '<script>alert("owned")</script>'
IMG_TITLE = "<img src=x onerror=alert(1)>.jpg"


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    """Another party with a name of its own, so a reader can tell the signers apart."""
    keys = init_keys(
        tmp_path_factory.mktemp("editor") / "k", subject="Harbour Edits Ltd", organization="Harbour Edits CA"
    )
    with Signer(load_signing_material(keys.key, keys.chain)) as s:
        yield s


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, signer: Signer, editor: Signer) -> Chain:
    return build_chain(tmp_path_factory.mktemp("chain"), signer, editor)


def _render(paths: list[Path], keys: KeyFiles, out: Path) -> tuple[str, list[FileAudit]]:
    now = dt.datetime.now(dt.UTC)
    with Auditor([keys.ca], now=now) as auditor:
        audits = [auditor.audit_file(p) for p in paths]
    page = render_html(report_header([keys.ca], [], now), summarise(audits), audits)
    out.write_text(page, encoding="utf-8")
    return page, audits


@pytest.fixture(scope="module")
def report(chain: Chain, keys: KeyFiles) -> tuple[Path, str]:
    out = chain.dataset.parent / "audit.html"
    page, _ = _render(sorted(chain.dataset.iterdir()), keys, out)
    return out, page


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory, signer: Signer, keys: KeyFiles) -> tuple[Path, str]:
    """A signed file whose title and author are markup: files are untrusted input."""
    root = tmp_path_factory.mktemp("hostile")
    source = root / IMG_TITLE
    shutil.copyfile(EXAMPLE_IMAGES / "harbour.jpg", source)
    signed = root / "signed" / IMG_TITLE
    signer.sign_file(source, signed, open_rights(authors=(SCRIPT_AUTHOR,)))
    edited = root / "signed" / "edited.jpg"
    consent = consent_file(root / "consent.json", expires=dt.date(2031, 1, 1))
    signer.sign_file(
        edit(signed, root / "work" / "edited.jpg", 1),
        edited,
        people_rights(consent, authors=("Jane Doe",), license=parse_license("CC-BY-4.0")),
        parent=signed,
    )
    out = root / "hostile.html"
    page, audits = _render([signed, edited], keys, out)
    assert audits[0].nodes[0].title == IMG_TITLE
    assert any(f.code == "author-changed" and SCRIPT_AUTHOR in f.message for f in audits[1].findings)
    return out, page


# ---------------------------------------------------------------------------------------------
# The HTML source

_RESOURCE_ATTR = re.compile(r"""\b(?:src|href|xlink:href|srcset|poster|action|data)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text a reader sees (not style, head or tooltips)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag in ("style", "title", "head", "script"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "head", "script"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def _assert_self_contained(page: str) -> None:
    tags = _parse(page).tags
    names = {t for t, _ in tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "image", "use", "base"}, names
    for tag, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)  # no event handlers
            if name in ("src", "href", "xlink:href", "srcset", "poster", "action", "data"):
                assert (value or "").startswith("#"), (tag, name, value)
        if tag == "meta":
            assert {n for n, _ in attrs} <= {"charset", "name", "content"}
    # the raw markup too: inside tags and style sheets (text content, escaped, may say anything)
    markup = re.findall(r"<[a-zA-Z][^>]*>", page) + re.findall(r"<style>(.*?)</style>", page, re.S)
    for chunk in markup:
        for match in _RESOURCE_ATTR.finditer(chunk):
            assert "http" not in match.group(1) and match.group(1).strip("\"'").startswith("#"), match.group(0)
        for match in re.finditer(r"url\(([^)]*)\)", chunk):
            assert "http" not in match.group(1) and match.group(1).strip("\"' ").startswith("#"), match.group(0)
    assert "@import" not in page and "@font-face" not in page


def test_report_is_one_self_contained_file(report: tuple[Path, str]) -> None:
    _, page = report
    assert page.startswith("<!DOCTYPE html>")
    _assert_self_contained(page)
    assert "<style>" in page and page.count("<svg") == 4  # one chain drawn per file


def test_hostile_titles_and_authors_are_escaped(hostile_report: tuple[Path, str]) -> None:
    _, page = hostile_report
    _assert_self_contained(page)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in page
    # and as text, the markup reads as what it is
    visible = _parse(page).visible
    assert IMG_TITLE in visible
    assert SCRIPT_AUTHOR in visible


def test_report_shows_summary_findings_and_what_makes_it_reproducible(report: tuple[Path, str], keys: KeyFiles) -> None:
    _, page = report
    visible = _parse(page).visible
    for text in (
        "Dataset summary",
        "By signer (active manifest)",
        "By license",
        "By AI-training permission",
        "Consent coverage",
        "Findings by code",
        "Harbour Edits Ltd",
        "CC-BY-NC-4.0",
        "CC0-1.0",
        "consent recorded",
        "no identifiable people",
        "Reproducibility",
        f"rightsmark {rightsmark.__version__}",
        str(keys.ca),
        hashlib.sha256(keys.ca.read_bytes()).hexdigest(),
        "ai_training widened from notAllowed to allowed by a different signer",
    ):
        assert text in visible, text


def test_files_with_the_most_serious_findings_come_first(report: tuple[Path, str]) -> None:
    _, page = report
    order = re.findall(r'<section class="file" id="file-(\d+)">', page)
    assert order == ["3", "4", "1", "2"]  # gen3 and gen4 (critical) before the clean gen1 and gen2


# ---------------------------------------------------------------------------------------------
# What a person sees: headless Chromium


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no chromium binary was found: .ci/run installs Debian chromium before the tests")
    pytest.skip("no chromium binary found (Debian: apt-get install chromium); CI installs it and runs this test")


def _browse(html_file: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        *args,
        html_file.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_chromium_renders_the_chain_findings_and_summary(
    report: tuple[Path, str], tmp_path: Path, keys: KeyFiles
) -> None:
    html_file, _ = report
    shot = tmp_path / "audit.png"
    _browse(html_file, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    dom = _browse(html_file, tmp_path, "--dump-dom").stdout
    # the DOM Chromium built: what a reader sees as text
    parsed = _parse(dom)
    visible = parsed.visible
    for code in (
        "permission-widened",
        "consent-dropped",
        "author-changed",
        "license-changed",
        "ancestor-untrusted",
        "manifest-untrusted",
    ):
        assert code in visible, code
    for name in ("gen1.jpg", "gen2.jpg", "gen3.jpg", "gen4.jpg"):
        assert name in visible, name
    for signer_name in ("rightsmark development signer", "Harbour Edits Ltd", "issued by Harbour Edits CA"):
        assert signer_name in visible, signer_name
    for text in ("parentOf", "ACTIVE", "AI training ✓", "AI training ✗", "consent: 1 record (subject-1)"):
        assert text in visible, text
    assert sum(1 for tag, attrs in parsed.tags if tag == "svg" and ("class", "chain") in attrs) == 4
    assert not any(tag == "script" for tag, _ in parsed.tags)
    # the screenshot: the requested size, not blank, and the critical colour is on screen
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 300, "a page of text and graphics has many distinct colours"
    background = {(248, 250, 252), (255, 255, 255)}
    inked = sum(n for n, c in colours if c not in background)
    assert inked > 0.08 * 1280 * 2000, "most of the page is blank"
    critical = tuple(int(SEVERITY_COLOURS["critical"][0][i : i + 2], 16) for i in (1, 3, 5))
    near = sum(n for n, c in colours if all(abs(a - b) <= 3 for a, b in zip(c, critical, strict=True)))
    assert near > 500, f"the critical colour {critical} should be on screen ({near} pixels)"


def test_chromium_shows_hostile_markup_as_text(hostile_report: tuple[Path, str], tmp_path: Path) -> None:
    html_file, _ = hostile_report
    dom = _browse(html_file, tmp_path, "--dump-dom").stdout
    parsed = _parse(dom)
    assert not any(tag in ("script", "img") for tag, _ in parsed.tags)
    assert IMG_TITLE in parsed.visible
    assert SCRIPT_AUTHOR in parsed.visible


# ---------------------------------------------------------------------------------------------
# Every field a file controls stays text, and Jinja2 is loaded for --html only

#: Markup, an attribute break-out, the end of the inline SVG, template syntax, a right-to-left override
#: and control characters: what a hostile file may put in its authors and consent records.
HOSTILE = '<script>alert(1)</script> "onload=alert(2) </svg> {{ 7*7 }} \u202eevil \x1b[31mred\x07'
#: The same in a file name (no "/"), which is also the manifest's title.
HOSTILE_NAME = '"onload=alert(3) <svg>{{ 7*7 }}\u202egpj.\x1b[31m.jpg'
#: How the page must show them: as text, invisible characters made visible.
HOSTILE_SHOWN = '<script>alert(1)</script> "onload=alert(2) </svg> {{ 7*7 }} <U+202E>evil \\x1b[31mred\\x07'
HOSTILE_NAME_SHOWN = '"onload=alert(3) <svg>{{ 7*7 }}<U+202E>gpj.\\x1b[31m.jpg'


class _AllText(HTMLParser):
    """Every piece of text in the body, tooltips (<title>, title="...") included: where a field may land."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style = tag == "style"
        self.parts += [value or "" for name, value in attrs if name == "title"]

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if not self._style:
            self.parts.append(data)


def _all_text(page: str) -> str:
    parser = _AllText()
    parser.feed(page)
    parser.close()
    return "\n".join(parser.parts)


@pytest.fixture(scope="module")
def hostile_fields_report(
    tmp_path_factory: pytest.TempPathFactory, material: SigningMaterial, keys: KeyFiles
) -> tuple[Path, str]:
    """Two generations: the first named HOSTILE_NAME, with HOSTILE as author and as a consent record's
    reference; the second an edit of it by a plain author (so findings quote the first's fields)."""
    root = tmp_path_factory.mktemp("fields")
    consent = root / "consent.json"
    subject = {"ref": HOSTILE, "release_id": "MR-1", "purposes": {"ai_training": "notAllowed"}}
    consent.write_text(json.dumps({"subjects": [{**subject, "commercial": False, "granted": "2026-01-01"}]}))
    source, first, second = root / HOSTILE_NAME, root / "signed" / HOSTILE_NAME, root / "signed" / f"2{HOSTILE_NAME}"
    shutil.copyfile(EXAMPLE_IMAGES / "harbour.jpg", source)  # the manifest's title is the source's name
    with Signer(material, xmp=False) as signer:  # XMP cannot carry control characters; a manifest can
        signer.sign_file(source, first, people_rights(load_consent_file(consent), authors=(HOSTILE,)))
        signer.sign_file(edit(first, root / "work" / "edit.jpg", 1), second, open_rights(), parent=first)
    out = root / "fields.html"
    page, audits = _render([first, second], keys, out)
    assert audits[0].nodes[0].title == HOSTILE_NAME
    assert any(f.code == "author-changed" for f in audits[1].findings)
    return out, page


def test_hostile_fields_and_file_names_stay_text(hostile_fields_report: tuple[Path, str]) -> None:
    _, page = hostile_fields_report
    _assert_self_contained(page)  # no script, no event handler, nothing fetched
    assert page.count("<svg") == page.count("</svg>") == 2  # a field's </svg> or <svg> opens or closes nothing
    assert "<script" not in page and '"onload=' not in page
    for raw in ("\u202e", "\x1b", "\x07"):
        assert raw not in page, repr(raw)
    text = _all_text(page)
    assert HOSTILE_NAME_SHOWN in _parse(page).visible  # the file's name, in full, as text a reader sees
    assert HOSTILE_SHOWN in text  # the author and the consent reference (in full at least in a tooltip)
    assert f"author: {HOSTILE_SHOWN}" in text and f"consent: 1 record ({HOSTILE_SHOWN})" in text
    assert "{{ 7*7 }}" in _parse(page).visible  # data is never evaluated as a template


_PROBE = """
import sys
from rightsmark._cli import main

loaded_before = "jinja2" in sys.modules
sys.argv = ["rightsmark", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
sys.stderr.write(f"\\njinja2 {loaded_before} {'jinja2' in sys.modules}\\n")
"""


def test_jinja2_is_imported_for_html_reports_only(tmp_path: Path, signer: Signer, keys: KeyFiles) -> None:
    photo = tmp_path / "photo.jpg"
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", photo, open_rights())
    here = str(Path(rightsmark.__file__).resolve().parents[1])  # the package under test, whatever the cwd
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}

    def jinja2_loaded(*args: str | Path) -> tuple[bool, bool]:
        """(after importing the CLI, after running the command)"""
        command = [sys.executable, "-c", _PROBE, *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        last = result.stderr.strip().splitlines()[-1].split()
        assert last[0] == "jinja2", result.stderr[-2000:]
        return last[1] == "True", last[2] == "True"

    assert jinja2_loaded("--help") == (False, False)
    assert jinja2_loaded("verify", photo) == (False, False)
    assert jinja2_loaded("audit", "-q", photo, "--trust", keys.ca, "--json", tmp_path / "a.json") == (False, False)
    assert (tmp_path / "a.json").is_file()
    assert jinja2_loaded("audit", "-q", photo, "--trust", keys.ca, "--html", tmp_path / "a.html") == (False, True)
    assert (tmp_path / "a.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_chromium_keeps_hostile_fields_inert(hostile_fields_report: tuple[Path, str], tmp_path: Path) -> None:
    html_file, _ = hostile_fields_report
    parsed = _parse(_browse(html_file, tmp_path, "--dump-dom").stdout)
    assert not any(tag == "script" for tag, _ in parsed.tags)
    assert sum(1 for tag, _ in parsed.tags if tag == "svg") == 2
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name, _ in attrs)
    assert HOSTILE_NAME_SHOWN in parsed.visible and "{{ 7*7 }}" in parsed.visible
