"""Verification on a Ray cluster: the Ray Data adapter and ``rightsmark verify --engine ray``.

A real local Ray cluster (2 CPUs, started here, listening on 127.0.0.1 only), real images signed here,
tar shards and Parquet files on local disk and on a real S3 server (moto's, on 127.0.0.1). Every result
is compared record by record with the local engine's on the same inputs.
"""

from __future__ import annotations

import io
import json
import os
import tarfile

# Before Ray is imported: a cluster bound to 127.0.0.1 (Ray reads this when imported) and no usage reports.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import logging
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.data

import rightsmark.ray
from rightsmark.keys.devca import KeyFiles
from rightsmark.keys.material import SigningMaterial
from rightsmark.ray.engine import UnitVerifier, verify_units
from rightsmark.ray.plan import plan
from rightsmark.rights.licenses import parse_license
from rightsmark.sign.signer import Signer
from rightsmark.sources.base import WorkUnit as Unit
from rightsmark.verify.bulk import verify_source
from rightsmark.verify.policy import Policy

from .conftest import open_rights
from .test_bulk import flip_byte, tiny_image
from .test_sources import aws_test_environment, parquet_bytes, tar_bytes

Cli = Callable[..., Any]


# ---------------------------------------------------------------------------------------------
# The cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs on 127.0.0.1; yields its address (for ``--address``)."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        configure_logging=False,
        logging_level=logging.ERROR,
    )
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:")
        yield address
    finally:
        ray.shutdown()


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def listening_addresses(pids: set[int]) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp* shows them) of the TCP sockets ``pids`` listen on."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*") if Path(f"/proc/{pid}/fd").exists() else ():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                out.append(cols[1].split(":")[0])
    return out


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_the_cluster_listens_on_loopback_only(cluster: str) -> None:
    """Nothing Ray started here (nor this process) accepts connections from beyond 127.0.0.1."""
    addresses = listening_addresses(_descendants(os.getpid()))
    assert len(addresses) >= 3  # the GCS, the raylet, this driver's core worker, ...
    assert set(addresses) <= LOOPBACK, addresses


# ---------------------------------------------------------------------------------------------
# Data: the same images as files, tar shards and a Parquet file, on disk and in S3


@dataclass(frozen=True)
class Data:
    root: Path
    images: dict[str, bytes]  # name -> bytes


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Data:
    """Kept, dropped, tampered, unsigned, garbage; 000000.tar, 000001.tar, a cut shard, a Parquet file, a folder."""
    root = tmp_path_factory.mktemp("ray")
    raw, signed = root / "raw", root / "signed"
    nc = open_rights(license=parse_license("CC-BY-NC-4.0"))
    for i in range(8):
        rights = nc if i % 4 == 1 else open_rights()
        signer.sign_file(tiny_image(raw / f"s{i}.jpg", i), signed / f"s{i}.jpg", rights)
    flip_byte(signed / "s2.jpg")  # tampered
    images = {f"{i:06d}.jpg": (signed / f"s{i}.jpg").read_bytes() for i in range(8)}
    images["000008.jpg"] = tiny_image(raw / "u8.jpg", 8).read_bytes()  # unsigned
    images["000009.png"] = tiny_image(raw / "u9.png", 9, "PNG").read_bytes()
    images["000010.jpg"] = os.urandom(1500)  # garbage named like a JPEG
    names = sorted(images)
    shards = root / "shards"
    shards.mkdir()
    for n, chunk in enumerate((names[:6], names[6:])):
        members = [m for name in chunk for m in ((name, images[name]), (name.split(".")[0] + ".json", b"{}"))]
        (shards / f"{n:06d}.tar").write_bytes(tar_bytes(members))
    (root / "cut.tar").write_bytes(tar_bytes([(n, images[n]) for n in names[:3]])[:9000])
    table = pa.table({"__key__": names, "jpg": pa.array([images[n] for n in names], pa.binary())})
    (root / "images.parquet").write_bytes(parquet_bytes(table, row_group_size=4))
    (root / "files").mkdir()
    for name in names:
        (root / "files" / name).write_bytes(images[name])
    return Data(root, images)


@pytest.fixture
def policy(keys: KeyFiles) -> Policy:
    return Policy(anchors=(keys.ca,))


def local_records(specs: list[str], policy: Policy, **kw: Any) -> dict[str, dict[str, Any]]:
    """The local engine's records, by key; every key once."""
    records = [r.to_dict() for r in verify_source(specs, policy, jobs=1, **kw)]
    by_key = {r["path"]: r for r in records}
    assert len(by_key) == len(records)
    return by_key


def without_path(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("path", "sample")}


def without_sample(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its sample: the Ray Data adapter sees rows, not the sample a source names (issue 13)."""
    return {k: v for k, v in record.items() if k != "sample"}


# ---------------------------------------------------------------------------------------------
# rightsmark.ray.verify inside a Ray Data pipeline


def test_adapter_over_webdataset_binary_files_and_parquet(cluster: str, data: Data, policy: Policy) -> None:
    root = data.root
    shard_paths = [str(root / "shards" / f"{n:06d}.tar") for n in range(2)]
    local = local_records(shard_paths, policy)
    assert len(local) == len(data.images)
    assert Counter(r["decision"] for r in local.values()) == {"keep": 5, "drop": 6}

    rows = rightsmark.ray.verify(ray.data.read_webdataset(shard_paths, decoder=None), policy, concurrency=1).take_all()
    got = {r["rightsmark_key"]: r for r in rows}
    assert len(got) == len(rows) == len(data.images)
    assert set(got) == set(local)  # URL/KEY.EXT: the tar source's SHARD/MEMBER
    for key, row in got.items():
        assert without_sample(json.loads(row["rightsmark_record"])) == without_sample(local[key])
        assert row["decision"] == local[key]["decision"]
        assert row["reason_codes"] == [r["code"] for r in local[key]["reasons"]]
        assert row["jpg"] is not None or row["png"] is not None  # the input columns stay

    files = local_records([str(root / "files")], policy)
    rows = rightsmark.ray.verify(ray.data.read_binary_files(str(root / "files"), include_paths=True), policy).take_all()
    assert {r["rightsmark_key"]: without_sample(json.loads(r["rightsmark_record"])) for r in rows} == {
        k: without_sample(r) for k, r in files.items()
    }
    assert all(r["path"] == r["rightsmark_key"] for r in rows)  # the input's "path" column is kept

    table = str(root / "images.parquet")
    by_row = {k.rsplit("#", 1)[1]: without_path(r) for k, r in local_records([table], policy).items()}
    rows = rightsmark.ray.verify(ray.data.read_parquet(table), policy, batch_size=4).take_all()
    assert {r["__key__"]: without_path(json.loads(r["rightsmark_record"])) for r in rows} == by_row
    assert by_row == {key.rsplit("/", 1)[1]: without_path(r) for key, r in local.items()}  # the same images


def test_adapter_rows_without_image_bytes_get_error_records(cluster: str, policy: Policy) -> None:
    ds = ray.data.from_items(
        [
            {"id": "a", "image": {"bytes": None, "path": "elsewhere.jpg"}},
            {"id": "b", "image": {"bytes": b"\xff\xd8\xff\xe0garbage", "path": "b.jpg"}},
            {"id": "c", "image": None},
        ]
    )
    rows = {r["id"]: r for r in rightsmark.ray.verify(ds, policy, concurrency=1).take_all()}
    assert set(rows) == {"a", "b", "c"}
    assert all(r["decision"] == "drop" for r in rows.values())
    assert rows["a"]["integrity"] == rows["c"]["integrity"] == "error"
    assert "stored by path (elsewhere.jpg)" in rows["a"]["error"]
    assert "no image bytes" in rows["c"]["error"]
    assert rows["a"]["rightsmark_key"] == "a"


# ---------------------------------------------------------------------------------------------
# rightsmark verify --engine ray


def shard_records(directory: Path | str, fmt: str, fs: Any = None) -> list[dict[str, Any]]:
    """Every record in the report shards under ``directory``."""
    import fsspec

    fs = fs or fsspec.filesystem("file")
    out: list[dict[str, Any]] = []
    names = sorted(p for p in fs.find(str(directory)) if p.endswith("." + fmt))
    assert names, f"no .{fmt} shards under {directory}"
    for name in names:
        with fs.open(name, "rb") as fh:
            if fmt == "parquet":
                table = pq.read_table(fh)
                assert table.column_names[:3] == ["path", "decision", "reason_codes"]
                for row in table.to_pylist():
                    record = json.loads(row["record"])
                    assert row["path"] == record["path"] and row["decision"] == record["decision"]
                    out.append(record)
            else:
                out += [json.loads(line) for line in fh.read().decode().splitlines()]
    return out


def by_key_once(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    counts = Counter(r["path"] for r in records)
    assert [k for k, n in counts.items() if n > 1] == []
    return {r["path"]: r for r in records}


def test_cli_ray_engine_local_shards_and_parquet(cli: Cli, cluster: str, data: Data, keys: KeyFiles) -> None:
    root = data.root
    specs = [f"{root}/shards/{{000000..000001}}.tar", str(root / "cut.tar"), str(root / "images.parquet")]
    local = local_records(specs, Policy(anchors=(keys.ca,)))
    # the cut shard: the members before the damage, then one error record; nothing silently lost
    cut = {k: r for k, r in local.items() if "cut.tar" in k}
    assert len(cut) >= 1 and any(r["integrity"] == "error" and "truncated" in r["error"] for r in cut.values())

    out = root / "report-parquet"
    res = cli("verify", *specs, "--engine", "ray", "--address", cluster, "--trust", keys.ca, "-o", out, "--keep-list",
              root / "keep.txt")  # fmt: skip
    assert res.returncode == 1, res.stderr  # some files are dropped
    assert by_key_once(shard_records(out, "parquet")) == local
    kept = (root / "keep.txt").read_text().splitlines()
    assert sorted(kept) == sorted(k for k, r in local.items() if r["decision"] == "keep")
    assert f"verified {len(local)} files" in res.stderr
    assert "integrity-invalid" in res.stderr  # the summary names the reasons

    # one report file: byte for byte what the local engine writes
    res = cli(
        "verify", *specs, "--engine", "ray", "--address", cluster, "--trust", keys.ca, "-o", root / "ray.jsonl", "-q"
    )
    assert res.returncode == 1 and res.stderr.count("rightsmark: ") == sum(
        1 for r in local.values() if r["integrity"] == "error"
    ), res.stderr
    ref = cli("verify", *specs, "--trust", keys.ca, "-o", root / "local.jsonl", "-q")
    assert ref.returncode == 1
    assert (root / "ray.jsonl").read_bytes() == (root / "local.jsonl").read_bytes()


def test_cli_ray_engine_usage_errors(cli: Cli, tmp_path: Path) -> None:
    res = cli("verify", tmp_path, "--engine", "ray", "--resume", "-o", tmp_path / "r.jsonl")
    assert res.returncode == 2 and "--resume" in res.stderr
    res = cli("verify", tmp_path, "--address", "auto")
    assert res.returncode == 2 and "--engine ray" in res.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old.parquet").write_bytes(b"x")
    res = cli("verify", tmp_path, "--engine", "ray", "-o", tmp_path / "busy")
    assert res.returncode == 2 and "not empty" in res.stderr
    res = cli("verify", tmp_path, "--engine", "ray", "-o", tmp_path / "new", "-f", "csv")
    assert res.returncode == 2 and "parquet or jsonl" in res.stderr


# ---------------------------------------------------------------------------------------------
# Object storage: a real S3 server on 127.0.0.1


@dataclass(frozen=True)
class S3:
    bucket: str
    endpoint: str
    options: dict[str, Any]


@pytest.fixture(scope="module")
def s3(data: Data, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(15)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"rightsmark-ray-{uuid.uuid4().hex[:8]}"
    root = data.root
    objects = {
        "shards/000000.tar": (root / "shards" / "000000.tar").read_bytes(),
        "shards/000001.tar": (root / "shards" / "000001.tar").read_bytes(),
        "cut/000000.tar": (root / "cut.tar").read_bytes(),
        "tables/images.parquet": (root / "images.parquet").read_bytes(),
        **{f"images/{name}": blob for name, blob in data.images.items()},
    }
    config = tmp_path_factory.mktemp("aws") / "none"
    try:
        with pytest.MonkeyPatch.context() as env:  # dummy credentials only while this fixture works
            aws_test_environment(env, config)
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket=bucket)
            for key, blob in objects.items():
                client.put_object(Bucket=bucket, Key=key, Body=blob)
        yield S3(bucket, endpoint, {"endpoint_url": endpoint, "key": "testing", "secret": "testing"})
    finally:
        server.stop()


def test_cli_ray_engine_from_and_to_s3(
    cli: Cli, cluster: str, data: Data, s3: S3, keys: KeyFiles, tmp_path: Path
) -> None:
    import s3fs

    base = f"s3://{s3.bucket}"
    specs = [f"{base}/shards/{{000000..000001}}.tar", f"{base}/cut/000000.tar", f"{base}/tables/images.parquet",
             f"{base}/images/"]  # fmt: skip
    options = [f"--storage-option={k}={v}" for k, v in s3.options.items()]
    local = local_records(specs, Policy(anchors=(keys.ca,)), storage_options=s3.options)
    cut = [r for k, r in local.items() if "/cut/" in k]
    assert cut[-1]["integrity"] == "error" and "truncated" in cut[-1]["error"]
    assert len(local) == 3 * len(data.images) + len(cut)  # shards, Parquet rows, the listing; the cut shard
    env = {"AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    res = cli("verify", *specs, *options, "--engine", "ray", "--address", cluster, "--trust", keys.ca, "-o",
              f"{base}/reports/", "-f", "jsonl", env=env)  # fmt: skip
    assert res.returncode == 1, res.stderr
    fs = s3fs.S3FileSystem(**{k: v for k, v in s3.options.items() if k != "endpoint_url"},
                           client_kwargs={"endpoint_url": s3.endpoint})  # fmt: skip
    assert by_key_once(shard_records(f"{s3.bucket}/reports", "jsonl", fs)) == local


# ---------------------------------------------------------------------------------------------
# A worker killed mid-run loses nothing


class KillingVerifier(UnitVerifier):
    """Kills its own worker process the first time it meets the unit holding the marker file."""

    marker = "000005.jpg"
    guard = ""  # a file created when the kill happens, so that it happens once

    def verify_unit(self, unit: Unit) -> Iterator[Any]:
        if any(name.endswith(self.marker) for name in unit.names) and self.guard:
            try:
                os.close(os.open(self.guard, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass  # killed once already: the retried unit runs normally
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        yield from super().verify_unit(unit)


def test_a_killed_worker_loses_no_key(cluster: str, data: Data, policy: Policy, tmp_path: Path) -> None:

    folder = str(data.root / "files")
    units = plan([folder], unit_files=2)
    assert len(units) == 6
    guard = tmp_path / "killed-once"
    KillingVerifier.guard = str(guard)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the class travels to the workers
    try:
        rows = verify_units(units, policy, trust=policy.trust_sources(), jobs=2, verifier=KillingVerifier).take_all()
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        KillingVerifier.guard = ""
    assert guard.exists()  # a worker was killed
    got = by_key_once([json.loads(r["record"]) for r in rows])
    assert got == local_records([folder], policy)


def test_ray_engine_never_trusts_a_borrowed_chain(
    cluster: str, tmp_path: Path, material: SigningMaterial, keys: KeyFiles
) -> None:
    """Forged files (Mallory's signature, a trusted chain beside hers) before and after legitimate ones,
    in units of two files (each unit one actor's reading with its own per-chain trust cache)."""
    from rightsmark.keys.devca import init_keys
    from rightsmark.keys.material import load_signing_material

    from .forge import forged_batch
    from .test_forged_chains import assert_forgeries_refused

    files = init_keys(tmp_path / "mallory", subject="Mallory", organization="Mallory CA")
    folder = forged_batch(tmp_path, material, load_signing_material(files.key, files.chain))
    policy = Policy(anchors=(keys.ca,))
    rows = verify_units(plan([str(folder)], unit_files=2), policy, trust=policy.trust_sources(), jobs=2).take_all()
    records = by_key_once([json.loads(r["record"]) for r in rows])
    assert_forgeries_refused({Path(k).name: r for k, r in records.items()})


def test_ray_engine_refuses_hostile_items_like_the_local_engine(cluster: str, tmp_path: Path, policy: Policy) -> None:
    """Special files, items over --max-item-size and duplicate tar members: the same records on Ray as locally."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(tiny_image(tmp_path / "raw.jpg", 1).read_bytes())
    (folder / "big.jpg").write_bytes(b"\xff\xd8" + b"\0" * 5000)
    os.mkfifo(folder / "fifo.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    shard = tmp_path / "dup.tar"
    image = (folder / "a.jpg").read_bytes()
    shard.write_bytes(tar_bytes([("x.jpg", image), ("x.jpg", image), ("y.jpg", image)]))
    specs = [str(folder), str(shard)]
    records = [r.to_dict() for r in verify_source(specs, policy, jobs=1, max_item_size=4096)]
    rows = verify_units(plan(specs), policy, trust=policy.trust_sources(), jobs=2, max_item_size=4096).take_all()
    got = [json.loads(r["record"]) for r in rows]
    assert sorted(got, key=json.dumps) == sorted(records, key=json.dumps)  # duplicate keys: one record each
    local = {r["path"]: r for r in records}
    assert "not a regular file" in (local[str(folder / "fifo.jpg")]["error"] or "")
    assert "not a regular file" in (local[str(folder / "zero.jpg")]["error"] or "")
    assert "max-item-size" in (local[str(folder / "big.jpg")]["error"] or "")
    dups = [r for k, r in local.items() if k.endswith("x.jpg") and "dup.tar" in k]
    assert dups and all([x["code"] for x in r["reasons"]] == ["duplicate-key"] for r in dups)


def test_the_core_never_imports_ray() -> None:
    code = (
        "import sys, rightsmark, rightsmark._cli, rightsmark.ray.engine, rightsmark.verify.bulk;"
        " print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
    help_text = subprocess.run(
        [sys.executable, "-m", "rightsmark", "verify", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "--engine" in help_text and "--address" in help_text


def test_units_yield_exactly_the_local_sources_items(data: Data, s3: S3, tmp_path: Path) -> None:
    """Planning (no Ray): the units' items are open_sources' items, same keys, same order, same bytes."""
    from rightsmark.sources import open_sources
    from rightsmark.sources.dispatch import open_unit as unit_items

    root = data.root
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{root / 'files' / '000001.jpg'}\n# a comment\n{root / 'absent.jpg'}\n@{tmp_path / 'no-list'}\n"
    )
    base = f"s3://{s3.bucket}"
    specs = [str(root / "files"), f"{root}/shards/{{000000..000001}}.tar", str(root / "images.parquet"),
             str(root / "cut.tar"), f"@{listing}", f"{base}/images/", f"{base}/tables/images.parquet",
             f"{base}/absent/"]  # fmt: skip
    units = plan(specs, storage_options=s3.options, unit_files=4, exclude=[root / "files" / "000003.jpg"])
    assert [u.kind for u in units][:4] == ["paths", "paths", "paths", "specs"]
    got = [(i.key, i.data, i.path, i.error) for u in units for i in unit_items(u, None, None, s3.options)]
    expected = [(i.key, i.data, i.path, i.error) for i in open_sources(specs, storage_options=s3.options)]
    assert got == [e for e in expected if not e[0].endswith("files/000003.jpg")]
    assert any(e[3] == "no such list file" for e in got) and any(e[3] == "no such file" for e in got)


def test_shards_found_in_a_directory_or_prefix_are_planned_as_the_local_engine_opens_them(data: Data, s3: S3) -> None:
    """A whole directory or bucket holding tar shards and Parquet files: units open them as shards."""
    from rightsmark.sources import open_sources
    from rightsmark.sources.dispatch import open_unit as unit_items

    specs = [str(data.root), f"s3://{s3.bucket}/"]
    units = plan(specs, storage_options=s3.options, unit_files=8)
    got = [(i.key, i.data, i.path, i.error) for u in units for i in unit_items(u, None, None, s3.options)]
    expected = [(i.key, i.data, i.path, i.error) for i in open_sources(specs, storage_options=s3.options)]
    assert got == expected
    assert any(".tar/" in key for key, *_ in got) and any(".parquet#" in key for key, *_ in got)


def test_nothing_to_verify_is_an_empty_result(cluster: str, policy: Policy) -> None:
    assert verify_units([], policy).take_all() == []


# ---------------------------------------------------------------------------------------------
# rightsmark.ray.read_shards: tar shards read by rightsmark's own tar source (fast checks: test_ray_read.py)


def _verdicts(records: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        k: (r["decision"], [c["code"] for c in r["reasons"]], r["integrity"], r["error"]) for k, r in records.items()
    }


def test_read_shards_gives_the_ray_engines_records_where_rays_reader_crashes_or_loses_samples(
    cli: Cli, cluster: str, data: Data, keys: KeyFiles, tmp_path: Path
) -> None:
    from .test_ray_read import cut_inside

    good = str(data.root / "shards" / "000000.tar")
    whole = (data.root / "shards" / "000001.tar").read_bytes()  # 000006.jpg ... 000010.jpg, each with a .json
    cut, cut_header = tmp_path / "cut.tar", tmp_path / "cut-header.tar"
    cut.write_bytes(cut_inside(whole, "000008.jpg", 300))  # inside an image's data
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        header = next(m.offset for m in archive.getmembers() if m.name == "000008.jpg")
    cut_header.write_bytes(whole[: header + 100])  # inside a member header
    specs = [good, str(cut), str(cut_header)]

    # Ray's own reader: the pipeline stops on the first; the second ends early in silence; told to skip
    # failed blocks (max_errored_blocks), it loses the whole cut shard in silence, samples before the cut too
    with pytest.raises(Exception, match="unexpected end of data"):
        ray.data.read_webdataset(str(cut), decoder=None).take_all()
    assert [r["__key__"] for r in ray.data.read_webdataset(str(cut_header), decoder=None).take_all()] == [
        "000006",
        "000007",
    ]
    context = ray.data.DataContext.get_current()
    before, context.max_errored_blocks = context.max_errored_blocks, -1
    try:
        rows = ray.data.read_webdataset([good, str(cut)], decoder=None).take_all()
    finally:
        context.max_errored_blocks = before
    assert {r["__url__"] for r in rows} == {good}

    policy = Policy(anchors=(keys.ca,))
    rows = rightsmark.ray.verify(rightsmark.ray.read_shards(specs), policy, concurrency=1).take_all()
    got = by_key_once([json.loads(r["rightsmark_record"]) for r in rows])
    res = cli("verify", *specs, "--engine", "ray", "--address", cluster, "--trust", keys.ca, "-o",
              tmp_path / "ray.jsonl", "-q")  # fmt: skip
    assert res.returncode == 1, res.stderr
    engine = by_key_once([json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()])
    assert _verdicts(got) == _verdicts(engine)  # same keys, decisions, reason codes, errors

    # a record per sample of the good shard, its sidecar in the row; the samples before each cut, then one error
    assert sorted(k for k in got if k.startswith(good)) == [f"{good}/{n}" for n in sorted(data.images)[:6]]
    assert all(r["json"] == b"{}" for r in rows if r["rightsmark_key"].startswith(good))
    assert sorted(k for k in got if k.startswith(str(cut) + "/")) == [f"{cut}/00000{i}.jpg" for i in (6, 7, 8)]
    assert got[f"{cut}/000008.jpg"]["integrity"] == "error" and "truncated" in got[f"{cut}/000008.jpg"]["error"]
    assert sorted(k for k in got if k.startswith(str(cut_header))) == [
        str(cut_header),
        *(f"{cut_header}/00000{i}.jpg" for i in (6, 7)),
    ]
    assert "ends inside a member header" in got[str(cut_header)]["error"]
    # 3 + 2 + 1 kept; 2 errors; and cut_header's 000007, whose .json the damage may have taken: its sidecar is
    # unreadable, which fails closed (declared-opt-out), as the engine says too
    assert Counter(r["decision"] for r in got.values()) == {"keep": 6, "drop": 6}
    assert [r["code"] for r in got[f"{cut_header}/000007.jpg"]["reasons"]] == ["declared-opt-out"]


def test_read_shards_from_s3(cluster: str, data: Data, s3: S3, policy: Policy) -> None:
    """A prefix listed on the driver, shards streamed by the workers through fsspec; keys are the local engine's."""
    specs = [f"s3://{s3.bucket}/shards/", f"s3://{s3.bucket}/cut/000000.tar"]
    local = local_records(specs, policy, storage_options=s3.options)
    rows = rightsmark.ray.verify(rightsmark.ray.read_shards(specs, storage_options=s3.options), policy).take_all()
    got = by_key_once([json.loads(r["rightsmark_record"]) for r in rows])
    assert _verdicts(got) == _verdicts(local)
    assert len(got) == len(data.images) + len([k for k in local if "/cut/" in k])
    assert any(r["integrity"] == "error" and "truncated" in r["error"] for k, r in got.items() if "/cut/" in k)


def test_ray_engine_recovers_stripped_files_as_the_local_engine_does(
    cli: Cli, cluster: str, keys: KeyFiles, signer: Signer, tmp_path: Path
) -> None:
    from PIL import Image

    from rightsmark.models import Training, Use
    from rightsmark.repository.ingest import register

    from .conftest import EXAMPLE_IMAGES

    members: dict[str, bytes] = {}
    signed = []
    for i, use in enumerate((Use.ALLOWED, Use.NOT_ALLOWED)):
        out = tmp_path / f"signed{i}.jpg"
        source = tmp_path / f"src{i}.jpg"
        with Image.open(EXAMPLE_IMAGES / "harbour.jpg") as im:  # two different pictures
            (im if i == 0 else im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)).save(source, quality=95)
        signer.sign_file(source, out, open_rights(training=Training(use, use, use, use)))
        signed.append(out)
        with Image.open(out) as im:
            buf = io.BytesIO()
            im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(buf, "JPEG", quality=80)
        members[f"{i:06d}.jpg"] = buf.getvalue()
    assert [r.outcome for r in register(str(tmp_path / "repo.db"), signed)] == ["added", "added"]
    (tmp_path / "shard.tar").write_bytes(tar_bytes(list(members.items())))
    common = [tmp_path / "shard.tar", "--recover", "repo.db", "--trust", keys.ca, "-q", "--keep-unsigned"]
    ray_run = cli("verify", *common, "--engine", "ray", "--address", cluster, "-o", "ray.jsonl", cwd=tmp_path)
    local = cli("verify", *common, "-o", "local.jsonl", cwd=tmp_path)
    assert ray_run.returncode == local.returncode == 1, ray_run.stderr
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    records = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    assert [r["decision"] for r in records] == ["keep", "drop"]  # kept unsigned / the recovered notAllowed drops
    assert all(r["recovered"] and r["recovered"]["method"] == "fingerprint" for r in records)
    assert [r["code"] for r in records[1]["reasons"]] == ["permission-not-allowed"]
