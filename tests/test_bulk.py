"""Bulk verification: the prescan, the process pool, resume, the verdict cache, report formats.

Real keys, real images signed here, the real engine, real processes (``python -m rightsmark``).
Images are tiny so the whole file runs in seconds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rightsmark import schemas
from rightsmark.keys.devca import KeyFiles
from rightsmark.media.formats import PRESCANNED, sniff
from rightsmark.models import Integrity, VerifyRecord
from rightsmark.rights.licenses import parse_license
from rightsmark.sign.signer import Signer
from rightsmark.sources.base import Item
from rightsmark.verify.bulk import BulkVerifier
from rightsmark.verify.facts import has_marker, prescan, prescan_local
from rightsmark.verify.policy import Policy
from rightsmark.verify.reader import FactReader

from .conftest import EXAMPLE_IMAGES, open_rights

Cli = Callable[..., Any]


# ---------------------------------------------------------------------------------------------
# Data


def tiny_image(path: Path, seed: int, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (seed * 37 % 256, seed * 11 % 256, seed % 7 * 30)).save(path, fmt)
    return path


def flip_byte(path: Path, offset_from_end: int = 20) -> None:
    """Change one byte of the image data (near the end, inside a JPEG's entropy-coded data)."""
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def make_mixed(root: Path, signer: Signer) -> Path:
    """Signed (kept and dropped), unsigned, tampered, truncated, garbage, empty and non-image files."""
    raw = root / "raw"
    data = root / "mixed"
    signer.sign_file(tiny_image(raw / "a.jpg", 1), data / "a-signed.jpg", open_rights())
    signer.sign_file(
        tiny_image(raw / "b.jpg", 2), data / "b-signed-nc.jpg", open_rights(license=parse_license("CC-BY-NC-4.0"))
    )
    signer.sign_file(tiny_image(raw / "c.png", 3, "PNG"), data / "c-signed.png", open_rights())
    signer.sign_file(tiny_image(raw / "d.jpg", 4), data / "d-tampered.jpg", open_rights())
    flip_byte(data / "d-tampered.jpg")
    signer.sign_file(tiny_image(raw / "e.jpg", 5), data / "sub" / "e-truncated.jpg", open_rights())
    full = (data / "sub" / "e-truncated.jpg").read_bytes()
    (data / "sub" / "e-truncated.jpg").write_bytes(full[: len(full) // 2])
    tiny_image(data / "f-unsigned.jpg", 6)
    tiny_image(data / "g-unsigned.png", 7, "PNG")
    tiny_image(data / "h-unsigned.webp", 8, "WEBP")
    (data / "i-garbage.jpg").write_bytes(os.urandom(2000))
    (data / "j-empty.jpg").write_bytes(b"")
    (data / "k-notes.txt").write_text("not an image\n", encoding="utf-8")
    (data / "l-fake.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"c2pa" * 100)  # a JPEG start and a marker, no image
    return data


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    return make_mixed(tmp_path_factory.mktemp("bulk"), signer)


def path_items(folder: Path) -> list[Item]:
    """Every file below folder, sorted like the directory source walks it; keys relative to folder."""
    from rightsmark.sources.fs import walk_files as iter_directory

    return [Item(key=os.path.relpath(p, folder), path=p) for p in iter_directory(str(folder))]


def byte_items(folder: Path) -> list[Item]:
    return [Item(key=i.key, data=Path(i.path or "").read_bytes()) for i in path_items(folder)]


def run(items: list[Item], policy: Policy, jobs: int, **kw: Any) -> list[dict[str, Any]]:
    with BulkVerifier(policy, jobs=jobs, **kw) as bulk:
        return [r.to_dict() for r in bulk.run(items)]


def expected_rows(corpus: Path) -> list[tuple[str, str]]:
    rows = []
    for line in (corpus / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line.strip():
            name, expected = line.split("\t")[:2]
            rows.append((name, expected))
    return rows


# ---------------------------------------------------------------------------------------------
# Prescan: files without a manifest recognised without the engine, always agreeing with it


def _check_agreement(data: bytes, name: str, path: Path | None, reader: FactReader) -> bool:
    """Assert that the prescan never contradicts the engine; True when the prescan decided alone."""
    engine = reader.examine(data, name)[0]
    early = prescan(data, name)
    decided = []
    if early is not None:
        decided.append(early)
    if path is not None:
        local, marked = prescan_local(str(path), name)
        if local is not None:
            decided.append(local)
        if marked:
            assert has_marker(data), name
        if early is not None:  # the whole-file scan decided: the cheap local read may not say otherwise
            assert local is None or local.integrity is early.integrity, name
    for facts in decided:
        assert facts.integrity is engine.integrity, (name, facts.integrity, engine.integrity, engine.message)
        if data:
            assert facts.integrity is Integrity.ABSENT, name
            assert engine.remote_manifest is None, name
            assert facts.format == sniff(data[:64], name).name  # type: ignore[union-attr]
        else:
            assert facts.integrity is Integrity.ERROR, name  # an empty file, the only error decided early
    return bool(decided)


@pytest.mark.corpus
def test_prescan_agrees_with_the_engine_on_every_corpus_file(corpus: Path) -> None:
    files = corpus / "files"
    expected = dict(expected_rows(corpus))
    on_disk = sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())
    assert sorted(expected) == on_disk  # EXPECTED.tsv names every file
    fast: set[str] = set()
    with_engine = FactReader(None)
    try:
        for name in on_disk:
            data = (files / name).read_bytes()
            if _check_agreement(data, name, files / name, with_engine):
                fast.add(name)
    finally:
        with_engine.close()

    # the fast path is really taken: every file EXPECTED.tsv calls absent whose format the prescan
    # knows is decided without the engine, unless it carries a marker (an XMP provenance reference)
    should = set()
    for name, what in expected.items():
        data = (files / name).read_bytes()
        fmt = sniff(data[:64], name)
        if what == "absent" and fmt is not None and fmt.name in PRESCANNED and not has_marker(data):
            should.add(name)
    assert should <= fast, sorted(should - fast)
    assert len(should) >= 12, sorted(should)
    assert {"c2pa-rs/sdk_fixtures/earth_apollo17.jpg", "c2pa-rs/sdk_fixtures/sample1.png"} <= fast
    assert {"c2pa-rs/sdk_fixtures/sample1.webp", "c2pa-rs/sdk_fixtures/sample1.avif"} <= fast
    assert {"c2pa-rs/sdk_fixtures/sample1.heic", "public-testfiles/adobe-20220124-A.jpg"} <= fast
    # a JPEG whose XMP points at a manifest that is not there, and a damaged TIFF: the engine decides
    assert "c2pa-rs/sdk_fixtures/no_manifest.jpg" not in fast
    assert "c2pa-rs/sdk_fixtures/tiff_poc.tiff" not in fast


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["c2pa-rs/sdk_fixtures/cloud.jpg", "c2pa-rs/sdk_fixtures/libpng-test_with_url.png"])
def test_remote_only_files_go_to_the_engine(corpus: Path, name: str) -> None:
    path = corpus / "files" / name
    data = path.read_bytes()
    assert prescan(data, name) is None
    assert prescan_local(str(path), name)[0] is None
    reader = FactReader(None)
    try:
        facts = reader.examine(data, name)[0]
    finally:
        reader.close()
    assert facts.integrity is Integrity.ABSENT
    assert facts.remote_manifest and facts.remote_manifest.startswith("http")
    with BulkVerifier(Policy(), jobs=1) as bulk:
        (record,) = bulk.run([Item(key=name, path=str(path))])
        assert bulk.prescanned == 0 and bulk.engine_reads == 1
    assert [r.code for r in record.reasons] == ["manifest-remote"]
    with BulkVerifier(Policy(keep_absent=True), jobs=1) as bulk:
        (record,) = bulk.run([Item(key=name, data=data)])
    assert record.decision.value == "drop"  # absent=keep is not remote=keep


@pytest.fixture(scope="module")
def signed_examples(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    out = tmp_path_factory.mktemp("examples-signed")
    for image in sorted(EXAMPLE_IMAGES.iterdir()):
        signer.sign_file(image, out / image.name, open_rights())
    return out


def test_prescan_agrees_with_the_engine_on_the_example_images(signed_examples: Path) -> None:
    reader = FactReader(None)
    try:
        fast = set()
        for image in sorted(EXAMPLE_IMAGES.iterdir()):
            data = image.read_bytes()
            if _check_agreement(data, image.name, image, reader):
                fast.add(sniff(data[:64], image.name).name)  # type: ignore[union-attr]
            assert reader.examine(data, image.name)[0].integrity is Integrity.ABSENT
        assert fast == {"jpeg", "png", "webp", "avif", "heic"}  # every prescanned format among them
        for image in sorted(signed_examples.iterdir()):
            data = image.read_bytes()
            assert not _check_agreement(data, image.name, image, reader), image.name
            assert prescan_local(str(image), image.name)[0] is None, image.name  # never decided without the engine
            assert reader.examine(data, image.name)[0].integrity is Integrity.VALID, image.name
    finally:
        reader.close()


def test_prescan_on_damaged_and_odd_files(mixed: Path) -> None:
    reader = FactReader(None)
    try:
        for item in path_items(mixed):
            data = Path(item.path or "").read_bytes()
            _check_agreement(data, item.key, Path(item.path or ""), reader)
    finally:
        reader.close()
    assert prescan(b"", "x.jpg") is not None and prescan(b"", "x.jpg").integrity is Integrity.ERROR  # type: ignore[union-attr]
    unsigned = (mixed / "f-unsigned.jpg").read_bytes()
    assert prescan(unsigned, "f.jpg") is not None
    assert prescan(unsigned[:-200], "f.jpg") is None  # truncated: the engine says how
    assert prescan_local(str(mixed / "sub" / "e-truncated.jpg"), "e.jpg")[0] is None


# ---------------------------------------------------------------------------------------------
# The process pool: same records as one process, in input order, nothing lost


def _assert_one_each_in_order(records: list[dict[str, Any]], items: list[Item]) -> None:
    assert [r["path"] for r in records] == [i.key for i in items]
    assert len({r["path"] for r in records}) == len(items)


def test_one_and_two_jobs_give_identical_records_on_a_mixed_folder(mixed: Path, keys: KeyFiles) -> None:
    policy = Policy(anchors=(keys.ca,))
    items = path_items(mixed)
    one = run(items, policy, jobs=1)
    _assert_one_each_in_order(one, items)
    for r in one:
        assert not schemas.errors(schemas.VERIFY_RECORD, r), r
    by_key = {r["path"]: r for r in one}
    assert by_key["a-signed.jpg"]["decision"] == "keep"
    assert by_key["c-signed.png"]["decision"] == "keep"
    assert by_key["b-signed-nc.jpg"]["reasons"][0]["code"] == "license-non-commercial"
    assert by_key["d-tampered.jpg"]["integrity"] == "invalid"
    assert by_key[os.path.join("sub", "e-truncated.jpg")]["integrity"] in {"invalid", "error"}
    assert by_key["f-unsigned.jpg"]["integrity"] == "absent"
    for name in ("i-garbage.jpg", "j-empty.jpg", "k-notes.txt"):
        assert by_key[name]["integrity"] == "error", name
        assert [x["code"] for x in by_key[name]["reasons"]] == ["integrity-error"]
        assert by_key[name]["error"]
    assert by_key["l-fake.jpg"]["decision"] == "drop"

    two = run(items, policy, jobs=2)
    assert two == one
    assert run(byte_items(mixed), policy, jobs=2) == one  # bytes shipped to workers, not paths
    assert run(byte_items(mixed), policy, jobs=1) == one


@pytest.mark.corpus
def test_one_and_two_jobs_give_identical_records_on_the_corpus(corpus: Path, tmp_path: Path) -> None:
    settings = json.loads((corpus / "trust" / "c2pa-python_trust_config_test_settings.json").read_text())
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(settings["trust"]["trust_anchors"])
    items = path_items(corpus / "files")
    for policy in (Policy(), Policy(anchors=(anchors,))):
        one = run(items, policy, jobs=1)
        _assert_one_each_in_order(one, items)
        two = run(items, policy, jobs=2)
        assert len(two) == len(one)
        for a, b in zip(one, two, strict=True):
            assert a == b, a["path"]
    assert any(r["trust"] == "trusted" for r in one)  # the anchors made some files trusted


def _assert_history_free(files: list[Path], anchors: Path) -> int:
    """Facts from a reader that has read everything before equal those of a fresh reader, file by file
    (trust is evaluated once per signing chain and reused; the reuse must not show). The default lists
    are used besides ``anchors``, so the claim-signer role check runs too."""
    from rightsmark.trust.lists import DEFAULT
    from rightsmark.trust.sources import resolve

    trust = resolve(DEFAULT, anchors=[anchors])
    warm = FactReader(trust)
    try:
        for f in files:
            warm.examine(f.read_bytes(), f.name)
        trusted = 0
        for f in files:
            data = f.read_bytes()
            fresh = FactReader(trust)
            try:
                expected = fresh.examine(data, f.name)[0]
            finally:
                fresh.close()
            assert warm.examine(data, f.name)[0] == expected, f
            trusted += expected.trusted
        return trusted
    finally:
        warm.close()


def test_trust_reused_per_chain_gives_the_engines_own_answer(
    tmp_path: Path, mixed: Path, signer: Signer, other_keys: KeyFiles, keys: KeyFiles
) -> None:
    from rightsmark.keys.material import load_signing_material
    from rightsmark.trust.sources import resolve

    with Signer(load_signing_material(other_keys.key, other_keys.chain)) as other:
        for i in range(2):
            other.sign_file(tiny_image(tmp_path / f"raw{i}.jpg", 30 + i), tmp_path / f"other{i}.jpg", open_rights())
    files = [Path(i.path or "") for i in path_items(mixed)] + sorted(tmp_path.glob("other*.jpg"))
    assert _assert_history_free(files, keys.ca) == 3  # the three intact signed files
    fresh = FactReader(resolve((), anchors=[keys.ca]))
    try:
        untrusted = fresh.examine((tmp_path / "other1.jpg").read_bytes(), "other1.jpg")[0]
    finally:
        fresh.close()
    assert untrusted.failure_codes == ("signingCredential.untrusted",)


@pytest.mark.corpus
def test_trust_reused_per_chain_gives_the_engines_own_answer_on_the_corpus(corpus: Path, tmp_path: Path) -> None:
    from rightsmark.sources.fs import walk_files as iter_directory

    settings = json.loads((corpus / "trust" / "c2pa-python_trust_config_test_settings.json").read_text())
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(settings["trust"]["trust_anchors"])
    files = [Path(p) for p in iter_directory(str(corpus / "files"))]
    assert _assert_history_free(files, anchors) > 5


_ENGINE_THREADS_THEN_POOL = """
import sys
from pathlib import Path

from rightsmark.verify.bulk import BulkVerifier
from rightsmark.verify.policy import Policy
from rightsmark.sources.base import Item
from rightsmark.verify.verifier import Verifier


def main() -> None:
    files = Path(sys.argv[1])
    pdf = files / "public-testfiles/adobe-20240110-single_manifest_store.pdf"
    with Verifier() as verifier:
        verifier.verify_file(pdf)  # the engine leaves threads behind in this process
    items = [Item(key=str(i), path=str(p)) for i, p in enumerate([pdf, files / "c2pa-python/C.jpg"] * 8)]
    with BulkVerifier(Policy(), jobs=2) as bulk:
        print(len(list(bulk.run(items))))


if __name__ == "__main__":
    main()
"""


@pytest.mark.corpus
def test_pool_works_after_the_engine_ran_in_this_process(corpus: Path, tmp_path: Path) -> None:
    """Library users verify a file, then a folder: workers forked from a process holding engine threads
    would wait forever, so the pool must not fork such a process."""
    script = tmp_path / "script.py"
    script.write_text(_ENGINE_THREADS_THEN_POOL, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(corpus / "files")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and the workers it started
        proc.communicate()
        pytest.fail("verification hung: pool workers forked from a process with engine threads")
    assert proc.returncode == 0, err
    assert out.strip() == "16"


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    """300 small JPEGs, half signed (a few of those with a non-commercial license), in sorted order."""
    root = tmp_path_factory.mktemp("many")
    data = root / "data"
    nc = open_rights(license=parse_license("CC-BY-NC-4.0"))
    ok = open_rights()
    for i in range(300):
        name = f"f{i:03d}.jpg"
        if i % 2:
            tiny_image(data / name, i)
        else:
            signer.sign_file(tiny_image(root / "raw" / name, i), data / name, nc if i % 10 == 0 else ok)
    return data


def _kill_a_worker(bulk: BulkVerifier) -> int:
    assert bulk._pool is not None
    pid = next(iter(bulk._pool._processes))
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.parametrize("when", ["while-chunks-are-in-flight", "between-chunks"])
def test_a_killed_worker_loses_no_item(many: Path, keys: KeyFiles, when: str) -> None:
    policy = Policy(anchors=(keys.ca,))
    items = path_items(many)
    reference = run(items, policy, jobs=1)
    with BulkVerifier(policy, jobs=2) as bulk:
        stream: Iterator[VerifyRecord] = bulk.run(items)
        got = [next(stream).to_dict()]
        pool = bulk._pool
        if when == "between-chunks":
            time.sleep(0.5)  # every chunk in flight finishes: the death shows only at the next submit
        _kill_a_worker(bulk)
        if when == "between-chunks":
            time.sleep(0.5)
        got += [r.to_dict() for r in stream]
        assert bulk._pool is not pool  # a fresh pool took over
    _assert_one_each_in_order(got, items)
    for mine, ref in zip(got, reference, strict=True):
        if mine != ref:  # only items of a chunk that failed twice may differ, and then say so
            assert mine["integrity"] == "error" and "worker failed" in (mine["error"] or ""), mine
            assert [r["code"] for r in mine["reasons"]] == ["integrity-error"]
    if when == "between-chunks":
        assert got == reference  # no chunk was running when the worker died: nothing to retry


# ---------------------------------------------------------------------------------------------
# --resume: a run killed midway continues where it stopped


def _rightsmark(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "rightsmark", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


GATE = "f150x.jpg"  # sorts between f150.jpg and f151.jpg


@pytest.fixture(scope="module")
def final_data(tmp_path_factory: pytest.TempPathFactory, many: Path) -> Path:
    """The dataset as every resumed run ends up seeing it: `many` plus the gate file as a plain image."""
    root = tmp_path_factory.mktemp("final")
    shutil.copytree(many, root / "data")
    tiny_image(root / "data" / GATE, 999)
    return root


@pytest.fixture(scope="module")
def clean(final_data: Path, keys: KeyFiles) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """(decision, integrity, reason codes) per key of one uninterrupted run (default jobs: parallel)."""
    proc = _rightsmark("verify", "data", "--trust", keys.ca, "-o", "clean.jsonl", cwd=final_data)
    code, _, err = _finish(proc)
    assert code == 1, err
    rows = [json.loads(line) for line in (final_data / "clean.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 301
    return {r["path"]: (r["decision"], r["integrity"], tuple(x["code"] for x in r["reasons"])) for r in rows}


def _read_report(path: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(key, decision, integrity, reason codes) per row, in file order, for any report format."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [(r["path"], r["decision"], r["integrity"], tuple(x["code"] for x in r["reasons"])) for r in rows]
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [
                (r["path"], r["decision"], r["integrity"], tuple(c for c in r["reason_codes"].split(";") if c))
                for r in csv.DictReader(fh)
            ]
    if path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [(r["path"], r["decision"], r["integrity"], tuple(x["code"] for x in r["reasons"])) for r in rows]
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pylist()
    return [(r["path"], r["decision"], r["integrity"], tuple(r["reason_codes"])) for r in table]


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("report", ["report.jsonl", "report.csv", "report.parquet"])
def test_resume_after_kill_reports_every_file_once(
    tmp_path: Path, many: Path, keys: KeyFiles, clean: dict[str, tuple[str, str, tuple[str, ...]]], report: str
) -> None:
    shutil.copytree(many, tmp_path / "data")
    # The gate is a named pipe: reading it blocks until someone writes, so the run is reliably
    # caught midway (a slow network file would do the same), with 151 files behind it.
    os.mkfifo(tmp_path / "data" / GATE)
    out = tmp_path / report
    on_disk = out.with_name(out.name + ".journal.jsonl") if report.endswith(".parquet") else out
    args = ("verify", "data", "--trust", keys.ca, "-o", out.name, "--jobs", "1", "--keep-list", "keep.txt")
    proc = _rightsmark(*args, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while _complete_lines(on_disk) < 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first run wrote nothing"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    partial = on_disk.read_bytes()
    assert 20 <= partial.count(b"\n") < 301
    assert not (report.endswith(".parquet") and out.exists())  # Parquet is written only at the end
    # a write torn by the kill: half a record at the end
    with on_disk.open("ab") as fh:
        fh.write(b"data/f1" if report.endswith(".csv") else b'{"path": "data/f1')

    os.unlink(tmp_path / "data" / GATE)
    tiny_image(tmp_path / "data" / GATE, 999)  # the same bytes as in the clean run
    code, _, err = _finish(_rightsmark(*args, "--resume", cwd=tmp_path))
    assert code == 1, err  # some files are dropped (the unsigned half)
    assert "Traceback" not in err
    assert "resumed: " in err and "files already in the report were skipped" in err

    rows = _read_report(out)
    keys_seen = [r[0] for r in rows]
    assert len(keys_seen) == len(set(keys_seen)) == 301, Counter(keys_seen).most_common(3)
    assert keys_seen == sorted(keys_seen)  # input order survives the restart
    assert {k: (d, i, c) for k, d, i, c in rows} == clean
    kept = (tmp_path / "keep.txt").read_text(encoding="utf-8").splitlines()
    assert len(kept) == len(set(kept))
    assert set(kept) == {k for k, (decision, _, _) in clean.items() if decision == "keep"}
    if report.endswith(".parquet"):
        assert not on_disk.exists()  # the journal is converted and removed

    # resuming a finished JSON Lines or CSV report has nothing left to do
    if not report.endswith(".parquet"):
        code, _, err = _finish(_rightsmark(*args, "--resume", cwd=tmp_path))
        assert code == 1, err  # the earlier drops still count
        assert "verified 0 files" in err
        assert _read_report(out) == rows
        assert sorted((tmp_path / "keep.txt").read_text(encoding="utf-8").splitlines()) == sorted(kept)


def test_resume_needs_a_resumable_output(cli: Cli, mixed: Path) -> None:
    for args in (("--resume",), ("-o", "r.json", "--resume"), ("-o", "r.txt", "--resume")):
        result = cli("verify", mixed, *args)
        assert result.returncode == 2, result.stderr
        assert "--resume" in result.stderr


# ---------------------------------------------------------------------------------------------
# --cache: unchanged bytes are not read twice; a changed byte or other trust is a miss


def _records(result: Any) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in result.jsonl()}


def _cache_hits(stderr: str) -> int:
    for line in stderr.splitlines():
        if line.strip().startswith("cache: "):
            return int(line.split()[1])
    return 0


def test_cache_reuses_verdicts_for_unchanged_bytes(
    cli: Cli, tmp_path: Path, mixed: Path, keys: KeyFiles, other_keys: KeyFiles
) -> None:
    data = tmp_path / "data"
    shutil.copytree(mixed, data)
    cache = tmp_path / "cache"
    args = ("verify", "data", "--trust", keys.ca, "--cache", cache, "-f", "jsonl")

    first = cli(*args)
    assert first.returncode == 1, first.stderr
    assert _cache_hits(first.stderr) == 0
    engine_read = [k for k, r in _records(first).items() if r["integrity"] in ("valid", "invalid")]
    assert len(engine_read) >= 4

    second = cli(*args)
    assert _cache_hits(second.stderr) == len(engine_read)
    assert f"cache: {len(engine_read)} verdicts reused" in second.stderr
    assert _records(second) == _records(first)
    assert second.returncode == first.returncode

    # the policy is applied afresh to cached facts: other flags, same cache, new decisions
    nc = cli(*args, "--non-commercial", "-j", "2")
    assert _cache_hits(nc.stderr) == len(engine_read)
    assert _records(nc)["data/b-signed-nc.jpg"]["decision"] == "keep"
    assert _records(first)["data/b-signed-nc.jpg"]["decision"] == "drop"

    # one changed byte: that file is read again, and found invalid
    flip_byte(data / "a-signed.jpg")
    third = cli(*args)
    assert _cache_hits(third.stderr) == len(engine_read) - 1
    changed = _records(third)["data/a-signed.jpg"]
    assert changed["integrity"] == "invalid"
    assert changed["decision"] == "drop"
    assert {k: r for k, r in _records(third).items() if k != "data/a-signed.jpg"} == {
        k: r for k, r in _records(first).items() if k != "data/a-signed.jpg"
    }

    # other trust anchors: nothing from the cache (a verdict depends on the trust it was made under)
    other = cli("verify", "data", "--trust", other_keys.ca, "--cache", cache, "-f", "jsonl")
    assert _cache_hits(other.stderr) == 0
    assert _records(other)["data/c-signed.png"]["trust"] == "untrusted"
    assert _records(other)["data/c-signed.png"]["reasons"][0]["code"] == "untrusted"
    # and the first anchors still find their verdicts
    assert _cache_hits(cli(*args).stderr) == len(engine_read)


def test_cache_on_library_level_counts_hits(mixed: Path, keys: KeyFiles, tmp_path: Path) -> None:
    policy = Policy(anchors=(keys.ca,))
    items = path_items(mixed)
    with BulkVerifier(policy, jobs=1, cache_dir=tmp_path / "c") as bulk:
        first = [r.to_dict() for r in bulk.run(items)]
        reads = bulk.engine_reads
        assert bulk.cache is not None and bulk.cache.hits == 0
    with BulkVerifier(policy, jobs=2, cache_dir=tmp_path / "c") as bulk:
        assert [r.to_dict() for r in bulk.run(items)] == first
        assert bulk.cache is not None
        errors = sum(1 for r in first if r["integrity"] == "error" and r["path"] not in ("j-empty.jpg",))
        assert bulk.cache.hits == reads - errors  # errors are never cached: they are tried again
        assert bulk.engine_reads == errors


# ---------------------------------------------------------------------------------------------
# Reports, keep list, summary


@pytest.fixture(scope="module")
def report_runs(tmp_path_factory: pytest.TempPathFactory, mixed: Path, keys: KeyFiles) -> dict[str, Any]:
    """One verify run per report format, each with a keep list."""
    cwd = tmp_path_factory.mktemp("reports")
    shutil.copytree(mixed, cwd / "data")
    runs: dict[str, Any] = {}
    for name in ("r.jsonl", "r.csv", "r.parquet", "r.json"):
        code, out, err = _finish(
            # k-notes.txt is not an image: reported as a dropped record with --report-non-images (issue 13)
            _rightsmark(
                *("verify", "data", "--trust", keys.ca, "-o", name, "--keep-list", name + ".keep"),
                "--report-non-images",
                cwd=cwd,
            )
        )
        runs[name] = {"code": code, "stdout": out, "stderr": err, "rows": _read_report(cwd / name)}
        runs[name]["kept"] = (cwd / (name + ".keep")).read_text(encoding="utf-8").splitlines()
    runs["cwd"] = cwd
    return runs


def test_every_report_format_says_the_same(report_runs: dict[str, Any]) -> None:
    reference = report_runs["r.jsonl"]["rows"]
    assert len(reference) == 12
    assert [r[0] for r in reference] == sorted(r[0] for r in reference)
    for name in ("r.csv", "r.parquet", "r.json"):
        assert report_runs[name]["rows"] == reference, name
        assert report_runs[name]["code"] == 1
        assert report_runs[name]["stdout"] == ""  # the report went to the file


def test_parquet_has_the_flat_columns(report_runs: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rightsmark.reports.formats import FLAT_COLUMNS, LIST_COLUMNS

    table = pq.read_table(report_runs["cwd"] / "r.parquet")
    assert tuple(table.schema.names) == FLAT_COLUMNS
    for column in FLAT_COLUMNS:
        kind = table.schema.field(column).type
        assert kind == (pa.list_(pa.string()) if column in LIST_COLUMNS else pa.string()), column
    rows = {r["path"]: r for r in table.to_pylist()}
    signed = rows["data/a-signed.jpg"]
    assert signed["decision"] == "keep" and signed["trust"] == "trusted"
    assert signed["license_id"] == "CC-BY-4.0" and signed["ai_training"] == "allowed"
    assert signed["author"] == ["Jane Doe"] and signed["reason_codes"] == []
    assert rows["data/k-notes.txt"]["error"]
    assert not (report_runs["cwd"] / "r.parquet.journal.jsonl").exists()


def test_keep_list_is_exactly_the_kept_keys(report_runs: dict[str, Any]) -> None:
    for name in ("r.jsonl", "r.csv", "r.parquet", "r.json"):
        kept = report_runs[name]["kept"]
        assert kept == [r[0] for r in report_runs[name]["rows"] if r[1] == "keep"], name
    assert report_runs["r.jsonl"]["kept"] == ["data/a-signed.jpg", "data/c-signed.png"]


def test_summary_counts_decisions_and_reasons(report_runs: dict[str, Any]) -> None:
    rows = report_runs["r.jsonl"]["rows"]
    err = report_runs["r.jsonl"]["stderr"]
    decisions = Counter(r[1] for r in rows)
    assert f"verified {len(rows)} files" in err
    assert f"{decisions['keep']} keep, {decisions['drop']} drop" in err
    reasons = Counter(code for r in rows for code in dict.fromkeys(r[3]))
    summary_lines = {line.split()[0]: line.split()[-1] for line in err.splitlines() if line.startswith("    ")}
    assert {code: int(n) for code, n in summary_lines.items()} == dict(reasons)
    integrity = Counter(r[2] for r in rows)
    assert "integrity: " + ", ".join(f"{k} {v}" for k, v in sorted(integrity.items())) in err


def test_quiet_prints_no_summary_and_text_goes_to_stdout(cli: Cli, tmp_path: Path, mixed: Path, keys: KeyFiles) -> None:
    quiet = cli("verify", mixed, "--trust", keys.ca, "-o", "r.jsonl", "--quiet", "--report-non-images")
    assert quiet.returncode == 1
    assert "verified" not in quiet.stderr and "drop reasons" not in quiet.stderr
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    named = [f"rightsmark: {r['path']}: {r['error']}" for r in records if r["integrity"] == "error"]
    assert len(named) >= 3
    assert quiet.stderr.splitlines() == named  # unreadable files are still named, one line each, nothing else

    text = cli("verify", mixed, "--trust", keys.ca, "--report-non-images")
    assert text.returncode == 1
    heads = [line for line in text.stdout.splitlines() if line.startswith(("KEEP", "DROP"))]
    assert len(heads) == 12
    assert f"KEEP  {mixed / 'a-signed.jpg'}" in heads
    assert f"DROP  {mixed / 'f-unsigned.jpg'}" in heads
    assert "verified 12 files" in text.stderr
    assert "verified" not in text.stdout


def test_default_policy_is_strict(cli: Cli, mixed: Path) -> None:
    result = cli("verify", mixed, "-f", "jsonl")
    assert result.returncode == 1
    records = {Path(r["path"]).name: r for r in result.jsonl()}
    assert all(r["decision"] == "drop" for r in records.values())
    # the bundled C2PA lists are consulted by default; a development CA is on none of them
    assert [x["code"] for x in records["a-signed.jpg"]["reasons"]] == ["untrusted"]
    assert [x["code"] for x in records["b-signed-nc.jpg"]["reasons"]] == ["untrusted", "license-non-commercial"]
    assert records["a-signed.jpg"]["integrity"] == "valid"


def test_parallel_by_default_and_jobs_must_be_positive(cli: Cli, mixed: Path) -> None:
    from rightsmark.verify.bulk import default_jobs

    with BulkVerifier(Policy()) as bulk:
        assert bulk.jobs == default_jobs() == len(os.sched_getaffinity(0))
    result = cli("verify", mixed, "--jobs", "0")
    assert result.returncode == 2
    assert "--jobs" in result.stderr


def test_report_written_inside_the_verified_folder_is_not_verified(cli: Cli, tmp_path: Path, mixed: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(mixed, data)
    args = ("-o", "data/report.jsonl", "--keep-list", "data/keep.txt", "--keep-unsigned", "--report-non-images")
    first = cli("verify", "data", *args)
    second = cli("verify", "data", *args)
    assert first.returncode == second.returncode == 1
    paths = [json.loads(line)["path"] for line in io.StringIO((data / "report.jsonl").read_text(encoding="utf-8"))]
    assert len(paths) == 12
    assert "data/report.jsonl" not in paths and "data/keep.txt" not in paths
