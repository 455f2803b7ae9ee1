"""``rightsmark verify`` on dataset layouts (issue 13): keep lists a pipeline joins on directly, the sample
columns of reports, and img2dataset folders whose sidecars are metadata, not dropped images. The real CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, CliResult, open_rights
from .test_samples import img2dataset_folder
from .test_sources import tar_bytes as shard

Cli = Callable[..., CliResult]
UNSIGNED = (EXAMPLE_IMAGES / "harbour.jpg").read_bytes()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> bytes:
    work = tmp_path_factory.mktemp("signed")
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", work / "signed.jpg", open_rights())
    return (work / "signed.jpg").read_bytes()


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def meta(url: str) -> bytes:
    return json.dumps({"url": url, "status": "success"}).encode()


def dataset_shard(signed: bytes) -> bytes:
    """Samples a keep list of samples or URLs must tell apart: kept, one image of two dropped, a shared URL."""
    return shard(
        [
            ("a.jpg", signed), ("a.json", meta("https://example.com/a")),
            ("b.jpg", signed), ("b.json", meta("https://example.com/b")), ("b.png", b"\x89PNG\r\n\x1a\n damaged"),
            ("c.jpg", signed), ("c.json", meta("https://example.com/shared")),
            ("d.jpg", UNSIGNED), ("d.json", meta("https://example.com/shared")),
            ("e.jpg", signed), ("e.txt", b"no json: no URL"),
        ]
    )  # fmt: skip


def test_keep_list_forms_name_keys_samples_and_urls(cli: Cli, tmp_path: Path, keys: Any, signed: bytes) -> None:
    (tmp_path / "s.tar").write_bytes(dataset_shard(signed))
    base = ("verify", "s.tar", "--trust", keys.ca, "-o", "r.jsonl")
    by_key = cli(*base, "--keep-list", "keys.txt")
    assert by_key.returncode == 1
    assert lines(tmp_path / "keys.txt") == ["s.tar/a.jpg", "s.tar/b.jpg", "s.tar/c.jpg", "s.tar/e.jpg"]
    records = [json.loads(line) for line in lines(tmp_path / "r.jsonl")]
    assert [r["sample"]["key"] for r in records] == ["a", "b", "b", "c", "d", "e"]
    assert {r["sample"]["source"] for r in records} == {"s.tar"}

    by_sample = cli(*base, "--keep-list", "samples.jsonl", "--keep-list-form", "sample")
    assert by_sample.returncode == 1
    assert [json.loads(line) for line in lines(tmp_path / "samples.jsonl")] == [
        {"source": "s.tar", "key": "a", "key_from": "__key__", "row": None, "url": "https://example.com/a"},
        {"source": "s.tar", "key": "c", "key_from": "__key__", "row": None, "url": "https://example.com/shared"},
        {"source": "s.tar", "key": "e", "key_from": "__key__", "row": None, "url": None},
    ]  # b: its .png was dropped, so the sample is not kept whole; d: dropped

    by_url = cli(*base, "--keep-list", "urls.txt", "--keep-list-form", "url")
    assert by_url.returncode == 1
    # b: not whole; the shared URL: d, which records it too, was dropped; e: no URL, said on stderr
    assert lines(tmp_path / "urls.txt") == ["https://example.com/a"]
    assert "rightsmark: 1 kept file has no URL" in by_url.stderr
    assert "not in the keep list (--keep-list-form url)" in by_url.stderr


def test_keep_list_of_samples_is_rebuilt_on_resume(cli: Cli, tmp_path: Path, keys: Any, signed: bytes) -> None:
    (tmp_path / "s.tar").write_bytes(dataset_shard(signed))
    args = ("verify", "s.tar", "--trust", keys.ca, "-o", "r.csv", "--keep-list", "k.jsonl", "--keep-list-form")
    assert cli(*args, "sample").returncode == 1
    whole = lines(tmp_path / "k.jsonl")
    report = lines(tmp_path / "r.csv")
    # an interrupted run: the report holds a.jpg and b.jpg only, the keep list is gone
    (tmp_path / "r.csv").write_text("\n".join(report[:3]) + "\n", encoding="utf-8")
    (tmp_path / "k.jsonl").unlink()
    resumed = cli(*args, "sample", "--resume")
    assert resumed.returncode == 1
    assert "resumed: 2 files already in the report were skipped" in resumed.stderr
    assert lines(tmp_path / "k.jsonl") == whole
    assert lines(tmp_path / "r.csv") == report


def test_a_stale_keep_list_never_stays_behind(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "s.tar").write_bytes(shard([("a.jpg", UNSIGNED), ("a.json", meta("https://example.com/a"))]))
    (tmp_path / "k.txt").write_text("https://example.com/from-an-earlier-run\n", encoding="utf-8")
    result = cli("verify", "s.tar", "--keep-list", "k.txt", "--keep-list-form", "url", "-q")
    assert result.returncode == 1
    assert lines(tmp_path / "k.txt") == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".k.txt")] == []  # no temporary left


def test_parquet_rows_in_keep_lists_and_report_columns(cli: Cli, tmp_path: Path, keys: Any, signed: bytes) -> None:
    table = pa.table(
        {
            "image": [{"bytes": b, "path": "image.jpg"} for b in (signed, UNSIGNED, signed)],
            "url": ["https://example.com/0", "https://example.com/1", None],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    args = ("verify", "t.parquet", "--trust", keys.ca, "--keep-list", "k.jsonl", "--keep-list-form", "sample")
    result = cli(*args, "-o", "r.csv")
    assert result.returncode == 1
    assert [json.loads(line) for line in lines(tmp_path / "k.jsonl")] == [
        {"source": "t.parquet", "key": "image.jpg", "key_from": "column:image.path", "row": 0, "url": "https://example.com/0"},
        {"source": "t.parquet", "key": "image.jpg", "key_from": "column:image.path", "row": 2, "url": None},
    ]  # fmt: skip
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["path"], r["sample_key"], r["sample_key_from"], r["sample_row"], r["sample_url"]) for r in rows] == [
        ("t.parquet#image.jpg@0", "image.jpg", "column:image.path", "0", "https://example.com/0"),
        ("t.parquet#image.jpg@1", "image.jpg", "column:image.path", "1", "https://example.com/1"),
        ("t.parquet#image.jpg@2", "image.jpg", "column:image.path", "2", ""),
    ]
    assert cli(*args, "-o", "r.parquet").returncode == 1
    columns = pq.read_table(tmp_path / "r.parquet").select(["sample_source", "sample_row", "sample_url"]).to_pylist()
    assert columns[1] == {"sample_source": "t.parquet", "sample_row": "1", "sample_url": "https://example.com/1"}


def test_img2dataset_folder_reports_images_and_counts_the_rest(cli: Cli, tmp_path: Path) -> None:
    """40 samples of NNNN.jpg + NNNN.json + NNNN.txt: 40 records, not 80 error records for the sidecars."""
    img2dataset_folder(tmp_path / "out", 40)
    result = cli("verify", "out", "--keep-unsigned", "-o", "r.jsonl", "--keep-list", "k.txt", "--keep-list-form", "url")
    assert result.returncode == 1, result.stderr  # sample 1's crawler recorded X-Robots-Tag: noai
    records = [json.loads(line) for line in lines(tmp_path / "r.jsonl")]
    assert len(records) == 40
    assert all(r["error"] is None for r in records)
    assert [n for n, r in enumerate(records) if r["decision"] != "keep"] == [1]
    assert [c["code"] for c in records[1]["reasons"]] == ["declared-opt-out"]
    assert records[7]["sample"] == {
        "source": "out", "key": "00000/000000007", "key_from": "path", "row": None, "url": "https://example.com/7.jpg",
    }  # fmt: skip
    assert lines(tmp_path / "k.txt") == [f"https://example.com/{n}.jpg" for n in range(40) if n != 1]
    assert (
        "not images, not verified: 80 sidecars read as the metadata of their images and 2 other files" in result.stderr
    )
    description = json.loads((tmp_path / "r.jsonl.meta.json").read_text(encoding="utf-8"))
    assert description["non_images"] == {"sidecars": 80, "others": 2, "reported": False}

    before = cli("verify", "out", "--keep-unsigned", "-o", "all.jsonl", "--report-non-images")
    assert before.returncode == 1
    reported = [json.loads(line) for line in lines(tmp_path / "all.jsonl")]
    assert len(reported) == 122
    errors = [r for r in reported if r["integrity"] == "error"]
    assert len(errors) == 82 and all(r["decision"] == "drop" for r in errors)
    assert "not images, not verified" not in before.stderr
