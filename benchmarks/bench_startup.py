"""Start-up: whole processes, as a user runs them, against a bare interpreter timed in the same run.

    python benchmarks/bench_startup.py                          # this checkout
    python benchmarks/bench_startup.py --against OTHER/src      # and another tree (e.g. a git worktree
                                                                 # of an earlier commit), interleaved;
                                                                 # repeat --against for more trees

Commands: a bare ``python -c pass``; ``python -c "import c2pa"`` (the floor of any run that reads a
manifest: the engine's import, which rightsmark cannot change); ``rightsmark --version``; ``rightsmark
--help``; ``rightsmark verify`` of one unsigned JPEG (``--keep-unsigned``) and of one signed JPEG
(``--trust`` the example CA). Each runs ``--repeat`` times, the trees alternating so that machine noise
falls on both alike. Reported per command: min and median wall time, min CPU time (user + system of the
process and the workers it waited for, from ``wait4``: steadier than wall time on a shared machine), and
the min CPU over the bare interpreter's (the goal: <= 60 ms for ``--version`` and ``verify
one.jpg``); for the signed file also over the ``import c2pa`` floor.

Every process runs from bytecode, as an installed package does: the children write and read their
``.pyc`` files under a temporary ``PYTHONPYCACHEPREFIX`` (never into the trees), and a first untimed
round fills it.
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
BARE = "bare python"
FLOOR = "import c2pa"
UNSIGNED = REPO / "examples/images/harbour.jpg"


def _cli(*args: str) -> list[str]:
    return ["-c", f"import sys; from rightsmark._cli import main; sys.argv = ['rightsmark', *{list(args)!r}]; main()"]


def _signed_example(workdir: Path, env: dict[str, str]) -> Path:
    out = workdir / "signed"
    target = out / "harbour.jpg"
    if not target.exists():
        keys = REPO / "keys" / "examples"
        subprocess.run(
            [
                sys.executable,
                *_cli(
                    "sign",
                    str(UNSIGNED),
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
            env=dict(env, PYTHONPATH=str(REPO / "src")),
        )
    return target


def _run(command: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Exit status, wall seconds and CPU seconds (the process and the children it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *command], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--against", action="append", default=[], help="another tree's src/ folder, timed alongside (repeatable)"
    )
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    trees = {"this": str(REPO / "src")}
    for number, other in enumerate(args.against, 1):
        trees["against" if len(args.against) == 1 else f"against{number}"] = str(Path(other).resolve())
    ca = str(REPO / "keys/examples/ca.pem")
    with tempfile.TemporaryDirectory() as tmp:
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base_env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        signed = _signed_example(Path(tmp), base_env)
        commands = {
            BARE: ["-c", "pass"],
            FLOOR: ["-c", "import c2pa"],
            "--version": _cli("--version"),
            "--help": _cli("--help"),
            "verify unsigned": _cli("verify", "-q", "--keep-unsigned", str(UNSIGNED)),
            "verify signed": _cli("verify", "-q", "--trust", ca, str(signed)),
        }
        envs = {tree: dict(base_env, PYTHONPATH=src) for tree, src in trees.items()}
        for tree, env in envs.items():  # the untimed round: bytecode written, and every command works
            for label, command in commands.items():
                code, _, _ = _run(command, env)
                if code not in (0, 1):
                    sys.exit(f"{tree}: {label} exited {code}: {subprocess.list2cmdline(command)}")
        walls: dict[tuple[str, str], list[float]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for tree, env in envs.items():
                for label, command in commands.items():
                    _, wall, cpu = _run(command, env)
                    walls.setdefault((tree, label), []).append(wall)
                    cpus.setdefault((tree, label), []).append(cpu)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; min of {args.repeat} runs; ms")
    for tree, src in trees.items():
        print(f"  {tree}: {src}")
    columns = {"wall min": 9, "wall med": 9, "cpu min": 8, "over bare": 10, "over c2pa": 10}
    print(f"{'tree':9} {'command':16} " + " ".join(f"{c:>{w}}" for c, w in columns.items()))
    for tree in trees:
        bare = min(cpus[(tree, BARE)])
        floor = min(cpus[(tree, FLOOR)])
        for label in commands:
            wall, cpu = walls[(tree, label)], min(cpus[(tree, label)])
            over_floor = f"{(cpu - floor) * 1000:10.1f}" if label == "verify signed" else f"{'':10}"
            print(
                f"{tree:9} {label:16} {min(wall) * 1000:9.1f} {statistics.median(wall) * 1000:9.1f} "
                f"{cpu * 1000:8.1f} {(cpu - bare) * 1000:10.1f} {over_floor}"
            )


if __name__ == "__main__":
    main()
