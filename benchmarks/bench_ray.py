"""Verification on Ray: files per second per worker, with 1 and 2 workers, against the local engine.

    python benchmarks/bench_ray.py                 # about 3 minutes on 2 cores
    python benchmarks/bench_ray.py --repeat 3

Workloads (bench_bulk.py's workload (a) in --workdir, reused: 2000 JPEGs of 512x512, 60-120 KB, half
signed with the example keys, half not; hard-linked so that start-up costs are amortised):
  mixed   20,000 files: (a) ten times
  signed  10,000 files: the 1000 signed ones of (a) ten times (every file goes through the C2PA engine)

For each: a local Ray cluster (started once, 127.0.0.1 only, not timed) runs the work units of
`rightsmark verify --engine ray` with 1 and then 2 actors; timed is the whole Ray Data execution
(actors start, every unit read, verified and judged, every record back in the driver). For scale,
the local engine (`rightsmark verify DIR -j N`, a whole process) on the same files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = REPO / "keys" / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bulk import make_a, make_memory  # noqa: E402
from rightsmark.ray.plan import UNIT_FILES  # noqa: E402


def ray_seconds(directory: Path, jobs: int, repeat: int, unit_files: int) -> tuple[float, int]:
    from rightsmark.ray.engine import verify_units
    from rightsmark.ray.plan import plan
    from rightsmark.verify.policy import Policy

    policy = Policy(anchors=(KEYS / "ca.pem",))
    trust = policy.trust_sources()
    units = plan([str(directory)], unit_files=unit_files)
    times = []
    rows = 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = verify_units(units, policy, trust=trust, jobs=jobs).materialize().count()
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def local_seconds(directory: Path, jobs: int, repeat: int) -> float:
    cmd = [sys.executable, "-m", "rightsmark", "verify", str(directory), "--trust", str(KEYS / "ca.pem"), "-q"]
    cmd += ["-f", "jsonl", "-o", os.devnull, "-j", str(jobs)]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--unit-files", type=int, default=UNIT_FILES, help="files per work unit (default: the CLI's)")
    parser.add_argument("--only", default="mixed,signed")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    a = make_a(args.workdir)
    mixed = make_memory(args.workdir, a)[1]
    signed = args.workdir / "signed10k"
    if not (signed / ".done").exists():
        for copy in range(10):
            part = signed / f"part{copy:02d}"
            part.mkdir(parents=True, exist_ok=True)
            for f in sorted((a / "signed").glob("*.jpg")):
                if not (part / f.name).exists():
                    os.link(f, part / f.name)
        (signed / ".done").touch()

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind to 127.0.0.1
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    import ray
    import ray.data

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level=logging.ERROR, log_to_driver=False)  # fmt: skip
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    print(f"{os.cpu_count()} cores; Ray {ray.__version__}; {args.unit_files} files per work unit")
    try:
        for name, directory in (("mixed", mixed), ("signed", signed)):
            if name not in args.only.split(","):
                continue
            print(f"\n[{name}]")
            rates = {}
            for jobs in (1, 2):
                seconds, files = ray_seconds(directory, jobs, args.repeat, args.unit_files)
                rates[jobs] = files / seconds
                local = local_seconds(directory, jobs, args.repeat)
                print(
                    f"  ray, {jobs} worker{'s' if jobs > 1 else ' '} {seconds:7.2f} s  {files / seconds:7.1f} files/s"
                    f"  {files / seconds / jobs:7.1f} files/s/worker   (local engine -j {jobs}: {local:6.2f} s,"
                    f" {files / local:7.1f} files/s)"
                )
            print(f"  scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
