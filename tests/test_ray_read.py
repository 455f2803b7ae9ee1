"""``rightsmark.ray.read_shards`` without a cluster: how a shard's members become rows (WebDataset samples,
error rows for what cannot be read), which paths name shards, and that the verifier turns every error row
into an error record, never ``keep``. The run on a real Ray cluster is in tests/test_ray.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from rightsmark.errors import UsageError
from rightsmark.keys.devca import KeyFiles
from rightsmark.ray.data import READ_ERROR_COLUMN, RowVerifier
from rightsmark.ray.read import NO_EXTENSION, RESERVED, SCATTERED, plan_shards, read_units, sample_name
from rightsmark.sign.signer import Signer
from rightsmark.verify.policy import Policy

from .conftest import open_rights
from .test_bulk import tiny_image
from .test_sources import tar_bytes


def cut_inside(raw: bytes, member: str, into: int = 10) -> bytes:
    """``raw`` (a tar archive) cut ``into`` bytes into the data of the last member named ``member``."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        offset = [m.offset_data for m in archive.getmembers() if m.name == member][-1]
    return raw[: offset + into]


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> bytes:
    """A signed JPEG the default policy keeps (with the test CA as anchor)."""
    root = tmp_path_factory.mktemp("kept")
    signer.sign_file(tiny_image(root / "raw.jpg", 3), root / "kept.jpg", open_rights())
    return (root / "kept.jpg").read_bytes()


def rows_of(shard: Path) -> list[dict[str, Any]]:
    return [row for table in read_units(plan_shards(str(shard)), None, 1 << 20) for row in table.to_pylist()]


def test_members_become_samples_and_what_cannot_be_read_becomes_error_rows(tmp_path: Path, kept: bytes) -> None:
    png = tiny_image(tmp_path / "b.png", 2, "PNG").read_bytes()
    members = [
        ("a.jpg", kept), ("a.json", b'{"url": "https://example.org/a"}'), ("a.txt", b"a harbour"),
        ("LICENSE", b"no extension, not an image: no part of any sample"),
        ("d/b.seg.png", png), ("d/b.jpg", kept),  # a folder in the shard; the extension runs from the first dot
        ("c.jpg", kept), ("c.jpg", kept),  # one name twice: both refused
        ("e.__key__", b"spoof"), ("e.jpg", kept),  # an extension naming a reserved column
        ("noext", kept),  # an image without an extension
        ("f.jpg", kept), ("g.jpg", kept), ("f.json", b"{}"),  # f's sidecar after another sample
        ("h.json", b"{}"), ("h.jpg", kept),  # cut inside h.jpg's data
    ]  # fmt: skip
    shard = tmp_path / "s.tar"
    shard.write_bytes(cut_inside(tar_bytes(members), "h.jpg"))
    s = str(shard)

    def row(key: str | None, error: tuple[str, str, str | None] | None = None, **cells: bytes) -> dict[str, Any]:
        read_error = None if error is None else dict(zip(("key", "error", "reason"), error, strict=True))
        return {"__key__": key, "__url__": s, READ_ERROR_COLUMN: read_error, **cells}

    dup = "duplicate key: several members of the shard are named 'c.jpg'; all of them are dropped"
    expected = [
        row("a", jpg=kept, json=b'{"url": "https://example.org/a"}', txt=b"a harbour"),
        row("d/b", **{"seg.png": png, "jpg": kept}),
        row("c", (f"{s}/c.jpg", dup, "duplicate-key")),
        row("c", (f"{s}/c.jpg", dup, "duplicate-key")),
        row("e", (f"{s}/e.__key__", RESERVED, None), jpg=kept),  # the sample is one row: its image is not kept
        row(None, (f"{s}/noext", NO_EXTENSION, None)),
        row("f", jpg=kept),
        row("g", jpg=kept),
        row("f", (f"{s}/f.json", SCATTERED, None)),
        row("h", (f"{s}/h.jpg", "corrupt or truncated shard: unexpected end of data", None), json=b"{}")
        | {
            # the damage came while h was read: its sidecars may be incomplete, which verify reads as an opt-out
            "rightsmark_sidecar_unreadable": {
                "value": "unreadable: the shard is damaged at or before this sample's sidecars, which may be missing",
                "where": f"sidecar {s}/h.json",
            }
        },
    ]
    got = [{k: v for k, v in r.items() if v is not None or k in ("__key__", READ_ERROR_COLUMN)} for r in rows_of(shard)]
    assert got == expected


def test_the_verifier_gives_every_error_row_an_error_record(tmp_path: Path, kept: bytes, keys: KeyFiles) -> None:
    shard = tmp_path / "s.tar"
    shard.write_bytes(
        cut_inside(tar_bytes([("a.jpg", kept), ("b.jpg", kept), ("b.jpg", kept), ("c.jpg", kept)]), "c.jpg")
    )
    policy = Policy(anchors=(keys.ca,))
    verifier = RowVerifier(policy, policy.trust_sources(), None, None, None)
    tables = list(read_units(plan_shards([shard, tmp_path / "absent.tar"]), None, 1 << 20))
    out = pa.concat_tables([verifier(t) for t in tables]).to_pylist()
    got = [(r["rightsmark_key"], r["decision"], r["reason_codes"], r["integrity"]) for r in out]
    assert got == [
        (f"{shard}/a.jpg", "keep", [], "valid"),
        (f"{shard}/b.jpg", "drop", ["duplicate-key"], "error"),
        (f"{shard}/b.jpg", "drop", ["duplicate-key"], "error"),
        (f"{shard}/c.jpg", "drop", ["integrity-error"], "error"),
        (f"{tmp_path}/absent.tar", "drop", ["integrity-error"], "error"),
    ]
    assert json.loads(out[3]["rightsmark_record"])["error"].startswith("corrupt or truncated shard")

    # whatever a row's read-error cell holds, even beside an image that would be kept, the row is dropped
    rows = pa.table(
        {
            "__key__": ["x", "y", "z"],
            "__url__": ["u", "u", "u"],
            "jpg": pa.array([kept] * 3, pa.binary()),
            READ_ERROR_COLUMN: ["a string", "", None],
        }
    )
    out = verifier(rows).to_pylist()
    assert [(r["rightsmark_key"], r["decision"], r["error"]) for r in out] == [
        ("u/x.jpg", "drop", "a string"),
        ("u/y.jpg", "drop", "unreadable"),
        ("u/z.jpg", "keep", None),
    ]
    spoofed = {"key": "k", "error": "e", "reason": "keep"}  # a reason code the sources never give is not taken
    out = verifier(pa.table({READ_ERROR_COLUMN: [spoofed]})).to_pylist()
    assert (out[0]["decision"], out[0]["reason_codes"]) == ("drop", ["integrity-error"])


def test_which_paths_name_shards(tmp_path: Path) -> None:
    (tmp_path / "shards" / "sub").mkdir(parents=True)
    for name in ("b.tar", "a.tar.gz", "sub/c.tar", "index.json", "images.parquet", "x.jpg"):
        (tmp_path / "shards" / name).write_bytes(b"")
    units = plan_shards([str(tmp_path / "shards"), f"{tmp_path}/more/{{0..1}}.tar"])
    assert [u.names[0] for u in units] == [f"{tmp_path}/shards/{n}" for n in ("a.tar.gz", "b.tar", "sub/c.tar")] + [
        f"{tmp_path}/more/0.tar",
        f"{tmp_path}/more/1.tar",
    ]  # missing shards: error rows when read
    for path in (tmp_path / "shards" / "images.parquet", tmp_path / "absent", tmp_path / "shards" / "x.jpg"):
        with pytest.raises(UsageError, match="no tar shards there"):
            plan_shards(path)
    with pytest.raises(UsageError, match="no shards named"):
        plan_shards([])


@pytest.mark.parametrize(
    ("member", "expected"),
    [("a.jpg", ("a", "jpg")), ("dir/x.seg.png", ("dir/x", "seg.png")), ("a.b/c.txt", ("a.b/c", "txt")),
     ("README", None), (".hidden", None), ("a.", None), ("d/", None)],
)  # fmt: skip
def test_sample_names_follow_webdataset(member: str, expected: tuple[str, str] | None) -> None:
    assert sample_name(member) == expected


def test_the_row_verifier_reads_a_json_member_whatever_the_case_of_its_extension(kept: bytes, keys: KeyFiles) -> None:
    """A sample's ``000001.JSON`` is its sidecar as ``.json`` is (the tar source lower-cases extensions)."""
    policy = Policy(anchors=(keys.ca,))
    verifier = RowVerifier(policy, policy.trust_sources(), None, None, None)
    headers = json.dumps({"headers": {"X-Robots-Tag": "noai"}}).encode()
    table = pa.table({"__key__": ["a"], "__url__": ["s.tar"], "jpg": [kept], "JSON": [headers]})
    (row,) = verifier(table).to_pylist()
    assert row["decision"] == "drop" and row["reason_codes"] == ["declared-opt-out"]


def test_a_row_with_two_images_is_refused_not_judged_on_one(kept: bytes, keys: KeyFiles, tmp_path: Path) -> None:
    """A sample with a jpg and a png gives one row; judging the jpg alone would let the png through unchecked."""
    policy = Policy(anchors=(keys.ca,))
    verifier = RowVerifier(policy, policy.trust_sources(), None, None, None)
    png = tiny_image(tmp_path / "b.png", 2, "PNG").read_bytes()
    table = pa.table({"__key__": ["a", "b"], "__url__": ["s.tar", "s.tar"], "jpg": [kept, kept], "png": [png, None]})
    first, second = verifier(table).to_pylist()
    assert first["decision"] == "drop" and "several columns could hold the image (jpg, png)" in first["error"]
    assert second["decision"] == "keep"
