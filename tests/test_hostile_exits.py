"""Hostile input at scale: every failure is one line naming the file and a documented exit code.

Deeply nested or huge-number user documents (policy, profile, consent file, consent map,
withdrawal list and its signature) exit 2; a withdrawal list is parsed only once its signature
checks out; a closed stdout exits 141 quietly; a full disk under ``-o`` names the report and
keeps it for ``--resume`` or removes it; temporaries a killed run left beside outputs are swept.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import SigningMaterial
from rightsmark.verify.withdrawals import sign_detached, signature_path

from .conftest import EXAMPLE_IMAGES, CliResult, small_tmpfs

Cli = Callable[..., CliResult]

DEEP = 100_000


def key_args(keys: KeyFiles) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain)]


def sign_args(keys: KeyFiles) -> list[str]:
    return [*key_args(keys), "--author", "Jane Doe", "--license", "CC-BY-4.0", "--ai-training", "allowed"]


def deep_json(inner: str = "") -> str:
    return "[" * DEEP + inner + "]" * DEEP


def photo(tmp_path: Path, name: str = "photo.jpg") -> Path:
    dest = tmp_path / name
    shutil.copyfile(EXAMPLE_IMAGES / "harbour.jpg", dest)
    return dest


def assert_one_line(result: CliResult, code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rightsmark:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# ---------------------------------------------------------------------------------------------
# Item 4: nesting and huge integers in user documents


@pytest.mark.parametrize(
    ("name", "content", "args"),
    [
        ("policy.toml", f"purpose = {deep_json()}\n", ["verify", "--policy", "{doc}", "{photo}"]),
        ("policy.json", deep_json(), ["verify", "--policy", "{doc}", "{photo}"]),
        ("profile.toml", f"x = {deep_json()}\n", ["sign", "--profile", "{doc}", "{photo}", "-o", "out", "{keys}"]),
        ("consent.json", deep_json(), ["sign", "--consent", "{doc}", "{photo}", "-o", "out", "{keys}"]),
        (
            "consent.json",
            '{"identifiable_people": true, "subjects": [{"ref": ' + "9" * 5000 + "}]}",
            ["sign", "--consent", "{doc}", "{photo}", "-o", "out", "{keys}"],
        ),
        (
            "map.json",
            '{"entries": ' + deep_json() + "}",
            ["sign", "--consent-map", "{doc}", "{photo}", "-o", "out", "{keys}"],
        ),
        ("policy.toml", "purpose = " + "9" * 5000 + "\n", ["verify", "--policy", "{doc}", "{photo}"]),
        # under the interpreter's recursion limit, but deep enough to exhaust it in schema validation
        ("consent.json", "[" * 900 + "]" * 900, ["sign", "--consent", "{doc}", "{photo}", "-o", "out", "{keys}"]),
    ],
    ids=[
        "policy-toml",
        "policy-json",
        "profile",
        "consent-deep",
        "consent-bigint",
        "consent-map",
        "toml-bigint",
        "consent-900-levels",
    ],
)
def test_hostile_documents_exit_2_naming_the_file(
    cli: Cli, tmp_path: Path, keys: KeyFiles, name: str, content: str, args: list[str]
) -> None:
    doc = tmp_path / name
    doc.write_text(content)
    image = photo(tmp_path)
    argv: list[str] = []
    for a in args:
        if a == "{keys}":
            argv += sign_args(keys)
        else:
            argv.append(a.format(doc=doc, photo=image))
    result = cli(*argv)
    assert_one_line(result, 2, name, "not usable")


def _write_signed(path: Path, content: bytes, material: SigningMaterial) -> None:
    path.write_bytes(content)
    signature_path(path).write_text(json.dumps(sign_detached(content, material)))


def test_a_deep_signed_withdrawal_list_exits_2(
    cli: Cli, tmp_path: Path, keys: KeyFiles, material: SigningMaterial
) -> None:
    listed = tmp_path / "withdrawals.json"
    _write_signed(listed, ('{"version": 1, "withdrawn": ' + deep_json() + "}").encode(), material)
    result = cli("verify", photo(tmp_path), "--trust", keys.ca, "--withdrawals", listed)
    assert_one_line(result, 2, "withdrawals.json", "nested more than")


def test_a_deep_withdrawal_signature_exits_2(
    cli: Cli, tmp_path: Path, keys: KeyFiles, material: SigningMaterial
) -> None:
    listed = tmp_path / "withdrawals.json"
    _write_signed(
        listed, b'{"version": 1, "issuer": "x", "updated": "2026-01-01T00:00:00Z", "withdrawn": []}', material
    )
    signature_path(listed).write_text('{"chain": ' + deep_json() + "}")
    result = cli("verify", photo(tmp_path), "--trust", keys.ca, "--withdrawals", listed)
    assert_one_line(result, 2, "withdrawals.json", "withdrawals.json.sig", "not a rightsmark detached signature")


@pytest.mark.parametrize("how", ["unsigned", "edited"])
def test_a_withdrawal_list_is_parsed_only_after_its_signature_checks_out(
    cli: Cli, tmp_path: Path, keys: KeyFiles, material: SigningMaterial, how: str
) -> None:
    listed = tmp_path / "withdrawals.json"
    garbage = b"{not json" + b"[" * DEEP
    if how == "unsigned":
        listed.write_bytes(garbage)
        expected = "unsigned"
    else:
        _write_signed(listed, b'{"version": 1}', material)
        listed.write_bytes(garbage)
        expected = "does not verify"
    result = cli("verify", photo(tmp_path), "--trust", keys.ca, "--withdrawals", listed)
    assert_one_line(result, 2, "withdrawals.json", expected)
    assert "JSON" not in result.stderr  # never read as JSON before the signature checked out


# ---------------------------------------------------------------------------------------------
# Item 4: a closed stdout (`rightsmark verify ... | head -1`)


@pytest.mark.parametrize(
    "args", [["verify", "{photo}", "{photo2}"], ["verify", "--format", "jsonl", "{photo}"], ["verify", "--help"]]
)
def test_a_closed_stdout_exits_141_quietly(tmp_path: Path, args: list[str]) -> None:
    image, image2 = photo(tmp_path), photo(tmp_path, "second.jpg")
    argv = [a.format(photo=image, photo2=image2) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
    env["RIGHTSMARK_CACHE_DIR"] = str(tmp_path / ".cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rightsmark", *argv],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader has gone before the first line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""


# ---------------------------------------------------------------------------------------------
# Item 4: -o on a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount permission; skipped otherwise)."""
    with small_tmpfs(tmp_path / "small", "64k") as where:
        yield where


def fill(disk: Path, leave_pages: int) -> Path:
    """Fill the 64 KiB tmpfs so that ``leave_pages`` pages of 4 KiB stay free."""
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (65536 - 4096 * leave_pages))
    return filler


@pytest.fixture
def forty(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(40):
        photo(folder, f"p{i:02}.jpg")
    return folder


def test_a_full_disk_keeps_a_resumable_report_for_resume(cli: Cli, small_disk: Path, forty: Path) -> None:
    filler = fill(small_disk, 3)  # the description takes one page, two for the report: some 13 records of 40
    report = small_disk / "report.jsonl"
    result = cli("verify", "-q", "--jobs", "1", "-o", report, forty)
    assert_one_line(result, 2, str(report), "cannot write the report", "--resume")
    lines = report.read_text().splitlines()
    assert 0 < len(lines) < 40
    assert all(json.loads(line)["path"] for line in lines)  # whole records only
    filler.unlink()
    again = cli("verify", "-q", "--jobs", "1", "-o", report, "--resume", forty)
    assert again.returncode == 1, again.stderr  # unsigned files are dropped
    paths = [json.loads(line)["path"] for line in report.read_text().splitlines()]
    assert len(paths) == 40 == len(set(paths))


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "json", "txt", "parquet"])
def test_a_full_disk_leaves_no_empty_report(cli: Cli, small_disk: Path, forty: Path, suffix: str) -> None:
    fill(small_disk, 1)  # room for the description only
    report = small_disk / f"report.{suffix}"
    result = cli("verify", "-q", "--jobs", "1", "-o", report, forty)
    assert_one_line(result, 2, str(report), "cannot write the report", "removed")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


# ---------------------------------------------------------------------------------------------
# Item 5: temporaries a killed run left behind


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def stale_and_lookalikes(folder: Path, name: str) -> tuple[list[Path], list[Path]]:
    pid = dead_pid()
    stale = [folder / f".{name}.{pid}.abc_1234.part", folder / f".{name}.{pid}.zz9xk0qq.part"]
    keep = [
        folder / f".{name}.part.bak",
        folder / f"{name}.{pid}.abc_1234.part",  # not hidden
        folder / f".{name}.{pid}.abc1234.part",  # 7 random characters
        folder / f".{name}.{pid}.abc_1234.partial",
        folder / f".{name}.{os.getpid()}.abc_1234.part",  # a live process's
        folder / f".notes.{pid}.ABCD1234.part",  # upper case: not mkstemp's
    ]
    for p in stale + keep:
        p.write_bytes(b"x")
    return stale, keep


def test_a_batch_sweeps_the_temporaries_a_killed_run_left(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        photo(photos, name)
    out = tmp_path / "out"
    out.mkdir()
    stale, keep = stale_and_lookalikes(out, "a.jpg")
    result = cli("sign", photos, "-o", out, *sign_args(keys), "--no-people")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert {p.name for p in out.iterdir()} - {p.name for p in keep} == {"a.jpg", "b.jpg", "c.jpg"}


def test_verify_sweeps_the_temporaries_beside_its_report(cli: Cli, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    stale, keep = stale_and_lookalikes(reports, "report.parquet")
    legacy = [reports / ".report.parquet.part", reports / ".report.parquet.meta.json.part"]
    for p in legacy:
        p.write_bytes(b"x")
    result = cli("verify", "-q", "-o", reports / "report.parquet", photo(tmp_path))
    assert result.returncode == 1, result.stderr  # an unsigned file is dropped
    assert not any(p.exists() for p in stale + legacy)
    assert all(p.exists() for p in keep)
    rest = {p.name for p in reports.iterdir()} - {p.name for p in keep}
    assert rest == {"report.parquet", "report.parquet.meta.json"}
    assert oct(os.stat(reports / "report.parquet.meta.json").st_mode & 0o777) != oct(0o600)


def test_audit_reports_are_written_atomically_and_sweep_beside_them(cli: Cli, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    stale, keep = stale_and_lookalikes(reports, "audit.json")
    result = cli("audit", "-q", photo(tmp_path), "--json", reports / "audit.json", "--html", reports / "audit.html")
    assert result.returncode == 1, result.stderr  # an unsigned file is a serious finding
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert {p.name for p in reports.iterdir()} - {p.name for p in keep} == {"audit.json", "audit.html"}
    assert json.loads((reports / "audit.json").read_text())["files"]


def _kill_while_writing(argv: list[str], cwd: Path, env: dict[str, str], out: Path) -> list[Path]:
    """Start ``argv``, SIGKILL it as soon as a temporary appears in ``out``; the temporaries left."""
    import time

    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and any(out.glob(".*.part")):
                proc.kill()
                break
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    return [p for p in out.iterdir() if p.name.endswith(".part")] if out.is_dir() else []


def test_a_killed_signing_run_leaves_nothing_after_a_rerun(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    """SIGKILL a real batch mid-way (large images), then run it again: no temporary stays."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        Image.effect_noise((4000, 3000), 64 + i).convert("RGB").save(photos / f"big{i}.jpg", quality=95)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
    env["RIGHTSMARK_CACHE_DIR"] = str(tmp_path / ".cache")
    argv = [sys.executable, "-m", "rightsmark", "sign", str(photos), "-o", str(out), *sign_args(keys), "--no-people"]
    left: list[Path] = []
    for _attempt in range(5):  # the kill must land while a temporary exists: try again if it did not
        left = _kill_while_writing([*argv, "--jobs", "1"], tmp_path, env, out)
        if left:
            break
    if not left:
        pytest.skip("no kill landed while a temporary existed (the machine is too fast or too busy)")
    again = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"big{i}.jpg" for i in range(4)]


@pytest.mark.parametrize(
    ("suffix", "content", "line"),
    [("jsonl", '{"path": "a", "decision"\n', 1), ("jsonl", '{"a": 1}\n[[[[1]]]]\n', 1), ("csv", "a,b\n1,2\n", 2)],
)
def test_resuming_a_report_that_is_not_ours_exits_2(
    cli: Cli, tmp_path: Path, suffix: str, content: str, line: int
) -> None:
    report = tmp_path / f"report.{suffix}"
    report.write_text(content)
    result = cli("verify", "-q", "-o", report, "--resume", photo(tmp_path))
    assert_one_line(result, 2, str(report), f"line {line} is not a record", "without --resume")
    assert report.read_text() == content


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [["verify", "{photo}"], ["verify", "--format", "jsonl", "{photo}"], ["--help"]])
def test_standard_output_on_a_full_disk_exits_2(tmp_path: Path, args: list[str]) -> None:
    argv = [a.format(photo=photo(tmp_path)) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
    env["RIGHTSMARK_CACHE_DIR"] = str(tmp_path / ".cache")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "rightsmark", *argv], cwd=tmp_path, env=env, stdout=full, stderr=subprocess.PIPE
        )
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "No space left on device" in stderr, stderr
    assert "internal error" not in stderr and "Exception ignored" not in stderr
