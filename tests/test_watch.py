"""rightsmark watch: files are signed once completely written, never half-written ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rightsmark.keys.devca import KeyFiles
from rightsmark.sign.watch import Watcher

from .test_export import photo


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_file_is_ready_only_when_stable_and_complete(tmp_path: Path) -> None:
    clock = Clock()
    watcher = Watcher(tmp_path, settle=2.0, clock=clock)
    whole = photo(tmp_path / "src.jpg", 1).read_bytes()
    (tmp_path / "src.jpg").unlink()
    target = tmp_path / "sub" / "a.jpg"
    target.parent.mkdir()
    target.write_bytes(whole[: len(whole) // 2])  # the exporter is still writing
    (tmp_path / ".a.jpg.tmp").write_bytes(whole)  # temporary names are never taken
    (tmp_path / "b.jpg.part").write_bytes(whole)
    assert watcher.poll() == []
    clock.now = 10.0
    assert watcher.poll() == []  # stable for long enough, but the JPEG is not complete
    with target.open("ab") as fh:
        fh.write(whole[len(whole) // 2 :])
    clock.now = 11.0
    assert watcher.poll() == []  # just changed: not settled yet
    clock.now = 12.5
    assert watcher.poll() == []
    clock.now = 13.1
    assert watcher.poll() == [target]
    clock.now = 20.0
    assert watcher.poll() == []  # handed over once
    target.write_bytes(photo(tmp_path / "other.jpg", 2).read_bytes())  # re-exported later
    (tmp_path / "other.jpg").unlink()
    clock.now = 21.0
    watcher.poll()
    clock.now = 23.5
    assert watcher.poll() == [target]


def test_watch_signs_files_as_they_are_exported(tmp_path: Path, keys: KeyFiles) -> None:
    export, signed = tmp_path / "export", tmp_path / "signed"
    export.mkdir()
    photo(export / "before.jpg", 1)  # already there when watching starts
    env = {**os.environ, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "rightsmark", "watch", str(export), "-o", str(signed), "--key", str(keys.key),
           "--cert", str(keys.chain), "--no-people", "--settle", "0.6", "--interval", "0.1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (signed / "before.jpg").exists():
            time.sleep(0.05)
        assert (signed / "before.jpg").exists()
        whole = photo(tmp_path / "late.jpg", 2, size=(800, 600)).read_bytes()
        (export / "day2").mkdir()
        with (export / "day2" / "late.jpg").open("wb") as fh:  # a slow exporter: half, a pause, the rest
            fh.write(whole[:5000])
            fh.flush()
            time.sleep(1.5)  # longer than --settle: only the structure check keeps it from being signed
            assert not (signed / "day2" / "late.jpg").exists()
            fh.write(whole[5000:])
        while time.monotonic() < deadline and not (signed / "day2" / "late.jpg").exists():
            time.sleep(0.05)
        assert (signed / "day2" / "late.jpg").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "2 signed, 0 failed" in err and "Traceback" not in err
    verify = subprocess.run(
        [sys.executable, "-m", "rightsmark", "verify", str(signed), "--trust", str(keys.ca), "--format", "jsonl",
         "--keep-unsigned"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    records = [json.loads(line) for line in verify.stdout.splitlines()]
    assert len(records) == 2 and all(r["integrity"] == "valid" and r["trust"] == "trusted" for r in records)


def test_watch_once_signs_what_is_there_and_exits(cli, tmp_path: Path, keys: KeyFiles) -> None:  # type: ignore[no-untyped-def]
    photo(tmp_path / "export" / "a.jpg", 1)
    photo(tmp_path / "export" / "b.jpg", 2)
    args = ("watch", "export", "-o", "signed", "--key", keys.key, "--cert", keys.chain, "--no-people",
            "--settle", "0.2", "--interval", "0.1", "--once")  # fmt: skip
    first = cli(*args)
    assert first.returncode == 0 and "2 signed, 0 failed" in first.stderr, first.stderr
    again = cli(*args)
    assert again.returncode == 0 and "0 signed, 2 skipped" in again.stderr, again.stderr
    inside = cli("watch", "export", "-o", "export/signed", "--key", keys.key, "--cert", keys.chain, "--no-people")
    assert inside.returncode == 2 and "inside the watched folder" in inside.stderr


def test_watch_folder_yields_each_file_once_and_stops_when_told(tmp_path: Path, keys: KeyFiles) -> None:
    import threading

    from rightsmark.keys.source import key_source
    from rightsmark.rights.profile import Profile
    from rightsmark.sign.run import ExportRun
    from rightsmark.sign.watch import watch_folder

    export, signed = tmp_path / "export", tmp_path / "signed"
    photo(export / "a.jpg", 1)
    photo(export / "day2" / "b.jpg", 2)
    (export / "notes.txt").write_text("not a picture")
    settings = Profile(key=str(keys.key), cert=keys.chain, no_people=True)
    source = key_source(keys.key, keys.chain)
    stop = threading.Event()
    with ExportRun(settings, source, jobs=1, journal_path=tmp_path / "journal.sqlite") as run:
        outcomes = list(watch_folder(run, export, signed, stop=stop, settle=0.1, interval=0.02, once=True))
        assert sorted((o.status, Path(o.source).relative_to(export).as_posix()) for o in outcomes) == [
            ("signed", "a.jpg"),
            ("signed", "day2/b.jpg"),
            ("skipped", "notes.txt"),  # not an image: said once, as the CLI counts it
        ]
        assert (signed / "day2" / "b.jpg").is_file()
        stop.set()  # a stop already asked for: nothing is looked at or signed
        photo(export / "c.jpg", 3)
        assert list(watch_folder(run, export, signed, stop=stop, settle=0.0, interval=0.02)) == []
    assert not (signed / "c.jpg").exists()
