"""Sign and verify speed against baselines timed in the same run.

    python benchmarks/bench_sign_verify.py [--files 200] [--size 512] [--workdir .bench]

Workload: N JPEGs of SIZE x SIZE (synthetic photographs, 60-120 KB at 512 px). Reported, each as a ratio:

- verify: ``rightsmark verify DIR --format jsonl`` as a whole process, against (a) read+sha256 of the same
  bytes and (b) the plain single-process c2pa-python loop a user would write (one Context, one Reader per
  file), also timed as a whole process;
- sign: the library's Signer over the files, against (a) sha256 of the same bytes and (b) the plain
  c2pa-python signing loop (one Builder per file, thumbnails off, same key).

Numbers are medians of --repeat runs; the machine is noisy, so compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_bulk import PLAIN, SHA, photo  # the same baselines; this folder is on sys.path

REPO = Path(__file__).resolve().parents[1]


def make_images(directory: Path, count: int, size: int) -> list[Path]:
    """Synthetic photographs, made the same way as bench_bulk's workloads."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"img{i:05d}.jpg"
        path.write_bytes(photo((size, size), i, 90))
        paths.append(path)
    return paths


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(fn() for _ in range(repeat))


def bench_verify(dataset: Path, ca: Path, repeat: int) -> dict[str, float]:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        sha = Path(tmp) / "sha.py"
        sha.write_text(SHA)
        plain = Path(tmp) / "plain.py"
        plain.write_text(PLAIN)
        return {
            "sha256": median_of(repeat, lambda: timed([py, str(sha), str(dataset)])),
            "plain c2pa loop": median_of(repeat, lambda: timed([py, str(plain), str(dataset), str(ca)])),
            "rightsmark verify": median_of(
                repeat,
                lambda: timed([py, "-m", "rightsmark", "verify", str(dataset), "--trust", str(ca), "-f", "jsonl"]),
            ),
        }


def bench_sign(sources: list[Path], out: Path, repeat: int) -> dict[str, float]:
    import io

    import c2pa

    from rightsmark.keys.material import load_signing_material
    from rightsmark.models import Training, Use
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights
    from rightsmark.sign.signer import Signer

    keys = REPO / "keys" / "examples"
    material = load_signing_material(keys / "signer.key", keys / "signer.pem")
    rights = Rights(consent=ConsentDeclaration.no_people(), authors=("Bench",), training=Training(Use.ALLOWED))
    blobs = [p.read_bytes() for p in sources]

    def sha() -> float:
        start = time.perf_counter()
        for p in sources:
            hashlib.sha256(p.read_bytes()).hexdigest()
        return time.perf_counter() - start

    def plain() -> float:
        ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        signer = c2pa.Signer.from_callback(material.sign, c2pa.C2paSigningAlg.ES256, material.chain_pem(), None)
        manifest = {
            "claim_generator_info": [{"name": "bench", "version": "1"}],
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                            }
                        ]
                    },
                }
            ],
        }
        start = time.perf_counter()
        for p, data in zip(sources, blobs, strict=True):
            with c2pa.Builder.from_json(manifest, context=ctx) as builder, (out / "plain" / p.name).open("wb") as dst:
                builder.sign(signer, "image/jpeg", io.BytesIO(data), dst)
        return time.perf_counter() - start

    def ours() -> float:
        shutil.rmtree(out / "ours", ignore_errors=True)
        start = time.perf_counter()
        with Signer(material) as signer:
            for p in sources:
                signer.sign_file(p, out / "ours" / p.name, rights)
        return time.perf_counter() - start

    (out / "plain").mkdir(parents=True, exist_ok=True)
    return {
        "sha256": median_of(repeat, sha),
        "plain c2pa loop": median_of(repeat, plain),
        "rightsmark sign": median_of(repeat, ours),
    }


def report(title: str, n: int, times: dict[str, float], subject: str) -> None:
    print(f"\n{title} ({n} files)")
    for name, seconds in times.items():
        print(f"  {name:<20} {seconds:8.3f} s  {n / seconds:9.1f} files/s")
    print(f"  {subject} cost / sha256 cost:          {times[subject] / times['sha256']:.2f}x")
    print(f"  {subject} speed / plain c2pa loop speed: {times['plain c2pa loop'] / times[subject]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench")
    args = parser.parse_args()

    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    sources = make_images(work / "src", args.files, args.size)
    mean_kb = sum(p.stat().st_size for p in sources) / len(sources) / 1024
    print(f"workload: {len(sources)} JPEGs {args.size}x{args.size}, mean {mean_kb:.0f} KB; {os.cpu_count()} cores")

    sign_times = bench_sign(sources, work / "signed", args.repeat)
    report("sign", len(sources), sign_times, "rightsmark sign")
    ca = REPO / "keys" / "examples" / "ca.pem"
    verify_times = bench_verify(work / "signed" / "ours", ca, args.repeat)
    report("verify, all signed", len(sources), verify_times, "rightsmark verify")
    verify_unsigned = bench_verify(work / "src", ca, args.repeat)
    report("verify, none signed", len(sources), verify_unsigned, "rightsmark verify")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
