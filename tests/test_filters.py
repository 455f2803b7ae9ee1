"""The Python API for pipelines: verify_source over any source, and KeepFilter inside a data pipeline."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

from rightsmark import KeepFilter, Policy, verify_source
from rightsmark.keys.devca import KeyFiles
from rightsmark.models import Decision, Use
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES, open_rights


def _dataset(tmp_path: Path, signer: Signer) -> dict[str, bytes]:
    """Three images: one the strict policy keeps, one that forbids training, one unsigned."""
    src = EXAMPLE_IMAGES / "harbour.jpg"
    out = {}
    signer.sign_file(src, tmp_path / "ok.jpg", open_rights())
    out["ok"] = (tmp_path / "ok.jpg").read_bytes()
    signer.sign_file(src, tmp_path / "no.jpg", open_rights(training=open_rights().training.__class__(Use.NOT_ALLOWED)))
    out["no"] = (tmp_path / "no.jpg").read_bytes()
    out["unsigned"] = src.read_bytes()
    return out


def _in_child(filter_: KeepFilter, row: dict[str, object], queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(filter_(row))


def test_keep_filter_on_hf_style_rows_plain_bytes_and_across_processes(
    tmp_path: Path, signer: Signer, keys: KeyFiles
) -> None:
    data = _dataset(tmp_path, signer)
    keep = KeepFilter(trust=[keys.ca], column="image")
    rows = [{"image": {"bytes": b, "path": f"{k}.jpg"}, "id": k} for k, b in data.items()]
    assert [r["id"] for r in rows if keep(r)] == ["ok"]
    assert keep({"image": data["ok"]}) is True  # raw bytes column
    assert keep({"image": "decoded-pixels"}) is False  # fail closed on what cannot be checked
    assert keep({"other": data["ok"]}) is False
    # picklable (DataLoader workers, datasets.map processes) and usable in a fresh process
    clone = pickle.loads(pickle.dumps(keep))
    assert clone(rows[0]) is True
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("spawn").Process(target=_in_child, args=(keep, rows[0], queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) is True


def test_keep_filter_iter_over_webdataset_style_samples(tmp_path: Path, signer: Signer, keys: KeyFiles) -> None:
    data = _dataset(tmp_path, signer)
    samples = [{"__key__": k, "jpg": b} for k, b in data.items()]
    keep = KeepFilter(Policy(anchors=(keys.ca,)))
    kept = list(keep.iter(samples, data=lambda s: s["jpg"], key=lambda s: s["__key__"]))
    assert [s["__key__"] for s in kept] == ["ok"]
    record = keep.record(data["no"], "no")
    assert record.decision is Decision.DROP and [r.code for r in record.reasons] == ["permission-not-allowed"]


def test_verify_source_streams_records_for_directories_and_shards(
    tmp_path: Path, signer: Signer, keys: KeyFiles
) -> None:
    import tarfile

    (tmp_path / "src").mkdir()
    data = _dataset(tmp_path / "src", signer)
    folder = tmp_path / "folder"
    folder.mkdir()
    for k, b in data.items():
        (folder / f"{k}.jpg").write_bytes(b)
    shard = tmp_path / "shard.tar"
    with tarfile.open(shard, "w") as tar:
        for k in data:
            tar.add(folder / f"{k}.jpg", arcname=f"{k}.jpg")
    records = list(verify_source([str(folder), str(shard)], Policy(anchors=(keys.ca,)), jobs=2))
    got = {r.path: r.decision.value for r in records}
    assert got == {
        f"{folder}/no.jpg": "drop",
        f"{folder}/ok.jpg": "keep",
        f"{folder}/unsigned.jpg": "drop",
        f"{shard}/ok.jpg": "keep",
        f"{shard}/no.jpg": "drop",
        f"{shard}/unsigned.jpg": "drop",
    }
