"""CPU per file of one worker's reading of large signed JPEGs: the plain c2pa-python loop body, rightsmark on the
file's bytes, and rightsmark reading the file in place (the engine reads the checked descriptor itself).

    python benchmarks/bench_inplace.py --workdir /tmp/benchwork       # workload b of bench_bulk (40 x 12 MP)
    python benchmarks/bench_inplace.py --dir SOME/FOLDER --rounds 7

CPU seconds (user + system of this process, ``getrusage``), not wall time: the machine may be shared. Each way
reads every file once per round, rounds interleaved; the median per file is reported, and its ratio to the
plain loop. Start-up (imports, contexts, the first file's trust evaluation) is outside the timed rounds:
``bench_bulk.py`` times whole processes.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = REPO / "keys" / "examples"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench")
    parser.add_argument("--dir", type=Path, help="a folder of JPEGs instead of workload b")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import c2pa

    from bench_bulk import make_b
    from rightsmark.verify.localfile import read_local
    from rightsmark.verify.policy import Policy
    from rightsmark.verify.reader import FactReader

    folder = args.dir or make_b(args.workdir)
    files = sorted(str(p) for p in folder.rglob("*.jpg"))
    anchors = (KEYS / "ca.pem").read_text()
    context = c2pa.Context.from_dict(
        {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}, "trust": {"trust_anchors": anchors}}
    )
    policy = Policy(anchors=(KEYS / "ca.pem",))
    reader = FactReader(policy.trust_sources(), fingerprints=policy.needs_fingerprints)

    def plain() -> None:
        for name in files:
            with open(name, "rb") as fh:
                data = fh.read()
            found = c2pa.Reader.try_create("image/jpeg", io.BytesIO(data), None, context)
            if found is not None:
                with found:
                    found.get_validation_state()
                    json.loads(found.json())

    def as_bytes() -> None:
        for name in files:
            with open(name, "rb", buffering=0) as fh:
                reader.read(fh.read(), name)

    def in_place() -> None:
        for name in files:
            read_local(reader, name, name)

    ways: dict[str, Callable[[], None]] = {"plain loop": plain, "bytes": as_bytes, "in place": in_place}
    for way in ways.values():  # warm: contexts, the verdict on the signer's chain, the page cache
        way()
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            start = cpu()
            way()
            spent[name].append((cpu() - start) / len(files) * 1000)
    mb = sum(Path(f).stat().st_size for f in files) / len(files) / 2**20
    print(f"{len(files)} JPEGs, mean {mb:.1f} MiB; CPU ms per file, median of {args.rounds} rounds")
    base = statistics.median(spent["plain loop"])
    for name, values in spent.items():
        median = statistics.median(values)
        print(f"  {name:10s} {median:7.2f} ms   {median / base:5.2f}x plain loop")
    reader.close()
    context.close()


if __name__ == "__main__":
    main()
