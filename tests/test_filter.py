"""rightsmark filter: real shards and Parquet files, verified by the real CLI, then filtered and read back
with the standard readers (tarfile grouped as WebDataset groups samples, pyarrow)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rightsmark.sign.signer import Signer
from rightsmark.subset.report import locate
from rightsmark.subset.tar import sample_key

from .conftest import EXAMPLE_IMAGES, CliResult, one_error_line, open_rights, small_tmpfs

Cli = Callable[..., CliResult]


@dataclass(frozen=True)
class Images:
    signed: bytes  # kept under --trust keys.ca
    plain: bytes  # no manifest: dropped


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Images:
    folder = tmp_path_factory.mktemp("images")
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", folder / "signed.jpg", open_rights())
    return Images((folder / "signed.jpg").read_bytes(), (EXAMPLE_IMAGES / "harbour.jpg").read_bytes())


Members = list[tuple[str, bytes]]


def write_shard(path: Path, members: Members, mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o640
            tar.addfile(info, io.BytesIO(data))
    return path


def sidecars(key: str, url: str) -> Members:
    return [(f"{key}.json", json.dumps({"url": url}).encode()), (f"{key}.txt", f"caption of {key}".encode())]


def mixed_members(images: Images) -> Members:
    """Five samples: kept, dropped, kept (in a folder, with two images), sidecars only, kept; and a stray member."""
    return [
        ("000000.jpg", images.signed),
        *sidecars("000000", "https://example.org/0.jpg"),
        ("000001.jpg", images.plain),
        *sidecars("000001", "https://example.org/1.jpg"),
        ("part/000002.jpg", images.signed),
        ("part/000002.seg.jpg", images.signed),
        *sidecars("part/000002", "https://example.org/2.jpg"),
        *sidecars("000003", "https://example.org/3.jpg"),
        ("README", b"not part of any sample"),
        ("000004.jpg", images.signed),
        *sidecars("000004", "https://example.org/4.jpg"),
    ]


_WDS = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")  # webdataset's base_plus_ext


def wds_samples(path: Path) -> list[dict[str, Any]]:
    """The shard's samples as WebDataset groups them: consecutive members sharing a key."""
    samples: list[dict[str, Any]] = []
    with tarfile.open(path, "r:*") as tar:
        for info in tar:
            match = _WDS.match(info.name)
            assert match and info.isreg(), info.name
            key, ext = match.groups()
            if not samples or samples[-1]["__key__"] != key:
                samples.append({"__key__": key})
            data = tar.extractfile(info)
            assert data is not None and ext not in samples[-1]
            samples[-1][ext] = data.read()
    return samples


def expected_samples(members: Members, keys: list[str]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, data in members:
        match = _WDS.match(name)
        if match and match.group(1) in keys:
            out.setdefault(match.group(1), {"__key__": match.group(1)})[match.group(2)] = data
    return [out[k] for k in keys]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(cli: Cli, keys: Any, *specs: str | Path, report: str = "report.jsonl") -> None:
    """The real verify: signed images (trusted through keys.ca) kept, unsigned ones dropped."""
    result = cli("verify", *specs, "--trust", keys.ca, "-o", report, "-q", "-j", "1")
    assert result.returncode in (0, 1), result.stderr


def records(tmp_path: Path, report: str = "report.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / report).read_text().splitlines() if line.strip()]


def write_records(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------------
# tar shards


def test_tar_shards_keep_whole_samples_in_order(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    members = mixed_members(images)
    plain = write_shard(tmp_path / "shards" / "00000.tar", members)
    packed = write_shard(tmp_path / "shards" / "00001.tar.gz", members[:6], "w:gz")
    before = {p: digest(p) for p in (plain, packed)}
    verify(cli, keys, "shards/00000.tar", "shards/00001.tar.gz")

    result = cli("filter", "shards/{00000.tar,00001.tar.gz}", "--report", "report.jsonl", "-o", "clean")

    assert result.returncode == 0, result.stderr
    assert wds_samples(tmp_path / "clean" / "00000.tar") == expected_samples(
        members, ["000000", "part/000002", "000004"]
    )
    assert wds_samples(tmp_path / "clean" / "00001.tar.gz") == expected_samples(members, ["000000"])
    with tarfile.open(tmp_path / "clean" / "00001.tar.gz", "r:gz") as tar:  # compressed as its name says
        first = tar.getmembers()[0]
        assert (first.name, first.mode, first.mtime) == ("000000.jpg", 0o640, 1_700_000_000)
    assert {p: digest(p) for p in before} == before  # inputs only read
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "shards/00000.tar -> clean/00000.tar: 3 samples kept, 1 dropped, 0 unmatched, 1 without an image,"
        " 1 members in no sample; matched by "
    )
    assert lines[1].startswith("shards/00001.tar.gz -> clean/00001.tar.gz: 1 samples kept, 1 dropped, 0 unmatched")
    assert lines[2].startswith("total: 4 samples or rows kept, 2 dropped, 0 unmatched")
    assert not [p for p in (tmp_path / "clean").iterdir() if p.name.endswith(".part")]


def test_an_input_named_otherwise_than_in_the_report(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    write_shard(tmp_path / "shards" / "00000.tar", mixed_members(images))
    verify(cli, keys, "shards/00000.tar")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    absolute = str(tmp_path / "shards" / "00000.tar")
    result = cli("filter", absolute, "--report", tmp_path / "report.jsonl", "-o", "out", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"{absolute} (as shards/00000.tar in the report) -> out/00000.tar: 3 samples kept" in result.stderr
    assert len(wds_samples(elsewhere / "out" / "00000.tar")) == 3


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_every_report_format_gives_the_same_copy(cli: Cli, keys: Any, images: Images, tmp_path: Path, fmt: str) -> None:
    members = mixed_members(images)
    write_shard(tmp_path / "00000.tar", members)
    verify(cli, keys, "00000.tar", report=f"report.{fmt}")
    result = cli("filter", "00000.tar", "--report", f"report.{fmt}", "-o", "out")
    assert result.returncode == 0, result.stderr
    assert wds_samples(tmp_path / "out" / "00000.tar") == expected_samples(members, ["000000", "part/000002", "000004"])


def test_a_folder_of_report_shards(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    members = mixed_members(images)
    write_shard(tmp_path / "00000.tar", members)
    verify(cli, keys, "00000.tar")
    lines = (tmp_path / "report.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "part-0.jsonl").write_text("".join(lines[:2]))
    (tmp_path / "reports" / "part-1.jsonl").write_text("".join(lines[2:]))
    result = cli("filter", "00000.tar", "--report", "reports", "-o", "out")
    assert result.returncode == 0, result.stderr
    assert wds_samples(tmp_path / "out" / "00000.tar") == expected_samples(members, ["000000", "part/000002", "000004"])
    one_error_line(cli("filter", "00000.tar", "--report", "reports", "-o", "reports/out"), "the report's folder")


def test_samples_without_a_record_are_never_copied(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    members = mixed_members(images)
    write_shard(tmp_path / "00000.tar", members)
    verify(cli, keys, "00000.tar")
    rows = records(tmp_path)
    # one image's record lost, and a forged second record saying keep for a dropped image
    lost = [r for r in rows if r["path"] != "00000.tar/part/000002.seg.jpg"]
    forged = dict(next(r for r in rows if r["path"] == "00000.tar/000000.jpg"), path="00000.tar/000001.jpg")
    write_records(tmp_path / "edited.jsonl", [*lost, forged])

    result = cli("filter", "00000.tar", "--report", "edited.jsonl", "-o", "out")
    assert result.returncode == 1
    assert "2 samples kept, 0 dropped, 2 unmatched" in result.stderr
    assert "not copied; exit 1 (--allow-unmatched: exit 0)" in result.stderr
    assert [s["__key__"] for s in wds_samples(tmp_path / "out" / "00000.tar")] == ["000000", "000004"]

    again = cli("filter", "00000.tar", "--report", "edited.jsonl", "-o", "out", "--allow-unmatched", "--force")
    assert again.returncode == 0, again.stderr
    assert [s["__key__"] for s in wds_samples(tmp_path / "out" / "00000.tar")] == ["000000", "000004"]


def test_a_report_of_another_shard_copies_nothing(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    write_shard(tmp_path / "old" / "00000.tar", [("a.jpg", images.signed), ("b.jpg", images.signed)])
    verify(cli, keys, "old/00000.tar")
    write_shard(tmp_path / "new" / "00000.tar", [("c.jpg", images.signed), ("a.json", b"{}")])
    result = cli("filter", "new/00000.tar", "--report", "report.jsonl", "-o", "out")
    assert result.returncode == 1
    assert "0 samples kept, 0 dropped, 1 unmatched, 1 without an image, 2 report records naming nothing" in (
        result.stderr
    )
    assert wds_samples(tmp_path / "out" / "00000.tar") == []


def test_hand_written_sample_records(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    members = mixed_members(images)
    write_shard(tmp_path / "00000.tar", members)
    verify(cli, keys, "00000.tar")
    rows = records(tmp_path)
    for row in rows:
        member = row["path"].removeprefix("00000.tar/")
        row["sample"] = {"source": "00000.tar", "key": sample_key(member), "key_from": "__key__", "row": None}
    write_records(tmp_path / "samples.jsonl", rows)
    result = cli("filter", "00000.tar", "--report", "samples.jsonl", "-o", "out")
    assert result.returncode == 0, result.stderr
    assert "3 samples kept, 1 dropped, 0 unmatched" in result.stderr and "matched by sample" in result.stderr
    # a record naming another sample than its member's is not believed
    rows[0]["sample"]["key"] = "000004"
    write_records(tmp_path / "samples.jsonl", rows)
    result = cli("filter", "00000.tar", "--report", "samples.jsonl", "-o", "out", "--force")
    assert result.returncode == 1
    assert [s["__key__"] for s in wds_samples(tmp_path / "out" / "00000.tar")] == ["part/000002", "000004"]


def test_duplicate_names_links_and_split_samples_are_refused(
    cli: Cli, keys: Any, images: Images, tmp_path: Path
) -> None:
    shard = tmp_path / "00000.tar"
    write_shard(
        shard,
        [
            ("000000.jpg", images.signed),
            ("000000.jpg", images.signed),  # duplicate name: verify drops both
            ("000001.jpg", images.signed),
            ("000002.jpg", images.signed),
            ("000001.txt", b"the key 000001 again, after another sample"),
            ("000003.jpg", images.signed),
            ("000004.jpg", images.signed),
            ("000004.JPG", images.signed),  # WebDataset lower-cases extensions: two samples of one key
            ("000005.jpg", images.signed),
        ],
    )
    with tarfile.open(shard, "a") as tar:
        link = tarfile.TarInfo("000005.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    verify(cli, keys, "00000.tar")
    result = cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "out")
    assert result.returncode == 0, result.stderr
    assert "2 samples kept, 0 dropped, 0 unmatched, 5 refused" in result.stderr
    assert [s["__key__"] for s in wds_samples(tmp_path / "out" / "00000.tar")] == ["000002", "000003"]


# ---------------------------------------------------------------------------------------------
# Parquet

HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
ROWS = 300  # more than one record batch of the copy


def parquet_files(tmp_path: Path, images: Images) -> tuple[Path, Path]:
    """A binary column keyed by __key__ (with a column named like a report column), and a Hugging Face
    image struct keyed by row (several row groups)."""
    signed = [i % 3 != 1 for i in range(ROWS)]
    blobs = [images.signed if s else images.plain for s in signed]
    binary = pa.table(
        {
            "__key__": [f"k{i:04d}" for i in range(ROWS)],
            "jpg": pa.array(blobs, pa.binary()),
            "trust": [f"a column of the data {i}" for i in range(ROWS)],
        }
    )
    features = {"image": {"_type": "Image"}, "label": {"dtype": "int64", "_type": "Value"}}
    hf = pa.table(
        {"label": list(range(ROWS)), "image": pa.array([{"bytes": b, "path": None} for b in blobs], HF_IMAGE)}
    ).replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(binary, tmp_path / "binary.parquet")
    pq.write_table(hf, tmp_path / "hf.parquet", row_group_size=70)
    return tmp_path / "binary.parquet", tmp_path / "hf.parquet"


def test_parquet_rows_with_the_reports_columns(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    binary, hf = parquet_files(tmp_path, images)
    verify(cli, keys, "binary.parquet", "hf.parquet")
    result = cli("filter", "binary.parquet", "hf.parquet", "--report", "report.jsonl", "-o", "out")
    assert result.returncode == 0, result.stderr
    kept = [i for i in range(ROWS) if i % 3 != 1]
    assert f"binary.parquet -> out/binary.parquet: {len(kept)} rows kept, {ROWS - len(kept)} dropped" in result.stderr

    copy = pq.read_table(tmp_path / "out" / "binary.parquet")
    source = pq.read_table(binary)
    assert copy.select(source.column_names).to_pylist() == source.take(kept).to_pylist()
    assert copy.column_names[3:] == [
        "decision",
        "reason_codes",
        "integrity",
        "rightsmark_trust",  # the data has a column named trust
        "signer_common_name",
        "signer_issuer",
        "author",
        "license_id",
        "license_url",
        "consent_status",
        "rightsmark_key",
    ]
    first = copy.slice(0, 1).to_pylist()[0]
    assert first["decision"] == "keep" and first["integrity"] == "valid" and first["rightsmark_trust"] == "trusted"
    assert (first["license_id"], first["author"], first["reason_codes"]) == ("CC-BY-4.0", ["Jane Doe"], [])
    assert first["rightsmark_key"] == "binary.parquet#k0000" and first["trust"] == "a column of the data 0"
    assert set(copy.column("decision").to_pylist()) == {"keep"}

    hf_copy = pq.read_table(tmp_path / "out" / "hf.parquet")
    assert hf_copy.column("label").to_pylist() == kept
    assert hf_copy.column("image").to_pylist() == pq.read_table(hf).take(kept).column("image").to_pylist()
    assert hf_copy.column("rightsmark_key").to_pylist()[:2] == ["hf.parquet#0", "hf.parquet#2"]
    meta = hf_copy.schema.metadata
    features = json.loads(meta[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"} and features["decision"]["_type"] == "Value"
    assert features["reason_codes"]["_type"] == "Sequence"
    provenance = json.loads(meta[b"rightsmark.subset"])
    assert provenance["report"] == "report.jsonl" and provenance["run"]["policy"]["purpose"] == "ai_training"
    assert pq.ParquetFile(tmp_path / "out" / "hf.parquet").metadata.num_row_groups >= 1


def test_parquet_rows_matched_by_sample_row(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    parquet_files(tmp_path, images)
    verify(cli, keys, "binary.parquet")
    rows = records(tmp_path)
    for index, row in enumerate(rows):
        # a key the item keys do not give: only the sample's row index can match these records
        row["path"] = f"binary.parquet#renamed-{index}"
        row["sample"] = {"source": "binary.parquet", "key": f"k{index:04d}", "key_from": "column:__key__", "row": index}
    rows[0]["sample"]["key"] = "k9999"  # names another row than the one at its index: not believed
    rows.append(dict(rows[2], sample=dict(rows[2]["sample"], row=ROWS + 5)))  # a row the file does not have
    write_records(tmp_path / "samples.jsonl", rows)

    result = cli("filter", "binary.parquet", "--report", "samples.jsonl", "-o", "out")
    assert result.returncode == 1
    kept = [i for i in range(1, ROWS) if i % 3 != 1]
    assert f"{len(kept)} rows kept, {ROWS // 3} dropped, 1 unmatched, 1 report records naming nothing" in result.stderr
    assert "matched by sample" in result.stderr
    copy = pq.read_table(tmp_path / "out" / "binary.parquet")
    assert copy.column("__key__").to_pylist() == [f"k{i:04d}" for i in kept]
    assert copy.column("rightsmark_key").to_pylist()[0] == "binary.parquet#renamed-2"


def test_parquet_rows_matched_by_item_key_need_verifys_key_column(
    cli: Cli, keys: Any, images: Images, tmp_path: Path
) -> None:
    parquet_files(tmp_path, images)
    result = cli("verify", "binary.parquet", "--key-column", "trust", "--trust", keys.ca, "-o", "report.jsonl", "-q")
    assert result.returncode == 1, result.stderr
    # a report without sample identity (as verify wrote before records had it): rows are named by their keys
    write_records(tmp_path / "report.jsonl", [dict(r, sample=None) for r in records(tmp_path)])
    assert records(tmp_path)[0]["path"] == "binary.parquet#a column of the data 0"

    unnamed = cli("filter", "binary.parquet", "--report", "report.jsonl", "-o", "out")
    assert unnamed.returncode == 1  # rows keyed by __key__ here: no record matches, nothing is copied
    assert f"0 rows kept, 0 dropped, {ROWS} unmatched, {ROWS} report records naming nothing" in unnamed.stderr
    assert pq.read_table(tmp_path / "out" / "binary.parquet").num_rows == 0

    named = cli("filter", "binary.parquet", "--report", "report.jsonl", "-o", "out", "--key-column", "trust", "--force")
    assert named.returncode == 0, named.stderr
    assert "matched by item key" in named.stderr
    assert pq.read_table(tmp_path / "out" / "binary.parquet").num_rows == len([i for i in range(ROWS) if i % 3 != 1])


def test_rows_known_by_position_are_not_matched_after_the_file_changed(
    cli: Cli, keys: Any, images: Images, tmp_path: Path
) -> None:
    _, hf = parquet_files(tmp_path, images)
    verify(cli, keys, "hf.parquet")
    table = pq.read_table(hf)
    # a row inserted in front: every record keyed by row index would now name the row before its own
    pq.write_table(pa.concat_tables([table.slice(1, 1), table]), hf)
    result = cli("filter", "hf.parquet", "--report", "report.jsonl", "-o", "out")
    one_error_line(result, "hf.parquet", f"{ROWS} of its {ROWS + 1} rows have a record", "known by their position")
    assert list((tmp_path / "out").iterdir()) == []


def test_rows_sharing_an_image_path_are_known_by_position_too(
    cli: Cli, keys: Any, images: Images, tmp_path: Path
) -> None:
    """Hugging Face files often name every image ``image.jpg``: the keys (``image.jpg@ROW``) and the sample
    keys then say nothing a changed file could be checked against, so a shifted file is not matched."""
    rows = [images.plain, images.signed, images.signed]
    table = pa.table({"image": pa.array([{"bytes": b, "path": "image.jpg"} for b in rows], HF_IMAGE)})
    pq.write_table(table, tmp_path / "same.parquet")
    verify(cli, keys, "same.parquet")
    # the dropped row replaced by a kept one's copy, and a row put in front: every position moves
    pq.write_table(pa.concat_tables([table.slice(0, 1), table]), tmp_path / "same.parquet")
    result = cli("filter", "same.parquet", "--report", "report.jsonl", "-o", "out")
    one_error_line(result, "same.parquet", "known by their position")
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# refused: one line, exit 2, nothing written


def test_a_report_that_does_not_cover_an_input(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    write_shard(tmp_path / "00000.tar", mixed_members(images))
    write_shard(tmp_path / "00001.tar", mixed_members(images))
    verify(cli, keys, "00000.tar")
    result = cli("filter", "00000.tar", "00001.tar", "--report", "report.jsonl", "-o", "out")
    one_error_line(result, "00001.tar", "not in the report")
    assert not (tmp_path / "out").exists()


def test_an_ambiguous_name_in_the_report(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    for folder in ("a", "b", "elsewhere"):
        write_shard(tmp_path / folder / "00000.tar", [("x.jpg", images.signed)])
    verify(cli, keys, "a/00000.tar", "b/00000.tar")
    result = cli("filter", "elsewhere/00000.tar", "--report", "report.jsonl", "-o", "out")
    one_error_line(result, "several inputs this could be", "a/00000.tar", "b/00000.tar")
    ok = cli("filter", "b/00000.tar", "--report", "report.jsonl", "-o", "out")
    assert ok.returncode == 0 and "b/00000.tar -> out/00000.tar: 1 samples kept" in ok.stderr


@pytest.mark.parametrize("cut", ["inside a member", "inside gzip", "the end marker"])
def test_a_truncated_shard_leaves_no_copy(cli: Cli, keys: Any, images: Images, tmp_path: Path, cut: str) -> None:
    suffix = ".tar.gz" if cut == "inside gzip" else ".tar"
    shard = write_shard(tmp_path / f"00000{suffix}", mixed_members(images), "w:gz" if suffix == ".tar.gz" else "w")
    verify(cli, keys, shard.name)
    end = shard.stat().st_size * 2 // 3
    if cut == "the end marker":  # whole members, no end-of-archive blocks: tarfile alone would take it as whole
        with tarfile.open(shard) as tar:
            last = tar.getmembers()[-1]
        end = last.offset_data + -(-last.size // 512) * 512
    shard.write_bytes(shard.read_bytes()[:end])
    result = cli("filter", shard.name, "--report", "report.jsonl", "-o", "out")
    one_error_line(result, shard.name, "corrupt or truncated shard", "no copy of it written")
    assert list((tmp_path / "out").iterdir()) == []


def test_outputs_never_replace_inputs(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    shard = write_shard(tmp_path / "00000.tar", mixed_members(images))
    verify(cli, keys, "00000.tar")
    before = digest(shard)
    one_error_line(cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "00000.tar"), "is not a folder")
    one_error_line(
        cli("filter", "00000.tar", "--report", "report.jsonl", "-o", ".", "--force"), "would replace an input"
    )
    assert digest(shard) == before
    assert cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "out").returncode == 0
    one_error_line(cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "out"), "exists", "--force")
    assert cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "out", "--force").returncode == 0


def test_a_full_disk_leaves_no_partial_copy(cli: Cli, keys: Any, images: Images, tmp_path: Path) -> None:
    write_shard(tmp_path / "00000.tar", mixed_members(images))
    verify(cli, keys, "00000.tar")
    with small_tmpfs(tmp_path / "full", "64k") as full:
        result = cli("filter", "00000.tar", "--report", "report.jsonl", "-o", full)
        one_error_line(result, "cannot write the copy", "no copy of 00000.tar written", "free some space")
        assert list(full.iterdir()) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda text: text[: len(text) - 40], "line 5 is not a record of a verify report"),
        (lambda text: text.replace('"decision": "drop"', '"decision": "DROP"', 1), "neither keep nor drop"),
        (lambda text: text.replace('"path": ', '"where": ', 1), "line 1 is not a record"),
    ],
)
def test_a_damaged_report_is_not_trusted_in_part(
    cli: Cli, keys: Any, images: Images, tmp_path: Path, edit: Callable[[str], str], needle: str
) -> None:
    write_shard(tmp_path / "00000.tar", mixed_members(images))
    verify(cli, keys, "00000.tar")
    report = tmp_path / "report.jsonl"
    report.write_text(edit(report.read_text()))
    one_error_line(cli("filter", "00000.tar", "--report", "report.jsonl", "-o", "out"), "report.jsonl", needle)
    assert not (tmp_path / "out").exists()


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("KEEP x\n")
    (tmp_path / "x.tar").write_bytes(b"")
    one_error_line(cli("filter", "x.tar", "-o", "out"), "--report")
    one_error_line(cli("filter", "x.tar", "--report", "r.txt", "-o", "out"), "r.txt", "jsonl, json, csv or parquet")
    one_error_line(cli("filter", "photo.jpg", "--report", "r.txt", "-o", "out"), "not a tar shard or Parquet file")
    one_error_line(cli("filter", "gone.tar", "--report", "r.txt", "-o", "out"), "gone.tar", "no such file")
    one_error_line(cli("filter", "s3://b/x.tar", "--report", "r.txt", "-o", "out"), "local files only")


# ---------------------------------------------------------------------------------------------
# the naming rules


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("000001.jpg", "000001"),
        ("a/b/000001.seg.png", "a/b/000001"),
        ("dir.x/000001.json", "dir.x/000001"),
        ("README", None),
        ("dir.x/README", None),
        (".hidden.jpg", None),
    ],
)
def test_sample_keys_follow_webdataset(name: str, key: str | None) -> None:
    assert sample_key(name) == key
    match = _WDS.match(name)
    assert (match.group(1) if match else None) == key


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("shards/00000.tar/a/000001.jpg", ("tar", "shards/00000.tar", "a/000001.jpg")),
        ("shards/00000.tar", ("tar", "shards/00000.tar", None)),
        ("s3://b/x.tar.gz/1.jpg", ("tar", "s3://b/x.tar.gz", "1.jpg")),
        ("data/images.parquet#k/x.tar", ("parquet", "data/images.parquet", "k/x.tar")),
        ("data/images.parquet", ("parquet", "data/images.parquet", None)),
        ("a.tar/b.parquet#1", ("tar", "a.tar", "b.parquet#1")),
        ("photos/x.jpg", None),
    ],
)
def test_where_an_item_key_points(path: str, where: tuple[str, str, str | None] | None) -> None:
    assert locate(path) == where
