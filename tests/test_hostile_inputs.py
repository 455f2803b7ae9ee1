"""Hostile inputs at scale: special files, huge items, spoofing keys, duplicate keys, unsafe members, S3 credentials.

Every test runs the real CLI (a subprocess) on real files: nothing may hang (the subprocess has a
timeout), nothing may be read past the cap, and no such item may ever be listed as kept.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rightsmark.keys.devca import KeyFiles
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, CliResult, moto_s3, open_rights

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> bytes:
    """A JPEG signed with the test signer and rights the default policy keeps."""
    work = tmp_path_factory.mktemp("hostile")
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", work / "signed.jpg", open_rights())
    return (work / "signed.jpg").read_bytes()


def records(result: CliResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def by_path(result: CliResult) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in records(result)}


def tar_with(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def keep_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1] if path.exists() else []


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# 1. special files


def test_fifo_on_the_command_line_and_in_a_folder(cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(signed)
    os.mkfifo(data / "pipe.jpg")
    os.mkfifo(tmp_path / "named.jpg")
    result = cli("verify", "named.jpg", "data", "--trust", keys.ca, "-f", "jsonl", "-j", "1", "--keep-list", "k.txt")
    assert_no_traceback(result)
    got = by_path(result)
    assert set(got) == {"named.jpg", "data/a.jpg", "data/pipe.jpg"}
    for key in ("named.jpg", "data/pipe.jpg"):
        assert got[key]["decision"] == "drop"
        assert "not a regular file (FIFO)" in got[key]["error"]
    assert got["data/a.jpg"]["decision"] == "keep"
    assert keep_lines(tmp_path / "k.txt") == ["data/a.jpg"]
    assert result.returncode == 1


def test_fifo_with_workers(cli: Cli, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    result = cli("verify", "pipe.jpg", "-f", "jsonl", "-j", "2")
    assert_no_traceback(result)
    assert "not a regular file (FIFO)" in records(result)[0]["error"]


def test_dev_zero_through_a_symlink_and_a_list(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "zero.jpg").symlink_to("/dev/zero")
    (tmp_path / "list.txt").write_text("/dev/zero\ndata\n")
    result = cli("verify", "@list.txt", "-f", "jsonl", "-j", "1")
    assert_no_traceback(result)
    got = by_path(result)
    assert set(got) == {"/dev/zero", "data/zero.jpg"}
    for record in got.values():
        assert "not a regular file (character device)" in record["error"]
        assert record["decision"] == "drop"
    assert result.returncode == 1


def test_dev_zero_as_a_list_file_is_refused(cli: Cli) -> None:
    result = cli("verify", "@/dev/zero", "-f", "jsonl")
    assert_no_traceback(result)
    assert "not a regular file (character device)" in records(result)[0]["error"]


def test_audit_of_special_files(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "pipe.jpg")
    (data / "zero.jpg").symlink_to("/dev/zero")
    result = cli("audit", "data", "/dev/zero", "--json", "audit.json", "-q")
    assert_no_traceback(result)
    files = {f["path"]: f for f in json.loads((tmp_path / "audit.json").read_text())["files"]}
    assert "not a regular file (FIFO)" in json.dumps(files["data/pipe.jpg"])
    assert "not a regular file (character device)" in json.dumps(files["data/zero.jpg"])
    assert "not a regular file (character device)" in json.dumps(files["/dev/zero"])
    assert result.returncode == 1


# ---------------------------------------------------------------------------------------------
# 2. the size cap


def test_sign_and_inspect_never_block_on_special_files(cli: Cli, tmp_path: Path, keys: KeyFiles) -> None:
    """A FIFO named or in a folder, /dev/zero named: one line each, the rest signed, nothing hangs."""
    os.mkfifo(tmp_path / "named.jpg")
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / "ok.jpg").write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    os.mkfifo(shoot / "pipe.jpg")
    key = ("--key", keys.key, "--cert", keys.chain, "--no-people")
    for target in (tmp_path / "named.jpg", "/dev/zero"):
        result = cli("sign", target, "-o", tmp_path / "out", *key)
        assert result.returncode == 1, result.stderr
        assert "not a regular file" in result.stderr and str(target) in result.stderr
        assert_no_traceback(result)
    result = cli("sign", shoot, "-o", tmp_path / "signed", *key)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "signed").iterdir()) == ["ok.jpg"]
    for target in (tmp_path / "named.jpg", "/dev/zero"):
        result = cli("inspect", target)
        assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr
        assert_no_traceback(result)


def test_max_item_size_on_a_file_a_member_and_a_cell(cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes) -> None:
    (tmp_path / "big.jpg").write_bytes(signed + b"\0" * 4096)
    (tmp_path / "s.tar").write_bytes(tar_with([("big.jpg", signed)]))
    pq.write_table(pa.table({"image": [signed]}), tmp_path / "t.parquet")
    cap = str(len(signed) - 1)
    result = cli("verify", "big.jpg", "s.tar", "t.parquet", "--max-item-size", cap, "-f", "jsonl", "-j", "1",
                 "--trust", keys.ca, "--keep-list", "k.txt")  # fmt: skip
    assert_no_traceback(result)
    got = by_path(result)
    assert set(got) == {"big.jpg", "s.tar/big.jpg", "t.parquet#0"}
    for record in got.values():
        assert "larger than --max-item-size" in record["error"], record
        assert record["decision"] == "drop"
    assert keep_lines(tmp_path / "k.txt") == []
    # the same inputs within a generous cap are kept (suffixes accepted)
    ok = cli("verify", "s.tar", "t.parquet", "--max-item-size", "1M", "-f", "jsonl", "--trust", keys.ca)
    assert [r["decision"] for r in records(ok)] == ["keep", "keep"], ok.stdout


@pytest.mark.parametrize("value", ["lots", "-1", "0", "12X"])
def test_invalid_max_item_size_is_a_usage_error(cli: Cli, tmp_path: Path, value: str) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    result = cli("verify", "a.jpg", "--max-item-size", value)
    assert result.returncode == 2
    assert f"--max-item-size takes a size, got '{value}'" in result.stderr
    assert_no_traceback(result)


# ---------------------------------------------------------------------------------------------
# 3. keys: control characters, duplicates, unsafe members


def test_newline_names_in_tar_and_parquet_never_spoof_the_keep_list(
    cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes
) -> None:
    spoof = "x.jpg\nevil.jpg"
    (tmp_path / "s.tar").write_bytes(tar_with([(spoof, signed), ("tab\t.jpg", signed), ("ok.jpg", signed)]))
    table = pa.table({"image": [signed, signed, signed], "key": ["a\nb", "c\u2028d", "fine"]})
    pq.write_table(table, tmp_path / "t.parquet")
    result = cli("verify", "s.tar", "t.parquet", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "k.txt")
    assert_no_traceback(result)
    got = by_path(result)
    assert set(got) == {
        "s.tar/x.jpg\\nevil.jpg",
        "s.tar/tab\\t.jpg",
        "s.tar/ok.jpg",
        "t.parquet#a\\nb",
        "t.parquet#c\\u2028d",
        "t.parquet#fine",
    }
    assert keep_lines(tmp_path / "k.txt") == ["s.tar/ok.jpg", "t.parquet#fine"]
    for key, record in got.items():
        if "\\" in key:
            assert record["decision"] == "drop" and "control character" in record["error"]


def test_duplicate_tar_members_are_all_dropped(cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes) -> None:
    (tmp_path / "s.tar").write_bytes(tar_with([("a.jpg", signed), ("b.jpg", signed), ("a.jpg", signed)]))
    result = cli("verify", "s.tar", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "k.txt", "-j", "1")
    assert_no_traceback(result)
    got = records(result)
    assert [r["path"] for r in got] == ["s.tar/a.jpg", "s.tar/b.jpg", "s.tar/a.jpg"]
    assert [r["decision"] for r in got] == ["drop", "keep", "drop"]
    assert got[0]["reasons"][0]["code"] == "duplicate-key"
    assert got[2]["reasons"][0]["code"] == "duplicate-key"
    assert keep_lines(tmp_path / "k.txt") == ["s.tar/b.jpg"]
    assert result.returncode == 1


def test_duplicate_members_in_a_gzipped_shard(cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes) -> None:
    import gzip

    (tmp_path / "s.tar.gz").write_bytes(gzip.compress(tar_with([("a.jpg", signed), ("a.jpg", signed)])))
    result = cli("verify", "s.tar.gz", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "k.txt")
    assert [r["reasons"][0]["code"] for r in records(result)] == ["duplicate-key", "duplicate-key"]
    assert keep_lines(tmp_path / "k.txt") == []


def test_duplicate_parquet_keys_and_row_number_collisions(
    cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes
) -> None:
    """Issue 13: rows sharing a key, and a null key whose row number another row uses as its key, get keys
    made unique by their row index (they used to be dropped as duplicate-key): no two rows share a key."""
    table = pa.table({"image": [signed] * 5, "key": ["x", "y", "x", "3", None]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    result = cli("verify", "t.parquet", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "k.txt", "-j", "1")
    assert_no_traceback(result)
    got = records(result)
    # row 4 has no key and falls back to its row number, 4: unique; row 3 is keyed "3": unique
    paths = ["t.parquet#x@0", "t.parquet#y", "t.parquet#x@2", "t.parquet#3", "t.parquet#4"]
    assert [r["path"] for r in got] == paths
    assert [r["decision"] for r in got] == ["keep"] * 5
    assert keep_lines(tmp_path / "k.txt") == paths
    assert [(r["sample"]["key"], r["sample"]["key_from"], r["sample"]["row"]) for r in got] == [
        ("x", "column:key", 0), ("y", "column:key", 1), ("x", "column:key", 2), ("3", "column:key", 3),
        ("4", "row", 4),
    ]  # fmt: skip
    # a null key falling back to a row number another row uses as its key
    clash = pa.table({"image": [signed] * 3, "key": ["2", "b", None]})
    pq.write_table(clash, tmp_path / "c.parquet")
    result = cli("verify", "c.parquet", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "c.txt")
    got = records(result)
    assert [r["path"] for r in got] == ["c.parquet#2", "c.parquet#b", "c.parquet#@2"]
    assert keep_lines(tmp_path / "c.txt") == ["c.parquet#2", "c.parquet#b", "c.parquet#@2"]


def test_unsafe_and_link_members_get_records(cli: Cli, tmp_path: Path, keys: KeyFiles, signed: bytes) -> None:
    link = tarfile.TarInfo("link.jpg")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    hard = tarfile.TarInfo("hard.jpg")
    hard.type = tarfile.LNKTYPE
    hard.linkname = "ok.jpg"
    dev = tarfile.TarInfo("dev.jpg")
    dev.type = tarfile.CHRTYPE
    folder = tarfile.TarInfo("folder")
    folder.type = tarfile.DIRTYPE
    members: list[tarfile.TarInfo | tuple[str, bytes]] = [
        folder,
        ("ok.jpg", signed),
        ("../../x.jpg", signed),
        ("/abs/y.jpg", signed),
        link,
        hard,
        dev,
    ]
    (tmp_path / "s.tar").write_bytes(tar_with(members))
    result = cli("verify", "s.tar", "--trust", keys.ca, "-f", "jsonl", "--keep-list", "k.txt")
    assert_no_traceback(result)
    got = by_path(result)
    assert list(got) == [
        "s.tar/ok.jpg",
        "s.tar/../../x.jpg",
        "s.tar//abs/y.jpg",
        "s.tar/link.jpg",
        "s.tar/hard.jpg",
        "s.tar/dev.jpg",
    ]
    assert "unsafe member name" in got["s.tar/../../x.jpg"]["error"]
    assert "unsafe member name" in got["s.tar//abs/y.jpg"]["error"]
    assert "symbolic link member" in got["s.tar/link.jpg"]["error"]
    assert "hard link member" in got["s.tar/hard.jpg"]["error"]
    assert "character device member" in got["s.tar/dev.jpg"]["error"]
    assert keep_lines(tmp_path / "k.txt") == ["s.tar/ok.jpg"]


# ---------------------------------------------------------------------------------------------
# 7. S3 without credentials: a configuration error


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[tuple[str, str]]:
    """moto's S3 server on 127.0.0.1 with one bucket holding one image; (endpoint, bucket)."""
    import boto3

    bucket = f"hostile-{uuid.uuid4().hex[:8]}"
    with moto_s3() as endpoint:
        client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1"
        )
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="images/a.jpg", Body=(EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
        client.put_object(Bucket=bucket, Key="images/s.tar", Body=tar_with([("a.jpg", b"x")]))
        yield endpoint, bucket


def no_credentials(tmp_path: Path) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    return env


@pytest.mark.parametrize("path", ["images/", "images/a.jpg", "images/s.tar"])
def test_s3_without_credentials_is_a_configuration_error(
    cli: Cli, tmp_path: Path, s3_endpoint: tuple[str, str], path: str
) -> None:
    endpoint, bucket = s3_endpoint
    env = no_credentials(tmp_path)
    url = f"s3://{bucket}/{path}"
    result = cli("verify", url, "--storage-option", f"endpoint_url={endpoint}", "-f", "jsonl", env=env)
    assert_no_traceback(result)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert url in lines[0] and "credentials" in lines[0] and "AWS_ACCESS_KEY_ID" in lines[0]
