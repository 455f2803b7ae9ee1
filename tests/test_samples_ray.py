"""``verify --engine ray`` gives the local engine's samples, keep lists and non-image counts (issue 13).

One test (a real local Ray cluster is slow to use): a folder as img2dataset writes it, a WebDataset
shard with a duplicate member, a Parquet file with repeated paths; one report file and report shards.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import CliResult
from .test_samples import JPEG, img2dataset_folder, shard
from .test_samples_cli import dataset_shard, signed  # noqa: F401 (a fixture)

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a local Ray cluster of 2 CPUs on 127.0.0.1: the one tests/test_ray.py started for the
    session when it is running, else one started here for this module."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_engine_reports_the_local_samples_and_keep_lists(
    cli: Cli,
    cluster: str,
    tmp_path: Path,
    keys: Any,
    signed: bytes,  # noqa: F811
) -> None:
    img2dataset_folder(tmp_path / "out", 4)
    (tmp_path / "s.tar").write_bytes(dataset_shard(signed))
    (tmp_path / "dup.tar").write_bytes(shard([("x.jpg", signed), ("x.json", b"{}"), ("x.jpg", signed)]))
    table = pa.table(
        {"image": [{"bytes": b, "path": "i.jpg"} for b in (signed, JPEG, signed)], "x_robots_tag": ["noai", None, None]}
    )
    pq.write_table(table, tmp_path / "t.parquet")
    specs = [str(tmp_path / name) for name in ("out", "s.tar", "dup.tar", "t.parquet")]  # Ray workers: another cwd
    common = ("--trust", keys.ca, "--keep-unsigned", "--keep-list-form", "sample")
    ray = ("--engine", "ray", "--address", cluster)

    local = cli("verify", *specs, *common, "-o", "local.jsonl", "--keep-list", "local.keep")
    on_ray = cli("verify", *specs, *common, *ray, "-o", "ray.jsonl", "--keep-list", "ray.keep")
    assert local.returncode == on_ray.returncode == 1, on_ray.stderr
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.keep").read_bytes() == (tmp_path / "local.keep").read_bytes()
    records = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["reasons"][0]["code"] for r in records if "/dup.tar/" in r["path"]] == ["duplicate-key"] * 2
    assert {r["sample"]["key_from"] for r in records} == {"path", "__key__", "column:image.path"}
    line = "not images, not verified: 14 sidecars read as the metadata of their images and 2 other files"
    assert line in local.stderr and line in on_ray.stderr
    for name in ("local", "ray"):
        description = json.loads((tmp_path / f"{name}.jsonl.meta.json").read_text(encoding="utf-8"))
        assert description["non_images"] == {"sidecars": 14, "others": 2, "reported": False}

    # report shards: the records and the keep list are the same (non-image files are not counted there)
    shards = cli("verify", *specs, *common, *ray, "-o", "shards/", "-f", "jsonl", "--keep-list", "shards.keep")
    assert shards.returncode == 1, shards.stderr
    got = [
        json.loads(line) for p in sorted((tmp_path / "shards").glob("*.jsonl")) for line in p.read_text().splitlines()
    ]
    assert sorted(got, key=json.dumps) == sorted(records, key=json.dumps)
    assert (tmp_path / "shards.keep").read_bytes() == (tmp_path / "local.keep").read_bytes()
