"""Sample identity and sidecar values (issue 13), source by source, on real inputs.

Tar shards are written with tarfile in the WebDataset layout (members in the order WebDataset's own
writer puts them: each sample's members sorted by extension, so an image comes before its ``.json``),
Parquet files by pyarrow, img2dataset folders as img2dataset's files writer lays them out.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rightsmark.models import Sample, SignalSource
from rightsmark.sources import open_sources
from rightsmark.sources.base import OTHER, SIDECAR, UNREADABLE, Item, SidecarValue
from rightsmark.sources.sidecars import MAX_SIDECAR_BYTES, MAX_VALUE_CHARS, MAX_VALUES, ColumnReader, from_json

from .conftest import EXAMPLE_IMAGES
from .test_sources import tar_bytes as shard

JPEG = (EXAMPLE_IMAGES / "harbour.jpg").read_bytes()
PNG = (EXAMPLE_IMAGES / "market.png").read_bytes()


def wds_sample(
    key: str, image: bytes, meta: dict[str, Any] | None, caption: str = "a caption"
) -> list[tuple[str, bytes]]:
    """One sample as WebDataset's TarWriter writes it (members sorted by extension: jpg, json, txt)."""
    members = [(f"{key}.jpg", image)]
    if meta is not None:
        members.append((f"{key}.json", json.dumps(meta, indent=4).encode()))
    return [*members, (f"{key}.txt", caption.encode())]


def webdataset_key(name: str) -> str:
    """WebDataset's own rule (webdataset.tariterators.base_plus_ext), for comparison."""
    match = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", name)
    assert match is not None
    return match.group(1)


def values(item: Item) -> list[tuple[str, str]]:
    return [(v.name, v.value) for v in item.sidecar]


# ---------------------------------------------------------------------------------------------
# Tar shards


@pytest.mark.parametrize("gz", [False, True])
def test_tar_samples_are_webdataset_samples_with_their_json_sidecar(tmp_path: Path, gz: bool) -> None:
    members = [
        *wds_sample("000000000", JPEG, {"url": "https://example.com/a.jpg", "status": "success"}),
        *wds_sample("000000001", JPEG, {"url": "https://example.com/b.jpg", "X-Robots-Tag": "noai, noimageai"}),
        *wds_sample("000000002", JPEG, None),
        ("part/a.b.png", PNG),  # WebDataset: key part/a, suffix b.png
        ("part/a.b.json", b'{"url": "https://example.com/ab.png"}'),  # suffix b.json: not the sample's .json
        ("part/a.json", b'{"headers": {"content-usage": "train-ai=n"}, "license": "CC-BY-NC-4.0"}'),
        ("__stats__.txt", b"written by a crawler"),
    ]
    name = "s.tar.gz" if gz else "s.tar"
    (tmp_path / name).write_bytes(shard(members, gz=gz))
    spec = str(tmp_path / name)
    items = list(open_sources([spec]))
    assert [i.key for i in items] == [
        f"{spec}/{m}" for m in ("000000000.jpg", "000000001.jpg", "000000002.jpg", "part/a.b.png")
    ]
    assert [i.sample for i in items] == [
        Sample(spec, "000000000", "__key__", None, "https://example.com/a.jpg"),
        Sample(spec, "000000001", "__key__", None, "https://example.com/b.jpg"),
        Sample(spec, "000000002", "__key__", None, None),
        Sample(spec, "part/a", "__key__", None, None),
    ]
    assert [i.sample.key for i in items if i.sample] == [webdataset_key(i.key[len(spec) + 1 :]) for i in items]
    assert values(items[0]) == []
    assert values(items[1]) == [("X-Robots-Tag", "noai, noimageai")]
    assert items[1].sidecar[0].source is SignalSource.SIDECAR
    assert items[1].sidecar[0].where == f"sidecar {spec}/000000001.json"
    assert values(items[3]) == [("license", "CC-BY-NC-4.0"), ("Content-Usage", "train-ai=n")]
    assert items[3].sidecar[1].where == f"sidecar {spec}/part/a.json (headers)"
    # the members that are not images are sidecars of their sample or other members, never verified
    every = list(open_sources([spec], non_images=True))
    roles = {i.key[len(spec) + 1 :]: i.role for i in every if i.role != "image"}
    assert roles == {
        "000000000.json": SIDECAR, "000000000.txt": SIDECAR, "000000001.json": SIDECAR, "000000001.txt": SIDECAR,
        "000000002.txt": SIDECAR, "part/a.b.json": SIDECAR, "part/a.json": SIDECAR, "__stats__.txt": OTHER,
    }  # fmt: skip


def test_tar_sidecars_that_cannot_be_read_fail_closed(tmp_path: Path) -> None:
    members = [
        *wds_sample("a", JPEG, None),
        ("a.json", b'{"url": "https://example.com/a", "X-Robots-Tag": "noai"'),  # cut short: not JSON
        ("b.jpg", JPEG),
        ("b.json", b"[1, 2]"),  # JSON, not an object
        ("c.jpg", JPEG),
        ("c.json", b'{"pad": "' + b"x" * MAX_SIDECAR_BYTES + b'"}'),  # too large to read
        ("d.jpg", JPEG),
        ("d.json", b'{"tdm-reservation": {"value": 1}}'),  # a field of the wrong type
    ]
    (tmp_path / "s.tar").write_bytes(shard(members))
    items = {i.sample.key: i for i in open_sources([str(tmp_path / "s.tar")]) if i.sample}
    for key, why in (("a", "not valid JSON"), ("b", "not a JSON object"), ("c", "larger than 1048576 bytes")):
        assert [v.name for v in items[key].sidecar] == [UNREADABLE], key
        assert items[key].sidecar[0].value.startswith(f"unreadable: {why}"), key
        assert items[key].sample is not None and items[key].sample.url is None
    assert values(items["d"]) == [
        (UNREADABLE, "unreadable: tdm-reservation is not a string, a number or a list of them")
    ]


def test_a_shard_cut_before_a_sidecar_marks_the_sample_unreadable(tmp_path: Path) -> None:
    """The .json of the last sample is lost with the end of the shard: its image does not pass as declaring nothing."""
    full = shard([*wds_sample("a", JPEG, {"url": "u"}), *wds_sample("b", JPEG, {"X-Robots-Tag": "noai"})])
    cut = full.index(b"noai") - 600  # inside the header of b.json
    (tmp_path / "s.tar").write_bytes(full[:cut])
    items = list(open_sources([str(tmp_path / "s.tar")]))
    by_key = {i.key.rsplit("/", 1)[-1]: i for i in items}
    assert values(by_key["a.jpg"]) == []
    assert [v.name for v in by_key["b.jpg"].sidecar] == [UNREADABLE]
    assert "damaged" in by_key["b.jpg"].sidecar[0].value
    assert items[-1].error is not None and "truncated" in items[-1].error


# ---------------------------------------------------------------------------------------------
# Folders (img2dataset's files layout)


def img2dataset_folder(root: Path, count: int) -> Path:
    folder = root / "00000"
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{n:09d}.jpg").write_bytes(JPEG)
        meta = {"url": f"https://example.com/{n}.jpg", "key": f"{n:09d}", "status": "success", "width": 64}
        if n == 1:
            meta["headers"] = {"X-Robots-Tag": ["noai", "noimageai"], "TDM-Reservation": 1}
        (folder / f"{n:09d}.json").write_text(json.dumps(meta, indent=4), encoding="utf-8")
        (folder / f"{n:09d}.txt").write_text("a harbour", encoding="utf-8")
    (root / "00000_stats.json").write_text("{}", encoding="utf-8")
    (root / "00000.parquet.md5").write_text("0", encoding="utf-8")
    return root


def test_img2dataset_folder_sidecars_are_metadata_and_keys_are_relative_to_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    img2dataset_folder(tmp_path / "out", 3)
    monkeypatch.chdir(tmp_path)
    for spec in ("out", "out/", "./out", str(tmp_path / "out")):
        items = list(open_sources([spec]))
        assert [i.sample for i in items] == [
            Sample(spec, f"00000/{n:09d}", "path", None, f"https://example.com/{n}.jpg") for n in range(3)
        ], spec
        # the item keys are the walked paths, which start as the spec was typed
        assert [i.key for i in items] == [os.path.join(spec, "00000", f"{n:09d}.jpg") for n in range(3)], spec
    items = list(open_sources(["out"]))
    assert values(items[1]) == [("X-Robots-Tag", "noai"), ("X-Robots-Tag", "noimageai"), ("tdm-reservation", "1")]
    assert {v.where for v in items[1].sidecar} == {"sidecar out/00000/000000001.json (headers)"}
    every = [(Path(i.key).name, i.role) for i in open_sources(["out"], non_images=True) if i.role != "image"]
    assert every == [("00000.parquet.md5", OTHER), ("00000_stats.json", OTHER)] + [
        (f"{n:09d}.{ext}", SIDECAR) for n in range(3) for ext in ("json", "txt")
    ]


def test_a_named_file_reads_the_json_beside_it_and_an_unreadable_one_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "a.json").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / "b.jpg").write_bytes(JPEG)
    os.mkfifo(tmp_path / "b.json")  # a FIFO where a sidecar should be: refused, never waited on
    items = list(open_sources([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]))
    assert [i.sample for i in items] == [Sample(str(tmp_path / n), n[0], "path") for n in ("a.jpg", "b.jpg")]
    assert [v.value.split(" (")[0] for i in items for v in i.sidecar] == [
        "unreadable: not valid JSON",
        "unreadable: cannot be read: not a regular file",
    ]


# ---------------------------------------------------------------------------------------------
# Parquet


def test_parquet_keys_are_unique_and_say_where_they_came_from(tmp_path: Path) -> None:
    """Ten rows whose image.path is the same name, and rows with a null path, in one file."""
    paths = ["image.jpg"] * 10 + [None, None, "other.jpg"]
    table = pa.table({"image": [{"bytes": JPEG, "path": p} for p in paths]})
    pq.write_table(table, tmp_path / "hf.parquet", row_group_size=4)
    spec = str(tmp_path / "hf.parquet")
    items = list(open_sources([spec]))
    names = [i.key.split("#", 1)[1] for i in items]
    assert names == [f"image.jpg@{n}" for n in range(10)] + ["10", "11", "other.jpg"]
    assert len(set(names)) == len(names)
    assert [(i.sample.key, i.sample.key_from, i.sample.row) for i in items if i.sample] == [
        *(("image.jpg", "column:image.path", n) for n in range(10)),
        ("10", "row", 10),
        ("11", "row", 11),
        ("other.jpg", "column:image.path", 12),
    ]
    assert all(i.error is None and i.data == JPEG for i in items)


def test_parquet_ids_that_look_made_unique_cannot_take_another_rows_key(tmp_path: Path) -> None:
    table = pa.table({"jpg": [JPEG] * 5, "key": ["a", "a", "a@1", "0", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    names = [i.key.split("#", 1)[1] for i in open_sources([str(tmp_path / "t.parquet")])]
    assert names == ["a@0", "a@1", "a@1@2", "0", "4"]  # "a@1" the id is not "a@1" the made-unique key
    table = pa.table({"jpg": [JPEG] * 3, "id": pa.array([2, None, None], pa.int64())})
    pq.write_table(table, tmp_path / "n.parquet")
    names = [i.key.split("#", 1)[1] for i in open_sources([str(tmp_path / "n.parquet")])]
    assert names == ["2", "1", "@2"]  # row 2 has no id; the id 2 belongs to row 0


def test_parquet_columns_named_like_headers_are_sidecar_values(tmp_path: Path) -> None:
    table = pa.table(
        {
            "jpg": [JPEG] * 4,
            "URL": ["https://example.com/0", None, "https://example.com/2\nspoof", "https://example.com/3"],
            "x_robots_tag": ["noai", None, None, None],
            "Content-Usage": [None, "train-ai=n", None, None],
            "headers": [None, None, '{"tdm-reservation": "1", "tdm-policy": "https://example.com/p"}', "{bad json"],
            "caption": ["a", "b", "c", "d"],
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    items = list(open_sources([str(tmp_path / "c.parquet")]))
    assert [i.sample.url for i in items if i.sample] == ["https://example.com/0", None, None, "https://example.com/3"]
    assert values(items[0]) == [("X-Robots-Tag", "noai")]
    assert items[0].sidecar[0] == SidecarValue("X-Robots-Tag", "noai", SignalSource.COLUMN, "column x_robots_tag")
    assert values(items[1]) == [("Content-Usage", "train-ai=n")]
    assert values(items[2]) == [("tdm-reservation", "1"), ("tdm-policy", "https://example.com/p")]
    assert [v.name for v in items[3].sidecar] == [UNREADABLE]
    assert items[3].sidecar[0].value.startswith("unreadable: the headers are not valid JSON")


def test_parquet_header_struct_and_map_columns(tmp_path: Path) -> None:
    headers_map = pa.array([[("X-Robots-Tag", "noimageai")], []], pa.map_(pa.string(), pa.string()))
    table = pa.table({"jpg": [JPEG] * 2, "http_headers": headers_map})
    pq.write_table(table, tmp_path / "m.parquet")
    assert [values(i) for i in open_sources([str(tmp_path / "m.parquet")])] == [[("X-Robots-Tag", "noimageai")], []]
    struct = pa.array([{"content_usage": "train-ai=n", "server": "x"}, None])
    pq.write_table(pa.table({"jpg": [JPEG] * 2, "headers": struct}), tmp_path / "s.parquet")
    assert [values(i) for i in open_sources([str(tmp_path / "s.parquet")])] == [[("Content-Usage", "train-ai=n")], []]


# ---------------------------------------------------------------------------------------------
# The JSON sidecar parser, case by case


CC_BY = "https://creativecommons.org/licenses/by/4.0/"
NOT_A_SET = "unreadable: the headers are neither an object nor a list of [name, value] pairs"
NOT_LINES = "unreadable: the headers are not lines of 'Name: value'"
NOT_A_VALUE = "unreadable: X-Robots-Tag is not a string, a number or a list of them"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"X-ROBOTS-TAG": "noai"}, [("X-Robots-Tag", "noai")]),
        ({"x_robots_tag": "noai", "content_usage": "n"}, [("X-Robots-Tag", "noai"), ("Content-Usage", "n")]),
        ({"tdm_reservation": 1, "tdm-policy": "https://p"}, [("tdm-reservation", "1"), ("tdm-policy", "https://p")]),
        ({"license": CC_BY}, [("license", CC_BY)]),
        ({"http_headers": [["X-Robots-Tag", "noai"], ["x-robots-tag", "none"]]},
         [("X-Robots-Tag", "noai"), ("X-Robots-Tag", "none")]),
        ({"response_headers": "HTTP/1.1 200 OK\r\nX-Robots-Tag: noai\r\nServer: x\r\n"}, [("X-Robots-Tag", "noai")]),
        ({"headers": '{"tdm-reservation": true}'}, [("tdm-reservation", "true")]),
        ({"headers": None, "X-Robots-Tag": None}, []),
        ({"caption": "X-Robots-Tag: noai", "status": "success"}, []),
        ({"headers": ["noai"]}, [(UNREADABLE, NOT_A_SET)]),
        ({"headers": "no colon here"}, [(UNREADABLE, NOT_LINES)]),
        ({"X-Robots-Tag": [["noai"]]}, [(UNREADABLE, NOT_A_VALUE)]),
    ],
)  # fmt: skip
def test_json_sidecar_values(document: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    _, found = from_json(json.dumps(document).encode(), "sidecar x.json")
    assert [(v.name, v.value) for v in found] == expected
    assert all(v.source is SignalSource.SIDECAR for v in found)


def test_json_sidecar_limits() -> None:
    long = {"X-Robots-Tag": "n" * (MAX_VALUE_CHARS + 1)}
    _, found = from_json(json.dumps(long).encode(), "w")
    assert [(v.name, v.value) for v in found] == [
        (UNREADABLE, f"unreadable: a X-Robots-Tag value is longer than {MAX_VALUE_CHARS} characters")
    ]
    many = {"headers": [["X-Robots-Tag", f"v{n}"] for n in range(MAX_VALUES + 5)]}
    _, found = from_json(json.dumps(many).encode(), "w")
    assert len(found) == MAX_VALUES + 1 and found[-1].value == f"unreadable: more than {MAX_VALUES} values"
    deep = b"[" * 100_000 + b"]" * 100_000
    url, found = from_json(deep, "w")
    assert url is None and [v.name for v in found] == [UNREADABLE]
    url, found = from_json(b'{"url": "https://x/\\u2028y"}', "w")
    assert url is None and found == ()  # a URL that would add a line to a keep list is no URL


def test_column_reader_names() -> None:
    reader = ColumnReader(
        ["jpg", "key", "X-Robots-Tag", "tdm_policy", "headers", "url", "caption"], skip=("jpg", "key")
    )
    assert reader.columns == ["X-Robots-Tag", "tdm_policy", "headers", "url"]


def test_work_units_reopen_to_the_same_samples_and_sidecar_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Ray planner sends out reopens on a worker to the local items, samples and sidecar values included."""
    from rightsmark.ray.plan import pack
    from rightsmark.sources.dispatch import open_unit, work_units

    monkeypatch.chdir(tmp_path)
    img2dataset_folder(tmp_path / "out", 3)
    (tmp_path / "out" / "s.tar").write_bytes(shard(wds_sample("k", JPEG, {"url": "u", "X-Robots-Tag": "noai"})))
    pq.write_table(pa.table({"jpg": [JPEG] * 2, "key": ["a", "a"], "x_robots_tag": ["noai", None]}), "t.parquet")
    (tmp_path / "named.jpg").write_bytes(JPEG)
    (tmp_path / "named.json").write_text('{"license": "CC0-1.0"}', encoding="utf-8")
    specs = ["out", "t.parquet", "named.jpg"]
    for non_images in (False, True):
        expected = list(open_sources(specs, non_images=non_images))
        units = pack(work_units(specs), 2)
        got = [item for unit in units for item in open_unit(unit, non_images=non_images)]
        assert got == expected
    assert len(expected) == 3 * 3 + 2 + 3 + 2 + 1  # the folder (images, sidecars, others), the shard, Parquet, named
    assert {v.value for i in expected for v in i.sidecar} == {"noai", "noimageai", "1", "CC0-1.0"}


def test_objects_below_a_url_name_their_sample_relative_to_it() -> None:
    import uuid

    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/samples-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{root}/pics/sub/a.jpg", JPEG)
    fs.pipe(f"{root}/pics/b.v2.jpg", JPEG)
    try:
        listed = list(open_sources([f"memory://{root}/pics/"]))
        one = list(open_sources([f"memory://{root}/pics/b.v2.jpg"]))
    finally:
        fs.rm(root, recursive=True)
    source = f"memory://{root}/pics/"
    assert [i.sample for i in listed] == [Sample(source, "b.v2", "path"), Sample(source, "sub/a", "path")]
    assert [i.sample for i in one] == [Sample(f"memory://{root}/pics/b.v2.jpg", "b.v2", "path")]


def test_a_file_named_like_an_item_inside_a_container_is_refused(tmp_path: Path) -> None:
    """``f.parquet#a.jpg`` beside ``f.parquet``, or a folder ``s.tar`` beside the shard ``s.tar``'s members,
    would share its key with a row or member: kept, it would put that item's key in the keep list."""
    (tmp_path / "f.parquet#a.jpg").write_bytes(JPEG)
    (tmp_path / "s.tar").mkdir()
    (tmp_path / "s.tar" / "x.jpg").write_bytes(JPEG)
    (tmp_path / "plain.jpg").write_bytes(JPEG)
    items = {Path(i.key).name: i for i in open_sources([str(tmp_path)])}
    assert items["plain.jpg"].error is None
    for name in ("f.parquet#a.jpg", "x.jpg"):
        assert items[name].error is not None and "reads as an item inside a container" in items[name].error
        assert items[name].path is None and items[name].data is None
