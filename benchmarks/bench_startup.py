"""Start-up: whole processes, as a user runs them, against a bare interpreter timed in the same run.

    python benchmarks/bench_startup.py                          # this checkout
    python benchmarks/bench_startup.py --against OTHER/src      # and another tree (e.g. a git worktree
                                                                 # of an earlier commit), interleaved

Commands: a bare ``python -c pass``; ``rightsmark --version``; ``rightsmark verify`` of one unsigned
image and of one signed JPEG (``--trust`` the example CA). Each runs ``--repeat`` times, the trees
alternating so that machine noise falls on both alike; min and median are reported, and each tree's
time over the bare interpreter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> list[str]:
    return ["-c", f"import sys; from rightsmark._cli import main; sys.argv = ['rightsmark', *{list(args)!r}]; main()"]


def _signed_example(workdir: Path) -> Path:
    out = workdir / "signed"
    target = out / "harbour.jpg"
    if not target.exists():
        keys = REPO / "keys" / "examples"
        subprocess.run(
            [
                sys.executable,
                *_cli(
                    "sign",
                    str(REPO / "examples/images/harbour.jpg"),
                    "-o",
                    str(out),
                    "--key",
                    str(keys / "signer.key"),
                    "--cert",
                    str(keys / "signer.pem"),
                    "--author",
                    "Bench",
                    "--license",
                    "CC-BY-4.0",
                    "--ai-training",
                    "notAllowed",
                    "--no-people",
                    "-q",
                ),
            ],
            check=True,
            env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="another tree's src/ folder, timed alongside this one")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    trees = {"this": str(REPO / "src")}
    if args.against:
        trees["against"] = str(Path(args.against).resolve())
    ca = str(REPO / "keys/examples/ca.pem")
    with tempfile.TemporaryDirectory() as tmp:
        signed = _signed_example(Path(tmp))
        commands = {
            "bare python": ["-c", "pass"],
            "--version": _cli("--version"),
            "verify unsigned": _cli("verify", "-q", "--keep-unsigned", str(REPO / "examples/images/dunes.avif")),
            "verify signed": _cli("verify", "-q", "--trust", ca, str(signed)),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for tree, src in trees.items():
                env = dict(os.environ, PYTHONPATH=src)
                for label, command in commands.items():
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, *command],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        check=False,
                    )
                    times.setdefault((tree, label), []).append(time.perf_counter() - start)

    print(f"{'tree':8} {'command':16} {'min ms':>8} {'median ms':>10} {'over bare':>10}")
    for tree in trees:
        bare = min(times[(tree, "bare python")])
        for label in commands:
            values = times[(tree, label)]
            print(
                f"{tree:8} {label:16} {min(values) * 1000:8.1f} {statistics.median(values) * 1000:10.1f} "
                f"{(min(values) - bare) * 1000:10.1f}"
            )


if __name__ == "__main__":
    main()
