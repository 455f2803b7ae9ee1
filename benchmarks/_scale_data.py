"""bench_scale's workloads: generated once, every file distinct, written atomically, reused by later runs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bulk import photo, signer

BASES_SMALL, BASES_LARGE = 1000, 4


def _distinct(data: bytes, number: int) -> bytes:
    """The same JPEG with a comment segment holding ``number`` (after the JFIF segment, when there is one)."""
    at = 4 + int.from_bytes(data[4:6], "big") if data[2:4] == b"\xff\xe0" else 2
    return data[:at] + b"\xff\xfe\x00\x0a" + number.to_bytes(8, "big") + data[at:]


_signer: Any = None


def _make(task: tuple[str, Path, int, Path | None, bool]) -> None:
    """One generated file, written atomically: a base photo (kind 512/12mp), or a numbered copy of a base."""
    global _signer
    kind, dest, number, base, signed = task
    tmp = dest.parent / ".tmp"
    tmp.mkdir(exist_ok=True)
    plain, final = tmp / f"{number}.jpg", tmp / f"{number}-signed.jpg"
    if base is None:
        size, quality, blur = ((512, 512), 92, 0.5) if kind == "512" else ((4000, 3000), 95, 0.0)
        plain.write_bytes(photo(size, number, quality, blur))
    else:
        plain.write_bytes(_distinct(base.read_bytes(), number))
    if signed:
        if _signer is None:
            _signer = signer()
        sig, rights = _signer
        final.unlink(missing_ok=True)
        sig.sign_file(plain, final, rights)
        plain.unlink()
        plain = final
    os.replace(plain, dest)


def _generate(tasks: list[tuple[str, Path, int, Path | None, bool]], what: str) -> None:
    todo = [t for t in tasks if not t[1].exists()]
    if not todo:
        return
    print(f"  generating {len(todo)} {what} ...", file=sys.stderr, flush=True)
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        for _ in pool.imap_unordered(_make, todo, chunksize=max(1, min(32, len(todo) // (4 * (os.cpu_count() or 1))))):
            pass


def store(work: Path, kind: str, count: int) -> list[Path]:
    """``count`` generated files of one kind: numbered copies of a few base photos, every file distinct."""
    root = work / f"store-{kind}"
    bases_dir = root / "bases"
    bases_dir.mkdir(parents=True, exist_ok=True)
    n_bases = BASES_SMALL if kind == "512" else BASES_LARGE
    bases = [bases_dir / f"{k:05d}.jpg" for k in range(min(count, n_bases))]
    _generate([(kind, b, k, None, False) for k, b in enumerate(bases)], f"{kind} base photos")
    files = [root / f"{i // 1000:04d}" / f"{i:06d}.jpg" for i in range(count)]
    for folder in {f.parent for f in files}:
        folder.mkdir(exist_ok=True)
    signed_every = 2 if kind == "512" else 1
    tasks = [(kind, f, i, bases[i % n_bases], i % signed_every == 0) for i, f in enumerate(files)]
    _generate(tasks, f"{kind} files")
    return files


def linked(work: Path, name: str, files: list[Path], count: int) -> Path:
    """A folder of ``count`` hard links to ``files`` (cycling), in sub-folders of 1000, made once."""
    out, done = work / name, work / f"{name}.done"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        for i in range(count):
            dest = out / f"{i // 1000:04d}" / f"{i:06d}.jpg"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(files[i % len(files)], dest)
        done.touch()
    return out
