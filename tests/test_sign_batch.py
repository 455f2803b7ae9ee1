"""Batch signing of large files: what the engine signs and writes, on worker processes, straight to disk.

The engine reads a JPEG's new XMP header and the untouched rest of its bytes as one stream and writes
the signed file straight into the temporary beside its destination; each signing process flushes one
file to disk while it signs the next. These tests check the outcomes that must not change with it:
every file verifies, carries its XMP, keeps its image data byte for byte, and the originals are never
touched; a full disk, a dying worker and a re-run leave whole files only.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rightsmark.engine.building import SplicedReader
from rightsmark.keys.devca import KeyFiles
from rightsmark.media.formats import jpeg_scan_start, sniff
from rightsmark.rights import xmp

from .conftest import EXAMPLE_IMAGES, small_tmpfs

OTHER_TOOL_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Oslo"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def noisy_jpeg(path: Path, seed: int, size: tuple[int, int] = (1600, 1200), **save: Any) -> Path:
    """A real JPEG of noise (about 1.5 MB at 1600x1200: the engine reads it in several chunks)."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=90, **save)
    return path


def sign_args(keys: KeyFiles, *extra: str) -> list[str]:
    return ["--key", str(keys.key), "--cert", str(keys.chain), "--no-people", "--author", "Jane Doe", *extra]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def verified(cli: Callable[..., Any], folder: Path, keys: KeyFiles) -> dict[str, str]:
    records = cli("verify", folder, "--trust", keys.ca, "--format", "jsonl", "--keep-unsigned").jsonl()
    return {Path(str(r["path"])).name: f"{r['integrity']}/{r['trust']}" for r in records}


# ---------------------------------------------------------------------------------------------
# What the engine is given and what it writes


def test_the_engine_reads_the_parts_of_a_file_as_one_stream() -> None:
    rng = random.Random(7)
    whole = rng.randbytes(300_000)
    parts: list[bytes | memoryview] = [memoryview(whole)[:1000], b"", whole[1000:1010], memoryview(whole)[1010:]]
    stream = SplicedReader(parts)
    assert stream.seek(0, io.SEEK_END) == len(whole) and stream.tell() == len(whole)
    for _ in range(200):  # reads of any size from anywhere, across part boundaries
        at = rng.randrange(len(whole) + 10)
        want = rng.choice([1, 7, 999, 1001, 65536, 220_000, 400_000])
        stream.seek(at)
        buffer = bytearray(want)
        n = stream.readinto(buffer)
        assert bytes(buffer[:n]) == whole[at : at + want] and stream.tell() == min(at + want, max(at, len(whole)))
    stream.seek(-10, io.SEEK_END)
    assert stream.read() == whole[-10:] and stream.read(5) == b""
    stream.seek(5)
    stream.seek(10, io.SEEK_CUR)
    assert stream.read(3) == whole[15:18]
    with pytest.raises(ValueError):
        stream.seek(-1)
    with pytest.raises(io.UnsupportedOperation):
        stream.write(b"x")


def test_xmp_goes_into_a_jpeg_without_copying_its_image_data(tmp_path: Path) -> None:
    fields = xmp.XmpFields(creators=("Jane Doe",), rights="© Jane Doe")
    for name, save in (("plain.jpg", {}), ("tagged.jpg", {"xmp": OTHER_TOOL_XMP})):
        data = noisy_jpeg(tmp_path / name, 3, (400, 300), **save).read_bytes()
        fmt = sniff(data[:64], name)
        assert fmt is not None
        parts = xmp.embed_parts(data, fmt, fields)
        assert isinstance(parts, tuple)
        assert b"".join(parts) == xmp.embed(data, fmt, fields)
        rest = parts[-1]
        assert isinstance(rest, memoryview) and rest.obj is data  # the image data is a view of the input
        start = jpeg_scan_start(data)
        assert isinstance(start, int) and bytes(rest).endswith(data[start:])


# ---------------------------------------------------------------------------------------------
# Batches on worker processes


def test_a_batch_of_large_jpegs_verifies_carries_xmp_keeps_image_data_and_never_touches_originals(
    cli: Callable[..., Any], tmp_path: Path, keys: KeyFiles
) -> None:
    src = tmp_path / "export"
    for i in range(6):
        extra: dict[str, Any] = {"xmp": OTHER_TOOL_XMP} if i == 2 else {}
        noisy_jpeg(src / f"img{i}.jpg", i, **extra)
    before = digests(src)
    result = cli("sign", src, "-o", tmp_path / "signed", *sign_args(keys, "--license", "CC-BY-4.0", "-j", "2"))
    assert result.returncode == 0, result.stderr
    assert "6 signed, 0 failed" in result.stderr and "Traceback" not in result.stderr
    assert digests(src) == before  # originals byte for byte
    signed = tmp_path / "signed"
    assert sorted(p.name for p in signed.iterdir()) == sorted(before)  # no temporaries left beside them
    assert verified(cli, signed, keys) == dict.fromkeys(before, "valid/trusted")
    for name in before:
        original, out = (src / name).read_bytes(), (signed / name).read_bytes()
        start = jpeg_scan_start(original)
        assert isinstance(start, int) and out.endswith(original[start:])  # the image data, byte for byte
        fmt = sniff(out[:64], name)
        assert fmt is not None
        fields = xmp.read(out, fmt)
        assert fields is not None and fields.creators == ("Jane Doe",)
        assert fields.web_statement == "https://creativecommons.org/licenses/by/4.0/"
    packet = xmp.find_packet((signed / "img2.jpg").read_bytes(), sniff(b"\xff\xd8\xff", "img2.jpg"))  # type: ignore[arg-type]
    assert packet is not None and b"Oslo" in packet  # another tool's XMP is merged into, not replaced


def test_a_batch_of_every_format_on_workers(cli: Callable[..., Any], tmp_path: Path, keys: KeyFiles) -> None:
    src = tmp_path / "export"
    src.mkdir()
    names = ["harbour.jpg", "market.png", "street.webp", "studio.tiff", "sketch.gif"]
    for name in names:
        (src / name).write_bytes((EXAMPLE_IMAGES / name).read_bytes())
    before = digests(src)
    for extra in ([], ["--no-xmp"]):
        out = tmp_path / f"signed{len(extra)}"
        result = cli("sign", src, "-o", out, *sign_args(keys, "-j", "2", *extra))
        assert result.returncode == 0, result.stderr
        assert "5 signed, 0 failed" in result.stderr
        assert ("XMP not written" in result.stderr) == (not extra)  # GIF: said once, signed anyway
        assert verified(cli, out, keys) == dict.fromkeys(names, "valid/trusted")
        for name in names[:4]:
            data = (out / name).read_bytes()
            fields = xmp.read(data, sniff(data[:64], name))  # type: ignore[arg-type]
            assert (fields is not None and fields.creators == ("Jane Doe",)) == (not extra), name
    assert digests(src) == before


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_worker_that_dies_fails_only_its_files_and_a_rerun_finishes_the_batch(tmp_path: Path, keys: KeyFiles) -> None:
    src = tmp_path / "export"
    first = noisy_jpeg(src / "img00.jpg", 1)
    for i in range(1, 40):
        os.link(first, src / f"img{i:02d}.jpg")  # forty sources, one image: quick to make
    env = {**os.environ, "RIGHTSMARK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RIGHTSMARK_DEBUG", None)
    cmd = [sys.executable, "-m", "rightsmark", "sign", str(src), "-o", str(tmp_path / "signed"), "-q",
           *sign_args(keys, "-j", "2")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers := _children(proc.pid)) < 2 and proc.poll() is None:
            time.sleep(0.005)
        assert len(workers) == 2, "the batch starts two workers"
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    died = [line for line in err.splitlines() if "the signing worker died" in line]
    assert 1 <= len(died) <= 3, err  # the files it held, no others
    assert f"{40 - len(died)} signed, {len(died)} failed" in err
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(died)} signed, {40 - len(died)} skipped" in rerun.stderr
    signed = tmp_path / "signed"
    names = sorted(p.name for p in signed.iterdir())
    assert names == [f"img{i:02d}.jpg" for i in range(40)]  # the killed worker's temporary is swept
    records = subprocess.run(
        [sys.executable, "-m", "rightsmark", "verify", str(signed), "--trust", str(keys.ca), "--format", "jsonl"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    assert len(records) == 40 and all('"integrity": "valid"' in r for r in records)


def test_a_disk_that_fills_while_the_engine_writes_stops_the_batch_with_whole_files_only(
    cli: Callable[..., Any], tmp_path: Path, keys: KeyFiles
) -> None:
    src = tmp_path / "export"
    for i in range(8):
        noisy_jpeg(src / f"img{i}.jpg", i, (1000, 800))  # about 0.6 MB each: three fit in 2 MB
    with small_tmpfs(tmp_path / "small", "2m") as small:
        out = small / "signed"
        result = cli("sign", src, "-o", out, *sign_args(keys, "-j", "2"))
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        full = [line for line in result.stderr.splitlines() if "no space left" in line]
        assert full == [
            f"rightsmark: no space left on the device holding {out}: free some space and run again"
            " (signed files already written are kept; the re-run skips them)"
        ], result.stderr
        left = sorted(p.name for p in out.iterdir())
        assert left and not [n for n in left if n.startswith(".")], left  # no temporary, no partial file
        assert verified(cli, out, keys) == dict.fromkeys(left, "valid/trusted")


def test_the_finishing_thread_never_hangs_nor_leaves_a_temporary(tmp_path: Path, signer: Any) -> None:
    """Ctrl-C while a signed file waits to be handed over removes its temporary; close() returns even so;
    a bug met finishing a file (raised with RIGHTSMARK_DEBUG) stops the thread, the files still waiting
    lose their temporaries, and the error reaches the caller instead of a hang."""
    import threading

    from rightsmark.sign.batch import SignJob, start_job
    from rightsmark.sign.workers import Finisher

    from .conftest import open_rights

    sources = [noisy_jpeg(tmp_path / "in" / f"{i}.jpg", i, (64, 64)) for i in range(4)]
    out = tmp_path / "out"
    out.mkdir()
    jobs = [SignJob(src, out / src.name, open_rights()) for src in sources]

    def temporaries() -> list[str]:
        return sorted(p.name for p in out.iterdir() if p.name.endswith(".part"))

    release = threading.Event()
    emitted: list[int] = []

    def slow(index: int, job: SignJob, outcome: Any) -> None:
        release.wait(10)  # the disk is slow: the thread holds the first file, the queue the second
        emitted.append(index)

    finisher = Finisher(None, slow)
    finisher.put(0, jobs[0], start_job(signer, jobs[0]))
    finisher.put(1, jobs[1], start_job(signer, jobs[1]))
    third = start_job(signer, jobs[2])
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            finisher.put(2, jobs[2], third)  # blocks: the queue is full, then Ctrl-C
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not (out / "2.jpg").exists()
    release.set()
    closer = threading.Thread(target=finisher.close)
    closer.start()
    closer.join(10)
    assert not closer.is_alive()  # no hang
    assert emitted == [0, 1] and temporaries() == []
    assert (out / "0.jpg").exists() and (out / "1.jpg").exists() and not (out / "2.jpg").exists()

    def bug(index: int, job: SignJob, outcome: Any) -> None:
        raise RuntimeError("a bug while finishing")

    (out / "0.jpg").unlink()
    (out / "1.jpg").unlink()
    broken = Finisher(None, bug)
    broken.put(0, jobs[0], start_job(signer, jobs[0]))
    with pytest.raises(RuntimeError, match="a bug while finishing"):
        for i in (1, 2, 3):  # one of these meets the error; none blocks for ever
            broken.put(i, jobs[i], start_job(signer, jobs[i]))
    with pytest.raises(RuntimeError):
        broken.close()
    assert temporaries() == []
