"""Opt-outs a crawler recorded beside the images reach the decision, through the real CLI, for every dataset
layout: a WebDataset sample's ``.json``, an img2dataset folder's ``NNNN.json``, a Parquet row's columns.
(The sources read the values raw, ``rights.signals`` says what they mean, the policy drops; issue 13.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rightsmark.models import SignalSource

from .conftest import EXAMPLE_IMAGES, CliResult
from .test_sources import tar_bytes as shard

Cli = Callable[..., CliResult]
UNSIGNED = (EXAMPLE_IMAGES / "harbour.jpg").read_bytes()


def sidecar(url: str, **headers: str) -> bytes:
    return json.dumps({"url": url, "status": "success", "headers": headers}).encode()


def records(result: CliResult) -> dict[str, dict[str, Any]]:
    assert result.returncode in (0, 1), result.stderr
    return {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, result.stdout.splitlines())}


def opted_out(record: dict[str, Any]) -> list[str]:
    return [d["name"] for d in record["declared"] if "notAllowed" in d["uses"].values()]


def test_headers_in_a_webdataset_sample_json_drop_an_unsigned_image(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "s.tar").write_bytes(
        shard(
            [
                ("a.jpg", UNSIGNED),
                ("a.json", sidecar("https://example.com/a", **{"X-Robots-Tag": "noai"})),
                ("b.jpg", UNSIGNED),
                ("b.json", sidecar("https://example.com/b", **{"tdm-reservation": "1"})),
                ("c.jpg", UNSIGNED),
                ("c.json", sidecar("https://example.com/c", **{"Content-Usage": "train-ai=n"})),
                ("d.jpg", UNSIGNED),
                ("d.json", sidecar("https://example.com/d", **{"X-Robots-Tag": "noindex"})),
                ("e.jpg", UNSIGNED),
                ("e.json", b"{not json"),
            ]
        )
    )
    got = records(cli("verify", str(tmp_path / "s.tar"), "--keep-unsigned", "-f", "jsonl"))
    assert {k: r["decision"] for k, r in got.items()} == {
        "a.jpg": "drop", "b.jpg": "drop", "c.jpg": "drop", "d.jpg": "keep", "e.jpg": "drop",
    }  # fmt: skip
    for key, signal in (("a.jpg", "X-Robots-Tag"), ("b.jpg", "tdm-reservation"), ("c.jpg", "Content-Usage")):
        assert [r["code"] for r in got[key]["reasons"]] == ["declared-opt-out"]
        assert opted_out(got[key]) == [signal]
        assert got[key]["declared"][0]["source"] == "sidecar"
    assert got["d.jpg"]["declared"][0]["name"] == "X-Robots-Tag" and opted_out(got["d.jpg"]) == []
    assert "unreadable" in got["e.jpg"]["reasons"][0]["message"]  # a sidecar that cannot be read fails closed
    assert got["a.jpg"]["sample"]["url"] == "https://example.com/a"


def test_headers_in_an_img2dataset_folder_drop_an_unsigned_image(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "00000"
    folder.mkdir()
    for stem, headers in (("000000000", {"X-Robots-Tag": "noimageai"}), ("000000001", {})):
        (folder / f"{stem}.jpg").write_bytes(UNSIGNED)
        (folder / f"{stem}.json").write_bytes(sidecar(f"https://example.com/{stem}", **headers))
        (folder / f"{stem}.txt").write_text("a caption")
    got = records(cli("verify", str(tmp_path), "--keep-unsigned", "-f", "jsonl"))
    assert sorted(got) == ["000000000.jpg", "000000001.jpg"]  # the sidecars are metadata, not images
    assert got["000000000.jpg"]["decision"] == "drop" and opted_out(got["000000000.jpg"]) == ["X-Robots-Tag"]
    assert got["000000001.jpg"]["decision"] == "keep"


def test_header_columns_of_a_parquet_row_drop_its_image(cli: Cli, tmp_path: Path) -> None:
    table = pa.table(
        {
            "image": [UNSIGNED, UNSIGNED, UNSIGNED],
            "key": ["r0", "r1", "r2"],
            "x_robots_tag": ["noai", None, None],
            "Content-Usage": [None, None, "train-genai=n"],
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    result = cli(
        "verify", str(tmp_path / "rows.parquet"), "--keep-unsigned", "--purpose", "ai_generative_training",
        "--key-column", "key", "-f", "jsonl",
    )  # fmt: skip
    got = {r["sample"]["key"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {k: r["decision"] for k, r in got.items()} == {"r0": "drop", "r1": "keep", "r2": "drop"}
    assert got["r0"]["declared"][0]["source"] == "column"
    assert opted_out(got["r2"]) == ["Content-Usage"]


def test_every_name_the_signal_table_knows_is_read_from_columns(cli: Cli, tmp_path: Path) -> None:
    """A ``data_mining`` column (the table's alias of ``plus:DataMining``) is read like the headers are."""
    table = pa.table({"image": [UNSIGNED, UNSIGNED], "key": ["r0", "r1"], "data_mining": ["DMI-PROHIBITED", None]})
    pq.write_table(table, tmp_path / "rows.parquet")
    result = cli("verify", str(tmp_path / "rows.parquet"), "--keep-unsigned", "--key-column", "key", "-f", "jsonl")
    got = {r["sample"]["key"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {k: r["decision"] for k, r in got.items()} == {"r0": "drop", "r1": "keep"}
    assert opted_out(got["r0"]) == ["plus:DataMining"]


def test_a_header_stated_twice_in_a_sidecar_fails_closed(cli: Cli, tmp_path: Path) -> None:
    """JSON readers keep the last of two equal keys: ``noai`` then ``all`` must not read as ``all``."""
    twice = b'{"url": "https://example.com/a", "X-Robots-Tag": "noai", "x_robots_tag": "all"}'
    (tmp_path / "s.tar").write_bytes(shard([("a.jpg", UNSIGNED), ("a.json", twice)]))
    got = records(cli("verify", str(tmp_path / "s.tar"), "--keep-unsigned", "-f", "jsonl"))
    assert got["a.jpg"]["decision"] == "drop"
    assert "stated twice" in got["a.jpg"]["reasons"][0]["message"]


def test_a_stored_signal_is_read_through_the_table_again() -> None:
    """The facts cache and the Ray driver store signals with their meaning; reading one back trusts the
    table, not the stored ``uses`` (a stale or edited cache cannot turn an opt-out into nothing)."""
    from rightsmark.rights import signals

    stored = signals.declare("X-Robots-Tag", "noai", SignalSource.SIDECAR, "sidecar a.json").to_dict()
    stored["uses"] = dict.fromkeys(stored["uses"], "allowed")
    assert signals.from_dict(stored) == signals.declare("X-Robots-Tag", "noai", SignalSource.SIDECAR, "sidecar a.json")
