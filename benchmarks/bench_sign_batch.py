"""Batch signing speed against baselines timed in the same run.

    python benchmarks/bench_sign_batch.py [--files 100] [--repeat 3] [--workdir .bench]

Workload: --files JPEGs of 12 MP (4000x3000, about 4.5 MB each, distinct bytes), unsigned.
Every timing is a whole process, as a user runs it, median of --repeat runs, the runs of each kind
interleaved; beside each wall time the CPU seconds (user + system) of the whole process tree, so that
contention from other work on the machine (wall time well above CPU time / cores) shows:

  sha256      read + sha256 of every file (python)
  plain       the single-process loop a user would write with c2pa-python: one Context (thumbnails
              off), one callback Signer with the same key, one Builder per file with a one-action
              manifest, file streams in and out
  rightsmark  `rightsmark sign DIR --key --cert --no-people -o OUT -q` (all cores, XMP written, the
              full manifest, atomic outputs, journal); the same with --no-xmp; and with -j 1 (one
              process, like the plain loop: its CPU time against the plain loop's is the cost over the engine)

Reported: files per second of rightsmark / plain (target: at least 1.7x), and the per-file cost of a
batch (wall time / files) as a multiple of the sha256 of the same bytes (target: at most 3x); each
also in CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_bulk import KEYS, REPO, SHA, photo  # same image maker and sha256 baseline; this folder is on sys.path

PY = sys.executable

PLAIN_SIGN = textwrap.dedent(
    """
    import json, os, sys
    import c2pa
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
    chain = open(sys.argv[4]).read()
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_callback(lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())),
                                       c2pa.C2paSigningAlg.ES256, chain, None)
    manifest = json.dumps({"claim_generator_info": [{"name": "plain", "version": "1"}], "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType":
         "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]})
    os.makedirs(sys.argv[2], exist_ok=True)
    for name in sorted(n for n in os.listdir(sys.argv[1]) if n.endswith(".jpg")):
        builder = c2pa.Builder.from_json(manifest, context=ctx)
        with open(os.path.join(sys.argv[1], name), "rb") as src, open(os.path.join(sys.argv[2], name), "w+b") as dst:
            builder.sign(signer, "image/jpeg", src, dst)
    """
)


def make_inputs(root: Path, count: int) -> Path:
    out = root / f"sign-{count}"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bases = [photo((4000, 3000), s, 95, blur=0) for s in range(4)]
    for i in range(count):
        data = bases[i % 4]  # distinct bytes per file: a comment segment after SOI
        data = data[:2] + b"\xff\xfe" + (6).to_bytes(2, "big") + i.to_bytes(4, "big") + data[2:]
        (out / f"photo{i:03d}.jpg").write_bytes(data)
    (out / ".done").touch()
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and every process it waited for)."""
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return elapsed, children_cpu() - cpu


RIGHTSMARK_RUNS = {"rightsmark": [], "rightsmark --no-xmp": ["--no-xmp"], "rightsmark -j 1": ["-j", "1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    args = parser.parse_args()
    inputs = make_inputs(args.workdir.resolve(), args.files)
    total = sum(p.stat().st_size for p in inputs.glob("*.jpg"))
    print(f"{args.files} JPEGs of 12 MP, {total / args.files / 1e6:.1f} MB each; {os.cpu_count()} cores")
    # compiled once: with PYTHONDONTWRITEBYTECODE set, every run would pay for compiling rightsmark's modules
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "sha.py").write_text(SHA)
        (tmp / "plain.py").write_text(PLAIN_SIGN)
        key, chain = str(KEYS / "signer.key"), str(KEYS / "signer.pem")
        times: dict[str, list[tuple[float, float]]] = {"sha256": [], "plain": [], **{k: [] for k in RIGHTSMARK_RUNS}}
        for r in range(args.repeat):
            times["sha256"].append(run([PY, str(tmp / "sha.py"), str(inputs)]))
            out = tmp / f"plain{r}"
            times["plain"].append(run([PY, str(tmp / "plain.py"), str(inputs), str(out), key, chain]))
            shutil.rmtree(out)
            for label, extra in RIGHTSMARK_RUNS.items():
                out = tmp / f"rm{r}"
                env = {**os.environ, "RIGHTSMARK_CACHE_DIR": str(tmp / f"cache{r}-{len(extra)}")}
                cmd = [PY, "-m", "rightsmark", "sign", str(inputs), "--key", key, "--cert", chain, "--no-people"]
                times[label].append(run([*cmd, "-o", str(out), "-q", *extra], env))
                shutil.rmtree(out)
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        one_sha, one_sha_cpu = wall["sha256"] / args.files, cpu["sha256"] / args.files
        print(f"  {'':<22} {'wall':>8}  {'files/s':>8}  {'x sha256':>9}    {'CPU':>8}  {'x sha256':>9}")
        for label, seconds in wall.items():
            print(f"  {label:<22} {seconds:7.3f}s  {args.files / seconds:8.1f}  {seconds / args.files / one_sha:8.2f}x"
                  f"    {cpu[label]:7.3f}s  {cpu[label] / args.files / one_sha_cpu:8.2f}x")  # fmt: skip
        print(f"rightsmark vs plain loop: {wall['plain'] / wall['rightsmark']:.2f}x files per second (target >= 1.7x);"
              f" CPU {cpu['rightsmark'] / cpu['plain']:.2f}x the plain loop's")  # fmt: skip
        print(f"  without XMP:            {wall['plain'] / wall['rightsmark --no-xmp']:.2f}x;"
              f" CPU {cpu['rightsmark --no-xmp'] / cpu['plain']:.2f}x")  # fmt: skip
        print(f"  one process (-j 1):     {wall['plain'] / wall['rightsmark -j 1']:.2f}x;"
              f" CPU {cpu['rightsmark -j 1'] / cpu['plain']:.2f}x (the cost over the engine)")  # fmt: skip
        print(f"per-file cost in a batch: {wall['rightsmark'] / args.files / one_sha:.2f}x sha256 (target <= 3x);"
              f" CPU per file {cpu['rightsmark'] / args.files / one_sha_cpu:.2f}x sha256's")  # fmt: skip


if __name__ == "__main__":
    main()
