"""The coordinating process of a bulk run does no per-item work: workers read, judge and encode.

What a user relies on: a report (each format), a keep list (each form) and the summary are the same
with one job or several, and the coordinator never opens an item (so many cores are the limit, not it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from rightsmark.keys.devca import KeyFiles
from rightsmark.sign.signer import Signer
from rightsmark.verify.bulk import MAX_ITEMS, BulkVerifier
from rightsmark.verify.policy import Policy
from rightsmark.verify.worker import ChunkStats

from .conftest import CliResult
from .test_bulk import make_mixed, tiny_image

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    """The mixed folder of test_bulk (signed, tampered, truncated, garbage, empty, non-image files), plus
    60 unsigned JPEGs so chunks of several items form, and an image with a sidecar declaring an opt-out."""
    data = make_mixed(tmp_path_factory.mktemp("coordinator"), signer)
    for i in range(60):
        tiny_image(data / "many" / f"m{i:02d}.jpg", i)
    tiny_image(data / "side.jpg", 99)
    (data / "side.json").write_text(json.dumps({"headers": {"X-Robots-Tag": "noai"}}), encoding="utf-8")
    return data


def _run(cli: Cli, folder: Path, keys: KeyFiles, jobs: int, out: Path, *extra: str) -> CliResult:
    return cli("verify", folder, "--trust", keys.ca, "-o", out, "-j", str(jobs), *extra)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json", "txt"])
@pytest.mark.parametrize("form", ["key", "sample"])
def test_reports_keep_lists_and_summaries_are_the_same_with_one_job_or_two(
    cli: Cli, folder: Path, keys: KeyFiles, tmp_path: Path, fmt: str, form: str
) -> None:
    results = {}
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}" / f"report.{fmt}"
        out.parent.mkdir()
        keep = out.parent / "keep.txt"
        result = _run(cli, folder, keys, jobs, out, "--keep-list", str(keep), "--keep-list-form", form)
        assert result.returncode == 1, result.stderr  # some files are dropped
        summary = [line for line in result.stderr.splitlines() if not line.startswith("verified ")]
        results[jobs] = (out.read_bytes(), keep.read_bytes(), summary)
    assert results[1] == results[2]
    report, keep_list, summary = results[2]
    assert report.count(b"m59.jpg") == 1 and b"side.jpg" in report
    assert keep_list  # the unsigned files are dropped, the signed open one is kept
    assert any("drop reasons" in line for line in summary)
    assert any("declared signals: " in line for line in summary)


def test_parquet_reports_are_the_same_with_one_job_or_two(
    cli: Cli, folder: Path, keys: KeyFiles, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    tables = []
    for jobs in (1, 2):
        out = tmp_path / f"r{jobs}.parquet"
        assert _run(cli, folder, keys, jobs, out).returncode == 1
        tables.append(pq.read_table(out))
    assert tables[0].equals(tables[1])
    assert tables[0].num_rows == len([p for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"]) - 1


def test_errors_reach_the_terminal_once_each_whoever_read_them(
    cli: Cli, folder: Path, keys: KeyFiles, tmp_path: Path
) -> None:
    result = _run(cli, folder, keys, 2, tmp_path / "r.jsonl")
    errors = [line for line in result.stderr.splitlines() if line.startswith("rightsmark: ")]
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(errors) == sorted(
        f"rightsmark: {r['path']}: {r['error']}" for r in records if r["integrity"] == "error"
    )
    assert any("j-empty.jpg: file is empty" in line for line in errors)


OPENS = textwrap.dedent(
    """
    import json, os, sys
    main_pid = os.getpid()
    folder = sys.argv[1]
    opened = []

    def hook(event, args):
        if event == "open" and os.getpid() == main_pid and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            if path.startswith(folder) and os.path.isfile(path):
                opened.append(path)

    sys.addaudithook(hook)
    from rightsmark._cli import main
    sys.argv = ["rightsmark", "verify", folder, *sys.argv[2:]]
    try:
        main()
    except SystemExit:
        pass
    print(json.dumps(opened))
    """
)


def test_the_coordinator_opens_no_item(folder: Path, keys: KeyFiles, tmp_path: Path) -> None:
    """Every image and every JSON sidecar is read by a worker; the coordinating process only lists the folder."""
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", OPENS, str(folder), "--trust", str(keys.ca), "-o", str(out), "-j", "2", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    opened = json.loads(proc.stdout.splitlines()[-1])
    assert opened == []
    assert len(out.read_text().splitlines()) > 60  # and yet every image has its record
    # the hook does see opens: with one job this process reads every image and sidecar itself
    control = subprocess.run(
        [sys.executable, "-c", OPENS, str(folder), "--trust", str(keys.ca), "-o", str(out), "-j", "1", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seen = {os.path.basename(p) for p in json.loads(control.stdout.splitlines()[-1])}
    assert {"a-signed.jpg", "f-unsigned.jpg", "side.json"} <= seen


def test_chunks_follow_what_items_cost() -> None:
    """A 12 MP image travels alone (a worker each, to the end of the run); small unsigned files travel many
    to a chunk (one round trip for many items); before any cost is known, items go one by one."""
    with BulkVerifier(Policy(), jobs=2) as bulk:
        assert bulk._chunk_size() == 1
        bulk._account(ChunkStats(items=4, seconds=0.6))  # 150 ms an item
        assert bulk._chunk_size() == 1
        for _ in range(40):
            bulk._account(ChunkStats(items=100, seconds=0.01))  # 100 µs an item
        assert bulk._chunk_size() == MAX_ITEMS
        bulk._account(ChunkStats(items=10, seconds=0.03))  # signed small files come along: 3 ms an item
        assert 1 < bulk._chunk_size() < MAX_ITEMS


FORKS = textwrap.dedent(
    """
    import json, os, sys
    main_pid = os.getpid()
    forks = []
    def hook(event, args):
        if event == "os.fork" and os.getpid() == main_pid:
            forks.append(event)

    sys.addaudithook(hook)
    from rightsmark._cli import main
    sys.argv = ["rightsmark", "verify", *sys.argv[1:]]
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    print(json.dumps([len(forks), code]))
    """
)


def test_one_file_without_a_manifest_is_judged_without_starting_workers(
    folder: Path, keys: KeyFiles, tmp_path: Path
) -> None:
    """`rightsmark verify photo.jpg` starts no pool when the file needs no engine (it would cost more than the
    file); a file the engine must read goes to a worker, so that an engine crash on it is an error record,
    never the end of the run; two files start the pool."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def forks(*args: str) -> list[int]:
        command = [sys.executable, "-c", FORKS, *args, "--trust", str(keys.ca), "-j", "2", "-q", "-f", "jsonl"]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        return list(json.loads(proc.stdout.splitlines()[-1]))

    assert forks(str(folder / "f-unsigned.jpg")) == [0, 1]
    assert forks(str(folder / "j-empty.jpg")) == [0, 1]
    assert forks(str(folder / "a-signed.jpg")) == [1, 0]  # kept, read by a worker (one: there is one file)
    assert forks(str(folder / "a-signed.jpg"), str(folder / "f-unsigned.jpg")) == [2, 1]


def test_sidecars_left_to_the_workers_are_never_judged_unread(folder: Path) -> None:
    """A folder listed with its JSON sidecars unread (as a bulk run lists it) gives the same records as one
    listed with them read, whichever process judges; an item that names its sidecar still unread is read
    where it is judged, so its opt-out is never lost."""
    from rightsmark.sources import open_sources
    from rightsmark.sources.fs import take_sidecars
    from rightsmark.verify.bulk import verify_items
    from rightsmark.verify.reader import FactReader
    from rightsmark.verify.verifier import make_record

    policy = Policy(keep_absent=True)
    read = list(open_sources([str(folder)]))
    deferred = list(open_sources([str(folder)], defer_sidecars=True))
    side = next(i for i in deferred if i.key.endswith("side.jpg"))
    assert side.sidecar_files and not side.sidecar  # named, not read
    assert take_sidecars(side) == next(i for i in read if i.key.endswith("side.jpg"))
    expected = [r.to_dict() for r in verify_items(read, policy, jobs=1)]
    for jobs in (1, 2):
        assert [r.to_dict() for r in verify_items(deferred, policy, jobs=jobs)] == expected
    reader = FactReader(None)
    try:
        record = make_record(side.key, reader.read((folder / "side.jpg").read_bytes(), side.key), policy, item=side)
    finally:
        reader.close()
    assert record.decision.value == "drop" and [r.code for r in record.reasons] == ["declared-opt-out"]
