"""Bulk verification speed and memory, as ratios against baselines timed in the same run.

    python benchmarks/bench_bulk.py                  # everything (about 3 minutes on 2 cores)
    python benchmarks/bench_bulk.py --only a,help    # some workloads

Workloads (generated once into --workdir and reused):
  a       2000 JPEGs of 512x512 (60-120 KB), half signed with the example keys, half not
  b       40 JPEGs of 12 MP, all signed
  unsigned  the 1000 unsigned files of (a) alone, and 10,000 (hard links) where start-up is amortised
  memory  peak RSS for 20,000 files (hard links to (a)) against 2,000
  help    `rightsmark --help` and `--version` start-up

Every timing is a whole process, as a user runs it, median of --repeat runs:
  sha256    read + sha256 of every file (python)
  plain     the single-process loop a user would write with c2pa-python: one Context (trust anchors
            set, remote fetching off), one Reader per file, validation state and manifest JSON read
  rightsmark  `rightsmark verify DIR --trust ca.pem -f jsonl -o FILE -q` (all cores)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = REPO / "keys" / "examples"
PY = sys.executable

SHA = textwrap.dedent(
    """
    import hashlib, os, sys
    for root, dirs, files in os.walk(sys.argv[1]):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as fh:
                hashlib.sha256(fh.read()).hexdigest()
    """
)

PLAIN = textwrap.dedent(
    """
    import io, json, os, sys
    import c2pa
    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                  "trust": {"trust_anchors": open(sys.argv[2]).read()}})
    for root, dirs, files in os.walk(sys.argv[1]):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as fh:
                data = fh.read()
            try:
                reader = c2pa.Reader.try_create("image/jpeg", io.BytesIO(data), None, ctx)
            except c2pa.C2paError:
                continue
            if reader is not None:
                with reader:
                    reader.get_validation_state()
                    json.loads(reader.json())
    """
)


PLAIN_POOL = textwrap.dedent(
    """
    import io, json, os, sys
    from multiprocessing import Pool
    import c2pa

    def init(anchors):
        global ctx
        ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                      "trust": {"trust_anchors": anchors}})

    def one(path):
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            reader = c2pa.Reader.try_create("image/jpeg", io.BytesIO(data), None, ctx)
        except c2pa.C2paError:
            return None
        if reader is None:
            return None
        with reader:
            return reader.get_validation_state(), len(reader.json())

    if __name__ == "__main__":
        files = []
        for root, dirs, names in os.walk(sys.argv[1]):
            dirs.sort()
            files += [os.path.join(root, n) for n in sorted(names)]
        with Pool(os.cpu_count(), initializer=init, initargs=(open(sys.argv[2]).read(),)) as pool:
            for _ in pool.imap(one, files, chunksize=4):
                pass
    """
)


def photo(size: tuple[int, int], seed: int, quality: int, blur: float = 0.5) -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    im = Image.effect_noise(size, 45 + seed % 20).convert("RGB")
    draw = ImageDraw.Draw(im)
    w, h = size
    for _ in range(10):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(8, max(9, min(w, h) // 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    if blur:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def signer():  # type: ignore[no-untyped-def]
    from rightsmark.keys.material import load_signing_material
    from rightsmark.models import Training, Use
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights
    from rightsmark.sign.signer import Signer

    material = load_signing_material(KEYS / "signer.key", KEYS / "signer.pem")
    rights = Rights(
        consent=ConsentDeclaration.no_people(), authors=("Bench",), training=Training(Use.ALLOWED, Use.NOT_ALLOWED)
    )
    return Signer(material), rights


def make_a(root: Path) -> Path:
    out = root / "a"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    (out / "signed").mkdir(parents=True)
    (out / "unsigned").mkdir(parents=True)
    tmp = root / "a-src"
    tmp.mkdir(exist_ok=True)
    sig, rights = signer()
    for i in range(2000):
        data = photo((512, 512), i, 92)
        if i % 2 == 0:
            src = tmp / f"img{i:05d}.jpg"
            src.write_bytes(data)
            sig.sign_file(src, out / "signed" / src.name, rights)
            src.unlink()
        else:
            (out / "unsigned" / f"img{i:05d}.jpg").write_bytes(data)
    (out / ".done").touch()
    return out


def make_b(root: Path) -> Path:
    out = root / "b"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sig, rights = signer()
    bases = [photo((4000, 3000), s, 95, blur=0) for s in range(4)]
    tmp = root / "b-src.jpg"
    for i in range(40):
        # distinct bytes per file: a different quantisation-table-neutral comment segment
        data = bases[i % 4]
        data = data[:2] + b"\xff\xfe" + (6).to_bytes(2, "big") + i.to_bytes(4, "big") + data[2:]
        tmp.write_bytes(data)
        sig.sign_file(tmp, out / f"photo{i:03d}.jpg", rights)
    tmp.unlink()
    (out / ".done").touch()
    return out


def make_memory(root: Path, a: Path) -> tuple[Path, Path]:
    small, large = root / "mem2k", root / "mem20k"
    if not (large / ".done").exists():
        shutil.rmtree(small, ignore_errors=True)
        shutil.rmtree(large, ignore_errors=True)
        files = sorted(p for p in a.rglob("*.jpg"))
        small.mkdir(parents=True)
        for f in files:
            os.link(f, small / f"{f.parent.name}-{f.name}")
        for copy in range(10):
            d = large / f"part{copy:02d}"
            d.mkdir(parents=True)
            for f in files:
                os.link(f, d / f"{f.parent.name}-{f.name}")
        (large / ".done").touch()
    return small, large


def make_unsigned_large(root: Path, a: Path) -> Path:
    """10,000 unsigned files: the 1,000 of (a), hard-linked ten times (start-up amortised)."""
    out = root / "unsigned10k"
    if not (out / ".done").exists():
        shutil.rmtree(out, ignore_errors=True)
        for copy in range(10):
            d = out / f"part{copy:02d}"
            d.mkdir(parents=True)
            for f in sorted((a / "unsigned").glob("*.jpg")):
                os.link(f, d / f.name)
        (out / ".done").touch()
    return out


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of the largest process of one command run."""
    probe = textwrap.dedent(
        """
        import resource, subprocess, sys, time
        t = time.perf_counter()
        subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        """
    )
    out = subprocess.run([PY, "-c", probe, *cmd], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def timed(cmd: list[str], repeat: int) -> float:
    return statistics.median(run(cmd)[0] for _ in range(repeat))


def verify_cmd(directory: Path, report: Path) -> list[str]:
    return [
        PY,
        "-m",
        "rightsmark",
        "verify",
        str(directory),
        "--trust",
        str(KEYS / "ca.pem"),
        "-f",
        "jsonl",
        "-o",
        str(report),
        "-q",
    ]


def compare(name: str, directory: Path, work: Path, repeat: int, *, baseline: str = "plain") -> None:
    files = sum(1 for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    sha_script, plain_script, pool_script = work / "sha.py", work / "plain.py", work / "plain_pool.py"
    sha_script.write_text(SHA)
    plain_script.write_text(PLAIN)
    pool_script.write_text(PLAIN_POOL)
    sha = timed([PY, str(sha_script), str(directory)], repeat)
    plain = timed([PY, str(plain_script), str(directory), str(KEYS / "ca.pem")], repeat)
    pool = timed([PY, str(pool_script), str(directory), str(KEYS / "ca.pem")], repeat)
    ours = timed(verify_cmd(directory, work / "report.jsonl"), repeat)
    print(f"\n[{name}] {files} files")
    print(f"  read+sha256       {sha:7.3f} s   {files / sha:8.1f} files/s")
    print(f"  plain c2pa loop   {plain:7.3f} s   {files / plain:8.1f} files/s   ({plain / sha:.2f}x sha256)")
    print(f"  plain, all cores  {pool:7.3f} s   {files / pool:8.1f} files/s   ({plain / pool:.2f}x plain loop)")
    print(f"  rightsmark verify {ours:7.3f} s   {files / ours:8.1f} files/s   ({ours / sha:.2f}x sha256)")
    print(f"  => rightsmark speed vs plain loop: {plain / ours:.2f}x;  cost vs sha256: {ours / sha:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="a,b,unsigned,memory,help")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}; workdir {work}")

    if only & {"a", "unsigned", "memory"}:
        a = make_a(work)
        sizes = [p.stat().st_size for p in a.rglob("*.jpg")]
        print(f"workload a: {len(sizes)} JPEGs 512x512, {min(sizes) // 1024}-{max(sizes) // 1024} KB")
    if "a" in only:
        compare("a: 2000 x 512x512, half signed", a, work, args.repeat)
    if "b" in only:
        b = make_b(work)
        print(f"workload b: 40 JPEGs 12 MP, mean {sum(p.stat().st_size for p in b.glob('*.jpg')) / 40 / 2**20:.1f} MiB")
        compare("b: 40 x 12 MP, all signed", b, work, args.repeat)
    if "unsigned" in only:
        compare("unsigned: 1000 x 512x512, none signed", a / "unsigned", work, args.repeat)
        compare("unsigned: 10,000 x 512x512, none signed", make_unsigned_large(work, a), work, args.repeat)
    if "memory" in only:
        small, large = make_memory(work, a)
        _, rss_small = run(verify_cmd(small, work / "mem.jsonl"))
        _, rss_large = run(verify_cmd(large, work / "mem.jsonl"))
        print(
            f"\n[memory] peak RSS of the largest process: 2,000 files {rss_small / 1024:.1f} MiB;"
            f" 20,000 files {rss_large / 1024:.1f} MiB  => {rss_large / rss_small:.2f}x"
        )
    if "help" in only:
        for flag in ("--help", "--version"):
            best = min(run([PY, "-m", "rightsmark", flag])[0] for _ in range(7))
            exe = shutil.which("rightsmark")
            best_exe = min(run([exe, flag])[0] for _ in range(7)) if exe else float("nan")
            ms, ms_exe = best * 1000, best_exe * 1000
            print(
                f"\n[start-up] rightsmark {flag}: {ms:.0f} ms (python -m), {ms_exe:.0f} ms (console script), best of 7"
            )


if __name__ == "__main__":
    main()
