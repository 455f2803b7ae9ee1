"""Hostile text and hostile file systems: what files say never steers the terminal or the HTML report,
messages name the file and what to do, a full disk stops the run cleanly, symlinks are handled on purpose.

Every test runs the real CLI (a subprocess) on files signed for real.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rightsmark.keys.devca import KeyFiles

from .conftest import EXAMPLE_IMAGES, small_tmpfs

ANSI = "\x1b[2J\x1b[H"
RLO = "\u202e"


def key_args(keys: KeyFiles) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain)]


def sign_args(keys: KeyFiles, *extra: str) -> list[str]:
    return [*key_args(keys), "--no-people", "--license", "CC-BY-4.0", *extra]


def photo(dest: Path, name: str = "harbour.jpg") -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE_IMAGES / name, dest)
    return dest


def no_raw_controls(text: str) -> bool:
    """No control character other than newline reaches the terminal (and no line/paragraph separator)."""
    return not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in text)


def assert_clean(result: Any) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert no_raw_controls(result.stdout), repr(result.stdout)
    assert no_raw_controls(result.stderr), repr(result.stderr)


@pytest.fixture
def hostile_signed(tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles) -> Path:
    """A file signed with an author carrying ANSI escapes, a line separator and a right-to-left override."""
    photo(tmp_path / "in" / "photo.jpg")
    author = f"{ANSI}Eve\u2028x{RLO}gpj.exe"
    result = cli("sign", "in/photo.jpg", "-o", "out", *sign_args(keys, "--author", author, "--no-xmp"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "out" / "photo.jpg"


# ---------------------------------------------------------------------------------------------
# 6. terminal and HTML output


def test_verify_text_report_escapes_control_characters_from_the_file(
    hostile_signed: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    result = cli("verify", hostile_signed, "--trust", keys.ca)
    assert_clean(result)
    assert "\\x1b[2J\\x1b[HEve\\u2028x" in result.stdout


def test_inspect_and_audit_text_escape_control_characters(
    hostile_signed: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    for args in (("inspect", hostile_signed), ("audit", hostile_signed)):
        result = cli(*args, "--trust", keys.ca)
        assert_clean(result)
        assert "\\x1b[2J" in result.stdout, (args, result.stdout)


def test_file_name_with_newline_and_escape_stays_on_one_line(
    tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    name = "evil\nDROP\x1b[31m.jpg"
    photo(tmp_path / "in" / name)
    signed = cli("sign", "in", "-o", "out", *sign_args(keys, "--author", "Jane"))
    assert signed.returncode == 0, signed.stderr
    assert_clean(signed)
    assert "signed in/evil\\x0aDROP\\x1b[31m.jpg -> out/evil\\x0aDROP\\x1b[31m.jpg" in signed.stdout
    verified = cli("verify", "out", "--trust", keys.ca)
    assert_clean(verified)
    # the name stays on its record's first line, escaped (verify may also refuse such a name: either is safe)
    first = verified.stdout.splitlines()[0]
    assert first.split()[0] in {"KEEP", "DROP"} and "out/evil\\" in first and "DROP\\x1b[31m.jpg" in first, first


def test_sign_error_line_escapes_the_file_name(tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles) -> None:
    bad = tmp_path / "in" / "broken\x1b]0;pwned\x07.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = cli("sign", bad, "-o", "out", *sign_args(keys))
    assert result.returncode == 1
    assert_clean(result)
    assert "broken\\x1b]0;pwned\\x07.jpg" in result.stderr


def test_html_report_makes_bidi_overrides_and_zero_width_characters_visible(
    hostile_signed: Path, tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    renamed = hostile_signed.with_name(f"in{RLO}voice\u200b.jpg")
    hostile_signed.rename(renamed)
    result = cli("audit", renamed, "--trust", keys.ca, "--html", "report.html")
    assert "Traceback" not in result.stderr
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for char in (RLO, "\u200b", "\x1b", "\u2028"):
        assert char not in html, repr(char)
    assert "in&lt;U+202E&gt;voice&lt;U+200B&gt;.jpg" in html
    assert "\\x1b[2J" in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd", "ftp://x.org"])
def test_author_url_must_be_http_or_https(tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles, url: str) -> None:
    photo(tmp_path / "photo.jpg")
    result = cli("sign", "photo.jpg", "-o", "out", *sign_args(keys, "--author-url", url))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--author-url" in lines[0] and "http" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_author_url_in_a_profile_must_be_http_or_https(tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles) -> None:
    photo(tmp_path / "photo.jpg")
    (tmp_path / "p.toml").write_text('[author]\nnames = ["Jane"]\nurl = "javascript:alert(1)"\n')
    result = cli("sign", "photo.jpg", "-o", "out", "--profile", "p.toml", *sign_args(keys))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rightsmark: p.toml: ") and "http" in lines[0], result.stderr
    ok = cli("sign", "photo.jpg", "-o", "out", *sign_args(keys, "--author-url", "https://example.com/jane"))
    assert ok.returncode == 0, ok.stderr


# ---------------------------------------------------------------------------------------------
# 7. notes name the file; a full disk


def test_sign_note_names_the_file(tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles) -> None:
    photo(tmp_path / "in" / "sketch.gif", "sketch.gif")
    photo(tmp_path / "in" / "harbour.jpg")
    result = cli("sign", "in", "-o", "out", *sign_args(keys, "--author", "Jane"))
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "in/sketch.gif: XMP not written" in notes[0], result.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs (needs root; skipped where mounting is not allowed)."""
    with small_tmpfs(tmp_path / "small", "200k") as where:
        yield where


def test_full_disk_stops_with_one_clear_line_and_no_partial_output(
    tmp_path: Path, small_disk: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    src = tmp_path / "in"
    for i in range(12):  # 12 x ~100 KiB: the first one fits, the disk fills on the second
        photo(src / f"studio{i:02}.tiff", "studio.tiff")
    out = small_disk / "out"
    result = cli("sign", src, "-o", out, *sign_args(keys, "--author", "Jane", "--jobs", "1"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "UntrackedPointer" not in result.stderr
    full = [line for line in result.stderr.splitlines() if "no space left" in line]
    assert len(full) == 1, result.stderr
    assert full[0] == (
        f"rightsmark: no space left on the device holding {out}: free some space and run again"
        " (signed files already written are kept; the re-run skips them)"
    )
    left = sorted(p.name for p in out.rglob("*"))
    assert not [n for n in left if n.startswith(".") or n.endswith(".part")], left
    reference = (src / "studio00.tiff").stat().st_size
    written = [out / n for n in left]
    assert written, "the first file fits"
    for f in written:  # whole signed files only
        assert f.stat().st_size > reference
        assert cli("verify", f, "--trust", keys.ca, "--format", "jsonl").jsonl()[0]["integrity"] == "valid"
    assert sorted(p.name for p in src.iterdir()) == [f"studio{i:02}.tiff" for i in range(12)]


# ---------------------------------------------------------------------------------------------
# 8. symlinks


def test_in_place_on_a_symlink_signs_its_target_and_keeps_the_link(
    tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    target = photo(tmp_path / "library" / "harbour.jpg")
    original = target.read_bytes()
    link = tmp_path / "album" / "harbour.jpg"
    link.parent.mkdir()
    link.symlink_to(target)
    result = cli("sign", link, "--in-place", *sign_args(keys, "--author", "Jane"))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != original
    assert "is a symlink: its target" in result.stderr and str(target) in result.stderr
    verified = cli("verify", target, "--trust", keys.ca, "--format", "jsonl").jsonl()[0]
    assert verified["integrity"] == "valid"


def test_folder_symlink_leading_outside_the_folder_is_not_followed(
    tmp_path: Path, cli: Callable[..., Any], keys: KeyFiles
) -> None:
    secret = photo(tmp_path / "private" / "secret.jpg")
    inside = photo(tmp_path / "shoot" / "a.jpg")
    (tmp_path / "shoot" / "outside.jpg").symlink_to(secret)
    (tmp_path / "shoot" / "inside.jpg").symlink_to(inside)
    result = cli("sign", "shoot", "-o", "out", *sign_args(keys, "--author", "Jane"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "inside.jpg"]
    line = next(ln for ln in result.stdout.splitlines() if "outside.jpg" in ln)
    assert line.startswith("skipped shoot/outside.jpg (a symlink to ") and "not followed" in line
    assert str(secret) in line

    before = secret.read_bytes()
    in_place = cli("sign", "shoot", "--in-place", *sign_args(keys, "--author", "Jane"))
    assert in_place.returncode == 0, in_place.stderr
    assert secret.read_bytes() == before, "a file outside the folder was modified"
    assert (tmp_path / "shoot" / "outside.jpg").is_symlink() and (tmp_path / "shoot" / "inside.jpg").is_symlink()
    assert "skipped shoot/outside.jpg" in in_place.stdout
