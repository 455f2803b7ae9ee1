"""Source plug-ins on real inputs: files and directories, lists, tar shards, Parquet, and object storage.

Object storage is a real S3 server (moto's, in server mode on 127.0.0.1, started here) spoken to by the
real s3fs and boto3; Parquet files are written and read by the real pyarrow. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rightsmark.sign.signer import Signer
from rightsmark.sources import (
    ListSource,
    ParquetSource,
    PathSource,
    TarSource,
    expand,
    open_sources,
)
from rightsmark.sources.base import Item, images_only

from .conftest import EXAMPLE_IMAGES, open_rights

# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Samples:
    signed: bytes  # a JPEG signed with the test signer and open rights
    plain: bytes  # the same JPEG, unsigned
    png: bytes  # an unsigned PNG


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Samples:
    work = tmp_path_factory.mktemp("samples")
    signer.sign_file(EXAMPLE_IMAGES / "harbour.jpg", work / "signed.jpg", open_rights())
    return Samples(
        signed=(work / "signed.jpg").read_bytes(),
        plain=(EXAMPLE_IMAGES / "harbour.jpg").read_bytes(),
        png=(EXAMPLE_IMAGES / "market.png").read_bytes(),
    )


def tar_bytes(members: list[tuple[str, bytes]], *, gz: bool = False, dirs: tuple[str, ...] = ()) -> bytes:
    """A tar archive (as Python's tarfile, and WebDataset's writer, make them), optionally gzipped."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if gz else raw


def shard_members(samples: Samples) -> list[tuple[str, bytes]]:
    """A WebDataset shard: each sample is an image plus sidecars sharing its key."""
    return [
        ("000000.jpg", samples.signed),
        ("000000.json", b'{"caption": "harbour"}'),
        ("000000.cls", b"3"),
        ("000001.jpg", samples.plain),
        ("000001.txt", b"harbour, unsigned"),
        ("000002.png", samples.png),
        ("000003.jpg", b"not really a jpeg"),  # an image by name: yielded, the verifier reports it
        ("000004.bin", samples.png),  # an image by content: yielded
    ]


SHARD_IMAGES = ["000000.jpg", "000001.jpg", "000002.png", "000003.jpg", "000004.bin"]


def parquet_bytes(table: pa.Table, *, row_group_size: int = 2) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size)
    return buf.getvalue()


def binary_table(samples: Samples) -> pa.Table:
    return pa.table(
        {
            "__key__": ["a", "b", "c", "d", "e"],
            "caption": ["signed", "plain", "png", "missing", "signed again"],
            "jpg": pa.array([samples.signed, samples.plain, samples.png, None, samples.signed], pa.binary()),
        }
    )


HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def hf_table(samples: Samples) -> pa.Table:
    """How Hugging Face `datasets` stores an Image feature: a struct {bytes, path} plus metadata."""
    images = pa.array(
        [
            {"bytes": samples.signed, "path": "harbour-signed.jpg"},
            {"bytes": samples.plain, "path": ""},
            {"bytes": samples.png, "path": None},
            {"bytes": None, "path": "elsewhere/remote.jpg"},
            None,
        ],
        HF_IMAGE,
    )
    features = {"image": {"_type": "Image"}, "label": {"dtype": "int64", "_type": "Value"}, "thumb": {"_type": "Value"}}
    table = pa.table(
        {
            "label": [1, 2, 3, 4, 5],
            "thumb": pa.array([b"x"] * 5, pa.binary()),  # a binary column that is not the declared image
            "image": images,
        }
    )
    return table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def keys(items: list[Item]) -> list[str]:
    return [item.key for item in items]


def good(items: list[Item]) -> dict[str, bytes]:
    return {item.key: item.read() for item in items if item.error is None}


def errors(items: list[Item]) -> dict[str, str]:
    return {item.key: item.error for item in items if item.error is not None}


# ---------------------------------------------------------------------------------------------
# Plain paths and directories


@pytest.fixture
def tree(tmp_path: Path, samples: Samples) -> Path:
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".cache").mkdir()
    (root / "z.jpg").write_bytes(samples.signed)
    (root / "a" / "one.jpg").write_bytes(samples.plain)
    (root / "b" / "deep" / "two.png").write_bytes(samples.png)
    (root / "b" / "notes.txt").write_bytes(b"not an image: still yielded, the verifier decides")
    (root / ".hidden.jpg").write_bytes(samples.signed)
    (root / ".cache" / "x.jpg").write_bytes(samples.signed)
    return root


def test_directory_walk_order_keys_and_paths(tree: Path, samples: Samples, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    items = list(PathSource(["photos"]))
    assert keys(items) == ["photos/z.jpg", "photos/a/one.jpg", "photos/b/notes.txt", "photos/b/deep/two.png"]
    assert all(item.path == item.key and item.data is None and item.error is None for item in items)
    assert items[0].read() == samples.signed
    assert [item.role for item in items] == ["image", "image", "other", "image"]
    # the same walk as the verifier's own, with the directory joined exactly as given; a file that is not an
    # image (issue 13: counted, not verified) only when asked for
    assert keys(list(open_sources(["photos/"], non_images=True))) == [
        "photos/z.jpg",
        "photos/a/one.jpg",
        "photos/b/notes.txt",
        "photos/b/deep/two.png",
    ]
    assert keys(list(open_sources(["photos/"]))) == ["photos/z.jpg", "photos/a/one.jpg", "photos/b/deep/two.png"]


def test_files_as_given_and_missing(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    os.symlink("nowhere.jpg", "dangling.jpg")
    items = list(open_sources(["./z.jpg", "missing.jpg", "a/one.jpg", "dangling.jpg"]))
    assert keys(items) == ["./z.jpg", "missing.jpg", "a/one.jpg", "dangling.jpg"]
    assert items[0].path == "./z.jpg"
    assert errors(items) == {"missing.jpg": "no such file", "dangling.jpg": "no such file"}


# ---------------------------------------------------------------------------------------------
# Lists of inputs


def test_list_file_dispatches_every_line(tree: Path, samples: Samples, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    Path("shard.tar").write_bytes(tar_bytes([("k.jpg", samples.signed), ("k.json", b"{}")]))
    Path("list.txt").write_text(
        "# images to check\n\nphotos/z.jpg\n  photos/a  \nshard.tar\nabsent.jpg\n# the end\n", encoding="utf-8"
    )
    items = list(open_sources(["@list.txt"]))
    assert keys(items) == ["photos/z.jpg", "photos/a/one.jpg", "shard.tar/k.jpg", "absent.jpg"]
    assert good(items)["shard.tar/k.jpg"] == samples.signed
    assert errors(items) == {"absent.jpg": "no such file"}
    assert keys(list(images_only(ListSource("list.txt")))) == keys(items)  # the shard's k.json: a sidecar


def test_stdin_list(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    stdin = io.StringIO("photos/b\n#photos/z.jpg\nphotos/z.jpg\n")
    items = list(open_sources(["-"], stdin=stdin))
    assert keys(items) == ["photos/b/deep/two.png", "photos/z.jpg"]  # notes.txt: not an image, left out


def test_list_problems_are_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("loop.txt").write_text("@loop.txt\n-\n", encoding="utf-8")
    items = list(open_sources(["@loop.txt", "@absent.txt"]))
    assert errors(items) == {
        "loop.txt": "the list includes itself (directly or through other lists)",
        "-": "'-' (standard input) cannot be named inside a list",
        "absent.txt": "no such list file",
    }


# ---------------------------------------------------------------------------------------------
# Tar shards


@pytest.mark.parametrize("name", ["shard.tar", "shard.tar.gz", "shard.tgz"])
def test_tar_shard_members(tmp_path: Path, samples: Samples, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    members = shard_members(samples)
    Path(name).write_bytes(tar_bytes(members, gz=name != "shard.tar", dirs=("sub/",)))
    items = list(open_sources([name]))
    assert keys(items) == [f"{name}/{m}" for m in SHARD_IMAGES]
    originals = dict(members)
    assert good(items) == {f"{name}/{m}": originals[m] for m in SHARD_IMAGES}
    assert all(item.path is None for item in items)


def test_tar_nested_member_names(tmp_path: Path, samples: Samples) -> None:
    shard = tmp_path / "s.tar"
    shard.write_bytes(tar_bytes([("dir/x.jpg", samples.signed)], dirs=("dir",)))
    assert good(list(TarSource(str(shard)))) == {f"{shard}/dir/x.jpg": samples.signed}


def test_truncated_tar_yields_good_members_then_one_error(tmp_path: Path, samples: Samples) -> None:
    members = [("a.jpg", samples.signed), ("b.jpg", samples.plain), ("c.png", samples.png)]
    whole = tar_bytes(members)
    # the third member starts after two headers and two padded bodies
    start_c = sum(512 + -(-len(data) // 512) * 512 for _, data in members[:2])
    shard = tmp_path / "cut.tar"

    shard.write_bytes(whole[: start_c + 512 + 100])  # inside the body of c.png
    items = list(TarSource(str(shard)))
    assert keys(items) == [f"{shard}/a.jpg", f"{shard}/b.jpg", f"{shard}/c.png"]
    assert good(items) == {f"{shard}/a.jpg": samples.signed, f"{shard}/b.jpg": samples.plain}
    assert list(errors(items)) == [f"{shard}/c.png"]
    assert "truncated" in items[-1].error  # type: ignore[operator]

    shard.write_bytes(whole[:start_c])  # exactly between members: tarfile alone would not notice
    items = list(TarSource(str(shard)))
    assert keys(items) == [f"{shard}/a.jpg", f"{shard}/b.jpg", str(shard)]
    assert errors(items) == {str(shard): "corrupt or truncated shard: " + END_MARKER}

    shard.write_bytes(whole[: start_c + 200])  # inside the header of c.png
    items = list(TarSource(str(shard)))
    assert keys(items) == [f"{shard}/a.jpg", f"{shard}/b.jpg", str(shard)]
    assert len(errors(items)) == 1


END_MARKER = "the shard ends without the tar end-of-archive marker; truncated?"


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.xz"])
def test_truncated_compressed_shard(tmp_path: Path, samples: Samples, suffix: str) -> None:
    import lzma

    members = [("a.jpg", samples.signed), ("b.jpg", samples.plain), ("c.png", samples.png)]
    whole = tar_bytes(members)
    packed = gzip.compress(whole) if suffix == ".tar.gz" else lzma.compress(whole)
    originals = {f"{tmp_path}/cut{suffix}/{name}": data for name, data in members}
    shard = tmp_path / f"cut{suffix}"
    for cut in (len(packed) // 3, len(packed) * 2 // 3, len(packed) - 4):
        shard.write_bytes(packed[:cut])
        items = list(TarSource(str(shard)))
        assert len(errors(items)) == 1 and items[-1].error is not None, cut
        assert all(item.error is None for item in items[:-1])
        assert all(originals[key] == data for key, data in good(items).items())
    # cut inside the compressed trailer: every member is intact and yielded, the damage still reported
    assert keys(items) == [*originals, str(shard)]


def test_gzip_checksum_is_verified(tmp_path: Path, samples: Samples) -> None:
    packed = bytearray(gzip.compress(tar_bytes([("a.jpg", samples.signed)])))
    packed[-6] ^= 0x01  # one bit of the CRC-32 in the gzip trailer
    shard = tmp_path / "crc.tgz"
    shard.write_bytes(bytes(packed))
    items = list(TarSource(str(shard)))
    assert keys(items) == [f"{shard}/a.jpg", str(shard)]
    assert items[1].error is not None and "CRC check failed" in items[1].error


def test_not_a_shard(tmp_path: Path) -> None:
    (tmp_path / "empty.tar").write_bytes(b"")
    (tmp_path / "junk.tgz").write_bytes(b"this is no archive at all" * 40)
    items = list(open_sources([str(tmp_path / "empty.tar"), str(tmp_path / "junk.tgz"), str(tmp_path / "no.tar")]))
    assert keys(items) == [str(tmp_path / n) for n in ("empty.tar", "junk.tgz", "no.tar")]
    assert all(item.error for item in items)
    assert items[2].error == "no such file"


def test_brace_expansion_of_quoted_shard_specs(
    tmp_path: Path, samples: Samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("shards").mkdir()
    for i in range(3):
        Path(f"shards/{i}.tar").write_bytes(tar_bytes([(f"{i}.jpg", samples.signed)]))
    Path("shards/00001.tar").write_bytes(tar_bytes([("p.jpg", samples.plain)]))
    items = list(open_sources(["shards/{0..2}.tar", "shards/{00001..00001}.tar"]))
    assert keys(items) == ["shards/0.tar/0.jpg", "shards/1.tar/1.jpg", "shards/2.tar/2.jpg", "shards/00001.tar/p.jpg"]
    assert expand("shards/{00000..00099}.tar")[:2] == ["shards/00000.tar", "shards/00001.tar"]
    assert len(expand("shards/{00000..00099}.tar")) == 100
    # a literal path with braces is not expanded
    Path("odd{1,2}.jpg").write_bytes(samples.png)
    assert keys(list(open_sources(["odd{1,2}.jpg"]))) == ["odd{1,2}.jpg"]


# ---------------------------------------------------------------------------------------------
# Parquet


def test_parquet_binary_column(tmp_path: Path, samples: Samples) -> None:
    file = tmp_path / "images.parquet"
    file.write_bytes(parquet_bytes(binary_table(samples)))
    items = list(open_sources([str(file)]))
    assert keys(items) == [f"{file}#{k}" for k in "abcde"]
    assert good(items) == {
        f"{file}#a": samples.signed,
        f"{file}#b": samples.plain,
        f"{file}#c": samples.png,
        f"{file}#e": samples.signed,
    }
    assert errors(items) == {f"{file}#d": "no image bytes in column 'jpg' (null cell)"}
    # no key column: row indices, counted across batches and row groups
    by_row = list(ParquetSource(str(file), column="jpg", key_column=None, batch_rows=2))
    assert keys(by_row) == keys(items)  # __key__ is found automatically
    plain = pa.table({"jpg": binary_table(samples).column("jpg"), "caption": binary_table(samples).column("caption")})
    file.write_bytes(parquet_bytes(plain))
    assert keys(list(ParquetSource(str(file), batch_rows=3))) == [f"{file}#{i}" for i in range(5)]
    assert keys(list(ParquetSource(str(file), key_column="caption")))[0] == f"{file}#signed"


def test_parquet_hugging_face_image_struct(tmp_path: Path, samples: Samples) -> None:
    file = tmp_path / "hf.parquet"
    file.write_bytes(parquet_bytes(hf_table(samples)))
    items = list(open_sources([str(file)]))
    assert keys(items) == [f"{file}#{k}" for k in ("harbour-signed.jpg", "1", "2", "elsewhere/remote.jpg", "4")]
    assert good(items) == {
        f"{file}#harbour-signed.jpg": samples.signed,
        f"{file}#1": samples.plain,
        f"{file}#2": samples.png,
    }
    assert errors(items) == {
        f"{file}#elsewhere/remote.jpg": "no image bytes in column 'image': the image is stored by path "
        "(elsewhere/remote.jpg)",
        f"{file}#4": "no image bytes in column 'image' (null cell)",
    }
    # a key column wins over the struct's path
    assert keys(list(ParquetSource(str(file), key_column="label")))[:2] == [f"{file}#1", f"{file}#2"]


def test_parquet_column_problems(tmp_path: Path, samples: Samples) -> None:
    file = tmp_path / "two.parquet"
    file.write_bytes(parquet_bytes(pa.table({"left": [samples.plain], "right": [samples.png]})))
    (item,) = list(ParquetSource(str(file)))
    assert (item.key, item.error) == (
        str(file),
        "several columns could hold the images (left, right); name one with column=",
    )
    assert good(list(ParquetSource(str(file), column="right"))) == {f"{file}#0": samples.png}
    (item,) = list(ParquetSource(str(file), column="nope"))
    assert item.error == "no column 'nope' (columns: left, right)"
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    (item,) = list(open_sources([str(tmp_path / "bad.parquet")]))
    assert item.key == str(tmp_path / "bad.parquet") and item.error and "cannot read Parquet file" in item.error


# ---------------------------------------------------------------------------------------------
# Object storage: a real S3 server (moto) on 127.0.0.1, and fsspec's memory file system


@dataclass(frozen=True)
class S3:
    bucket: str
    options: dict[str, Any]
    objects: dict[str, bytes]  # URL -> bytes uploaded


def aws_test_environment(env: pytest.MonkeyPatch, config: Path) -> None:
    """Dummy credentials, no AWS configuration or instance metadata, and 127.0.0.1 kept off any proxy."""
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.delenv("AWS_SESSION_TOKEN", raising=False)
    env.delenv("AWS_PROFILE", raising=False)
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", str(config))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env.setenv("NO_PROXY", "127.0.0.1,localhost")
    env.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def s3_server(samples: Samples, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 (a free port), with a bucket of images, shards and Parquet files."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # a test dependency missing: fail loudly, never skip
        pytest.fail(f"the S3 tests need moto[server] and boto3 (pip install -e '.[test]'): {exc}")
    config = tmp_path_factory.mktemp("aws") / "none"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(15)
    if starter.is_alive():
        pytest.fail("moto's S3 server did not start on 127.0.0.1 within 15 s")
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"rightsmark-{uuid.uuid4().hex[:8]}"
    objects = {
        "images/signed.jpg": samples.signed,
        "images/plain.jpg": samples.plain,
        "images/more/market.png": samples.png,
        "images/.hidden.jpg": samples.signed,
        "images-other/x.jpg": samples.plain,  # shares the string prefix, not the "directory"
        "shards/000000.tar": tar_bytes(shard_members(samples)),
        "shards/000001.tar.gz": tar_bytes([("s.jpg", samples.signed)], gz=True),
        "cut/000000.tar": tar_bytes([("a.jpg", samples.signed), ("b.jpg", samples.plain)])[:1500],
        "tables/images.parquet": parquet_bytes(binary_table(samples)),
        "tables/hf.parquet": parquet_bytes(hf_table(samples)),
    }
    try:
        with pytest.MonkeyPatch.context() as env:  # the environment changes only while uploading
            aws_test_environment(env, config)
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            )
            client.create_bucket(Bucket=bucket)
            for key, data in objects.items():
                client.put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as exc:
        server.stop()
        pytest.fail(f"moto's S3 server at {endpoint} does not answer: {exc}")
    try:
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        yield S3(bucket, options, {f"s3://{bucket}/{k}": v for k, v in objects.items()})
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """The S3 server, with the dummy AWS environment set for the one test using it."""
    aws_test_environment(monkeypatch, tmp_path / "no-aws-config")
    return s3_server


def test_s3_prefix_listing(s3: S3, samples: Samples) -> None:
    url = f"s3://{s3.bucket}/images/"
    expected = {
        f"{url}more/market.png": samples.png,
        f"{url}plain.jpg": samples.plain,
        f"{url}signed.jpg": samples.signed,
    }
    items = list(open_sources([url], storage_options=s3.options))
    assert keys(items) == sorted(expected)
    assert good(items) == expected
    assert all(item.path is None for item in items)
    # without the trailing slash: the same objects, the same keys
    assert good(list(open_sources([url.rstrip("/")], storage_options=s3.options))) == expected


def test_s3_whole_bucket_opens_the_shards_and_parquet_files_it_lists(s3: S3) -> None:
    """A listing yields every object's bytes; tar shards and Parquet files in it are opened in place, their
    members keyed under the object's URL, exactly as when the shard is named on its own."""
    from rightsmark.sources.containers import is_container_name

    items = list(open_sources([f"s3://{s3.bucket}"], storage_options=s3.options))
    listed = sorted(url for url in s3.objects if "/." not in url)
    expected_keys: list[str] = []
    for url in listed:
        if is_container_name(url):
            expected_keys += [i.key for i in open_sources([url], storage_options=s3.options)]
        else:
            expected_keys.append(url)
    assert [i.key for i in items] == expected_keys
    plain = {url: s3.objects[url] for url in listed if not is_container_name(url)}
    assert {k: v for k, v in good(items).items() if k in plain} == plain
    assert any(is_container_name(url) for url in listed)
    assert all(not is_container_name(i.key) for i in items)  # no shard is handed over as an image


def test_s3_single_objects_and_missing(s3: S3, samples: Samples) -> None:
    signed = f"s3://{s3.bucket}/images/signed.jpg"
    missing = f"s3://{s3.bucket}/images/absent.jpg"
    items = list(
        open_sources(
            [signed, missing, f"s3://{s3.bucket}/{{images/plain,images/more/market}}.{{jpg,png}}"],
            storage_options=s3.options,
        )
    )
    assert good(items) == {
        signed: samples.signed,
        f"s3://{s3.bucket}/images/plain.jpg": samples.plain,
        f"s3://{s3.bucket}/images/more/market.png": samples.png,
    }
    assert errors(items) == {
        missing: "no such object or prefix",
        f"s3://{s3.bucket}/images/plain.png": "no such object or prefix",
        f"s3://{s3.bucket}/images/more/market.jpg": "no such object or prefix",
    }


def test_s3_tar_shards(s3: S3, samples: Samples) -> None:
    base = f"s3://{s3.bucket}/shards/"
    items = list(open_sources([base + "000000.tar", base + "000001.tar.gz"], storage_options=s3.options))
    originals = dict(shard_members(samples))
    expected = {f"{base}000000.tar/{m}": originals[m] for m in SHARD_IMAGES}
    expected[f"{base}000001.tar.gz/s.jpg"] = samples.signed
    assert keys(items) == list(expected)
    assert good(items) == expected
    cut = list(open_sources([f"s3://{s3.bucket}/cut/000000.tar"], storage_options=s3.options))
    assert keys(cut) == [f"s3://{s3.bucket}/cut/000000.tar/a.jpg"]
    assert cut[0].error is not None and "truncated" in cut[0].error


def test_s3_parquet(s3: S3, samples: Samples) -> None:
    url = f"s3://{s3.bucket}/tables/images.parquet"
    items = list(open_sources([url], storage_options=s3.options))
    assert keys(items) == [f"{url}#{k}" for k in "abcde"]
    assert good(items)[f"{url}#a"] == samples.signed
    assert list(errors(items)) == [f"{url}#d"]
    hf = f"s3://{s3.bucket}/tables/hf.parquet"
    assert good(list(open_sources([hf], storage_options=s3.options)))[f"{hf}#harbour-signed.jpg"] == samples.signed


def test_s3_bytes_verify_end_to_end(s3: S3) -> None:
    from rightsmark.verify.verifier import Verifier

    (item,) = list(open_sources([f"s3://{s3.bucket}/images/signed.jpg"], storage_options=s3.options))
    with Verifier() as verifier:
        record = verifier.verify_bytes(item.read(), item.key)
    assert record.integrity.value == "valid"
    assert record.path == item.key


def test_memory_filesystem(samples: Samples) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/rightsmark-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{root}/pics/b.jpg", samples.plain)
    fs.pipe(f"{root}/pics/a/c.png", samples.png)
    fs.pipe(f"{root}/pics/.DS_Store", b"junk")
    fs.pipe(f"{root}/shard.tgz", tar_bytes([("m.jpg", samples.signed), ("m.json", b"{}")], gz=True))
    fs.pipe(f"{root}/t.parquet", parquet_bytes(binary_table(samples)))
    try:
        base = f"memory://{root}"
        items = list(open_sources([f"{base}/pics/", f"{base}/shard.tgz", f"{base}/t.parquet"]))
        assert keys(items) == [
            f"{base}/pics/a/c.png",
            f"{base}/pics/b.jpg",
            f"{base}/shard.tgz/m.jpg",
            *[f"{base}/t.parquet#{k}" for k in "abcde"],
        ]
        assert good(items)[f"{base}/shard.tgz/m.jpg"] == samples.signed
        assert good(items)[f"{base}/pics/a/c.png"] == samples.png
    finally:
        fs.rm(root, recursive=True)


def test_unknown_protocol_is_an_item() -> None:
    (item,) = list(open_sources(["nosuchprotocol://bucket/x.jpg"]))
    assert item.key == "nosuchprotocol://bucket/x.jpg"
    assert item.error is not None and item.error.startswith("cannot read")


def test_importing_sources_stays_light() -> None:
    code = (
        "import sys, rightsmark.sources; "
        "print(sorted(m for m in ('pyarrow', 'fsspec', 'braceexpand', 's3fs', 'boto3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_directory_walk_opens_the_shards_it_finds(tmp_path: Path) -> None:
    """A tar shard or Parquet file met in a directory is a container: its members are verified, keyed
    under the walked path, the same as naming the shard itself; images beside it stay files."""
    import io
    import tarfile

    from rightsmark.sources import PathSource

    folder = tmp_path / "data"
    (folder / "shards").mkdir(parents=True)
    image = (Path(__file__).resolve().parents[1] / "examples" / "images" / "harbour.jpg").read_bytes()
    (folder / "a.jpg").write_bytes(image)
    with tarfile.open(folder / "shards" / "000.tar", "w") as tar:
        for name in ("x.jpg", "y.jpg"):
            info = tarfile.TarInfo(name)
            info.size = len(image)
            tar.addfile(info, io.BytesIO(image))
    walked = list(PathSource([str(folder)]))
    shard = f"{folder}/shards/000.tar"
    assert [i.key for i in walked] == [f"{folder}/a.jpg", f"{shard}/x.jpg", f"{shard}/y.jpg"]
    assert [i.key for i in walked[1:]] == [i.key for i in open_sources([shard])]
    assert all(i.read() == image for i in walked)


# ---------------------------------------------------------------------------------------------
# One dispatch table, one walker, work units


def _seen(items: Iterable[Item]) -> list[tuple[str, bytes | None, str | None, str | None, str | None]]:
    return [(i.key, i.data, i.path, i.error, i.reason) for i in items]


def test_work_units_reopen_to_exactly_the_items_of_every_kind_of_spec(
    tmp_path: Path, samples: Samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Ray planner sends out (each source saying how it splits, packed) reopens on a worker to the
    local engine's items, for every row of the dispatch table and the hostile inputs among them: same keys,
    bytes, paths, errors and reason codes, in the same order. An object or a list whose name holds a control
    character is refused there too (under --engine ray an object used to be verified, and could be kept)."""
    import fsspec

    from rightsmark.ray.plan import pack
    from rightsmark.sources.dispatch import open_unit, work_units

    monkeypatch.chdir(tmp_path)
    folder = Path("photos")
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(samples.signed)
    (folder / "sub" / "b.png").write_bytes(samples.png)
    (folder / "line\nbreak.jpg").write_bytes(samples.plain)
    os.mkfifo(folder / "fifo.jpg")
    dup = [("x.jpg", samples.plain), ("x.jpg", samples.plain), ("y.jpg", samples.png)]
    (folder / "dup.tar").write_bytes(tar_bytes(dup))
    Path("t.parquet").write_bytes(parquet_bytes(binary_table(samples)))
    for n in range(2):
        Path(f"s{n}.tar").write_bytes(tar_bytes([(f"{n}.jpg", samples.signed)]))
    Path("list.txt").write_text("photos/a.jpg\nmissing.jpg\n@no-such-list\n-\n@no\x1blist\n", encoding="utf-8")
    fs = fsspec.filesystem("memory")
    root = f"/rightsmark-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{root}/pics/a.jpg", samples.plain)
    fs.pipe(f"{root}/pics/evil\nname.jpg", samples.plain)
    fs.pipe(f"{root}/pics/shard.tar", tar_bytes([("m.jpg", samples.signed)]))
    fs.pipe(f"{root}/t.parquet", parquet_bytes(binary_table(samples)))
    base = f"memory://{root}"
    specs = ["-", "photos", "s{0..1}.tar", "t.parquet", "photos/a.jpg", "missing.jpg", "@list.txt",
             f"{base}/pics/", f"{base}/t.parquet", f"{base}/pics/a.jpg", f"{base}/absent.jpg"]  # fmt: skip
    try:
        expected = _seen(open_sources(specs, stdin=io.StringIO("photos/sub\n")))
        units = pack(work_units(specs, stdin=io.StringIO("photos/sub\n")), 2)
        got = _seen(item for unit in units for item in open_unit(unit))
    finally:
        fs.rm(root, recursive=True)
    assert got == expected
    assert len(expected) == 32
    assert all(len(unit.names) <= 2 for unit in units)
    assert [unit.names for unit in units if unit.whole] == [
        ("photos/dup.tar",), ("s0.tar",), ("s1.tar",), ("t.parquet",), (f"{base}/pics/shard.tar",),
        (f"{base}/t.parquet",),
    ]  # fmt: skip
    refused = {key: error for key, _, _, error, _ in got if error}
    assert refused[f"{base}/pics/evil\\nname.jpg"].startswith("the name contains a control character")
    assert refused["photos/line\\nbreak.jpg"].startswith("the name contains a control character")
    assert refused["no\\x1blist"] == "no such list file"
    assert [r for *_, r in got if r] == ["duplicate-key", "duplicate-key"]
    assert {"missing.jpg", "no-such-list", "-", f"{base}/absent.jpg"} <= set(refused)


def test_pack_keeps_order_and_size_and_leaves_containers_alone() -> None:
    from rightsmark.ray.plan import pack
    from rightsmark.sources.base import WorkUnit

    units = [
        WorkUnit("paths", ("a",)),
        WorkUnit("paths", ("b",)),
        WorkUnit("paths", ("c",)),
        WorkUnit("specs", ("s.tar",), whole=True),
        WorkUnit("paths", ("d",)),
        WorkUnit("errors", ("e",), ("why",)),
        WorkUnit("objects", ("k1",), ("p1",), base="memory://x/"),
        WorkUnit("objects", ("k2",), ("p2",), base="memory://y/"),
    ]
    assert pack(units, 2) == [
        WorkUnit("paths", ("a", "b")),
        WorkUnit("paths", ("c",)),
        WorkUnit("specs", ("s.tar",), whole=True),
        WorkUnit("paths", ("d",)),
        WorkUnit("errors", ("e",), ("why",)),
        WorkUnit("objects", ("k1",), ("p1",), base="memory://x/"),
        WorkUnit("objects", ("k2",), ("p2",), base="memory://y/"),
    ]
    assert WorkUnit.from_json(units[-1].to_json()) == units[-1]


def test_every_command_walks_a_folder_the_same_way(tmp_path: Path) -> None:
    """verify (local and planned), sign and watch see one walk: sorted, each folder's files before its
    subfolders, hidden names skipped, a link to a folder not followed; sign leaves backups out and watch
    takes only regular files (a FIFO or a dangling link is verified and reported, never watched)."""
    from rightsmark.ray.plan import plan
    from rightsmark.sign.batch import BACKUP_SUFFIX
    from rightsmark.sign.batch import plan as sign_plan
    from rightsmark.sign.watch import Watcher
    from rightsmark.sources.fs import walk_files
    from rightsmark.verify.verifier import Verifier

    folder = tmp_path / "in"
    for name in ("b/2.jpg", "a/1.jpg", "a/deep/3.jpg", "z.jpg", ".hidden.jpg", ".git/x.jpg", f"p.jpg{BACKUP_SUFFIX}"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"not an image")
    (folder / "link-dir").symlink_to(folder / "a")
    (folder / "link.jpg").symlink_to(folder / "z.jpg")
    (folder / "dangling.jpg").symlink_to(folder / "nowhere")
    os.mkfifo(folder / "fifo.jpg")
    top = str(folder)
    walked = [os.path.relpath(p, top) for p in walk_files(top)]
    assert walked == ["dangling.jpg", "fifo.jpg", "link.jpg", f"p.jpg{BACKUP_SUFFIX}", "z.jpg", "a/1.jpg",
                      "a/deep/3.jpg", "b/2.jpg"]  # fmt: skip
    files = [os.path.join(top, p) for p in walked]
    assert [i.key for i in PathSource([top])] == files
    assert [name for unit in plan([top]) for name in unit.names] == files
    with Verifier() as verifier:
        assert [r.path for r in verifier.verify_paths([top])] == files
    signed = [str(p.source) for p in sign_plan([folder], output=tmp_path / "out", in_place=False)]
    assert signed == [f for f in files if not f.endswith(BACKUP_SUFFIX)]
    clock = iter([0.0, 10.0])
    watcher = Watcher(folder, settle=1.0, clock=lambda: next(clock))
    assert watcher.poll() == []
    regular = ["link.jpg", "z.jpg", "a/1.jpg", "a/deep/3.jpg", "b/2.jpg"]
    assert watcher.poll() == [folder / p for p in regular]


def test_sources_modules_import_no_cycle_and_the_interface_no_plug_in() -> None:
    """``rightsmark.sources`` is layered: the interface (base, guard) imports no plug-in, and no module
    of the package imports, even lazily, one that imports it back."""
    import ast

    package = Path(__file__).resolve().parents[1] / "src" / "rightsmark" / "sources"
    graph: dict[str, set[str]] = {}
    for file in package.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rightsmark.sources"):
                found.add((node.module or "").removeprefix("rightsmark.sources").lstrip(".") or "__init__")
        graph[file.stem] = found - {file.stem}
    assert graph["guard"] == set()
    assert graph["base"] == {"guard"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m, set())] == []
