"""Scale: rightsmark against the plain c2pa-python loop and a plain process pool at 1, 2, 4, ... workers,
with the main process's CPU per file, peak memory and start-up, in one run, beside the project's goals.

    python benchmarks/bench_scale.py                               # about 10 minutes on 2 cores
    python benchmarks/bench_scale.py --small 200 --large 4 --repeat 1 --memory 200,2000   # a quick try
    PYTHONPATH=/other/tree/src python benchmarks/bench_scale.py --json other.json         # another tree

The rightsmark measured is the one Python imports: set PYTHONPATH (absolute) to a tree's src/ to measure
that tree; its location is printed. Only the interpreter's packages and generated data are used (no
network). Everything is a whole process, as a user runs it, timed with benchmarks/_probe.py: wall seconds,
and CPU seconds (user+sys) of the whole process tree; each timing is the median of --repeat runs, the
commands interleaved so that noise falls on all of them alike.

Workloads, generated once into --workdir (with the interpreter's rightsmark, signed with keys/examples)
and reused:
  small  N JPEGs of 512x512 (60-120 KB), every second one signed (the example CA's chain), the others
         carrying no manifest: 1000 photos, each file made distinct by a JPEG comment segment holding its
         number, so all N files have distinct bytes (the workload folder holds one hard link per file of
         the generated store, so that every --small count reuses it)
  large  M JPEGs of 12 MP (about 2.5 MB), all signed: 4 photos, made distinct the same way
  memory the small workload's files hard-linked (cycling) into folders of each --memory count: here only
         the number of files matters, not their distinctness

Rows per workload:
  read + sha256     read and sha256 every file (python, one process): what touching the bytes costs
  plain loop        the single-process loop a user would write with c2pa-python (benchmarks/bench_bulk.py's
                    PLAIN: one Context with the trust anchors, remote fetching off; one Reader per file;
                    validation state and manifest JSON read)
  plain pool -j N   the same per-file work in a multiprocessing.Pool of N workers, one Context per worker
  rightsmark -j N   `rightsmark verify DIR --trust ca.pem -f jsonl -o FILE -q -j N`
Columns: files/s; speed against the plain loop and against the plain pool of the same N (>1: faster);
CPU seconds of the whole tree and CPU against the plain loop's (<1: cheaper).

Main-process CPU: rightsmark at -j 2 on the small workload run in benchmarks/_main_cpu.py, which calls the
CLI's entry point in-process and records getrusage(RUSAGE_SELF) of that process only (workers excluded), for
N files and for N/10: per file with start-up included, and the slope between the two (start-up excluded).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scale_data import linked, store
from bench_bulk import PLAIN, SHA

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CA = REPO / "keys" / "examples" / "ca.pem"
PY = sys.executable
CLI = "import sys; from rightsmark._cli import main; sys.argv[0] = 'rightsmark'; sys.exit(main())"

POOL = textwrap.dedent(
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
            return
        if reader is not None:
            with reader:
                reader.get_validation_state()
                json.loads(reader.json())

    if __name__ == "__main__":
        files = sorted(os.path.join(root, n) for root, _, names in os.walk(sys.argv[1]) for n in names)
        workers = int(sys.argv[3])
        chunk = max(1, min(64, len(files) // (8 * workers)))
        with Pool(workers, initializer=init, initargs=(open(sys.argv[2]).read(),)) as pool:
            for _ in pool.imap(one, files, chunksize=chunk):
                pass
    """
)

GOALS: dict[str, tuple[str, str, float, str]] = {
    "small_speed": ("small: speed vs plain loop, all of 2 cores (-j 2)", ">=", 2.5, "x"),
    "large_speed": ("large: speed vs plain loop, all of 2 cores (-j 2)", ">=", 1.9, "x"),
    "large_cpu": ("large: total CPU vs plain loop's", "<=", 1.05, "x"),
    "main_cpu_us": ("main-process CPU per file, -j 2, small", "<=", 25.0, " µs"),
    "memory_ratio": ("whole tree's peak memory, most vs fewest files", "<=", 1.3, "x"),
    "startup_ms": ("start-up over a bare interpreter's", "<=", 60.0, " ms"),
}


def goal(name: str, value: float | None) -> str:
    _, op, bound, unit = GOALS[name]
    sign = "≥" if op == ">=" else "≤"
    if value is None:
        return f"goal {sign} {bound:g}{unit}: not measured"
    met = value >= bound if op == ">=" else value <= bound
    return f"goal {sign} {bound:g}{unit}: {'met' if met else 'MISSED'}"


# ---------------------------------------------------------------------------------------------
# Measuring


def probe(cmd: list[str], *, sample: bool = False) -> dict[str, Any]:
    flags = ["--sample"] if sample else []
    out = subprocess.run([PY, str(HERE / "_probe.py"), *flags, "--", *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"probe failed for {cmd}: {out.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    if result["rc"] not in (0, 1):
        print(f"  warning: exit {result['rc']} from {' '.join(cmd)}: {result['stderr'][-300:]}", file=sys.stderr)
    return result


def verify_cmd(directory: Path, report: Path, jobs: int | None) -> list[str]:
    args = ["verify", str(directory), "--trust", str(CA), "-f", "jsonl", "-o", str(report), "-q"]
    return [*args, "-j", str(jobs)] if jobs else args


def measure_workload(
    name: str, directory: Path, files: int, work: Path, jobs: list[int], repeat: int
) -> dict[str, Any]:
    scripts = {}
    for label, text in (("sha", SHA), ("plain", PLAIN), ("pool", POOL)):
        scripts[label] = work / f"scale_{label}.py"
        scripts[label].write_text(text)
    report = work / "scale-report.jsonl"
    commands: list[tuple[str, int | None, list[str]]] = [
        ("read + sha256", None, [PY, str(scripts["sha"]), str(directory)]),
        ("plain loop", None, [PY, str(scripts["plain"]), str(directory), str(CA)]),
    ]
    for n in jobs:
        commands.append(("plain pool", n, [PY, str(scripts["pool"]), str(directory), str(CA), str(n)]))
        commands.append(("rightsmark", n, [PY, "-c", CLI, *verify_cmd(directory, report, n)]))
    runs: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(commands))}
    for r in range(repeat):
        for i, (label, n, cmd) in enumerate(commands):
            print(f"  [{name} {r + 1}/{repeat}] {label}{f' -j {n}' if n else ''}", file=sys.stderr, flush=True)
            report.unlink(missing_ok=True)
            runs[i].append(probe(cmd))
    rows = []
    for i, (label, n, _) in enumerate(commands):
        walls, cpus = [x["wall"] for x in runs[i]], [x["cpu"] for x in runs[i]]
        rows.append(
            {
                "command": label,
                "jobs": n,
                "wall": statistics.median(walls),
                "walls": walls,
                "cpu": statistics.median(cpus),
                "cpus": cpus,
                "exit": runs[i][-1]["rc"],
            }
        )
    loop = rows[1]
    pools = {row["jobs"]: row for row in rows if row["command"] == "plain pool"}
    for row in rows:
        row["files_per_s"] = files / row["wall"]
        row["speed_vs_loop"] = loop["wall"] / row["wall"]
        row["cpu_vs_loop"] = row["cpu"] / loop["cpu"]
        pool = pools.get(row["jobs"]) if row["command"] == "rightsmark" else None
        row["speed_vs_pool"] = pool["wall"] / row["wall"] if pool else None
        row["goals"] = []
        if row["command"] == "rightsmark":
            if row["jobs"] == 2:
                two = "" if os.cpu_count() == 2 else f" (set for 2 cores; this machine has {os.cpu_count()})"
                row["goals"].append("speed " + goal(f"{name}_speed", row["speed_vs_loop"]) + two)
            if name == "large":
                row["goals"].append("CPU " + goal("large_cpu", row["cpu_vs_loop"]))
    return {"files": files, "rows": rows}


def print_workload(title: str, result: dict[str, Any]) -> None:
    print(f"\n## {title}\n")
    print("| command | wall s | files/s | speed vs loop | vs pool same -j | CPU s | CPU vs loop | goal |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in result["rows"]:
        name = row["command"] + (f" -j {row['jobs']}" if row["jobs"] else "")
        vs_pool = f"{row['speed_vs_pool']:.2f}x" if row["speed_vs_pool"] else ""
        print(
            f"| {name} | {row['wall']:.2f} | {row['files_per_s']:.0f} | {row['speed_vs_loop']:.2f}x | {vs_pool} "
            f"| {row['cpu']:.2f} | {row['cpu_vs_loop']:.2f}x | {'; '.join(row['goals'])} |"
        )


def main_cpu(small: Path, fewer: Path, files: int, few: int, work: Path, repeat: int) -> dict[str, Any]:
    out, report = work / "scale-main-cpu.json", work / "scale-report.jsonl"
    seen: dict[int, list[float]] = {files: [], few: []}
    for r in range(repeat):
        for count, directory in ((files, small), (few, fewer)):
            print(f"  [main cpu {r + 1}/{repeat}] {count} files -j 2", file=sys.stderr, flush=True)
            out.unlink(missing_ok=True)
            report.unlink(missing_ok=True)
            probe([PY, str(HERE / "_main_cpu.py"), str(out), "--", *verify_cmd(directory, report, 2)])
            seen[count].append(json.loads(out.read_text())["cpu"] if out.exists() else float("nan"))
    cpu_n, cpu_few = statistics.median(seen[files]), statistics.median(seen[few])
    per_file = cpu_n / files * 1e6
    # below a thousand files between the two runs, noise outweighs the difference
    slope = (cpu_n - cpu_few) / (files - few) * 1e6 if files - few >= 1000 else None
    return {
        "files": files,
        "cpu": cpu_n,
        "cpus": seen[files],
        "few_files": few,
        "few_cpu": cpu_few,
        "few_cpus": seen[few],
        "us_per_file": per_file,
        "us_per_file_marginal": slope,
        "goal": goal("main_cpu_us", per_file),
        "goal_marginal": goal("main_cpu_us", slope),
    }


def memory(folders: dict[int, Path], work: Path) -> dict[str, Any]:
    out, report = work / "scale-main-cpu.json", work / "scale-report.jsonl"
    result: dict[str, Any] = {"runs": {}}
    for count, directory in folders.items():
        print(f"  [memory] {count} files", file=sys.stderr, flush=True)
        out.unlink(missing_ok=True)
        report.unlink(missing_ok=True)
        run = probe([PY, str(HERE / "_main_cpu.py"), str(out), "--", *verify_cmd(directory, report, None)], sample=True)
        main_kib = json.loads(out.read_text())["maxrss_kib"] if out.exists() else None
        result["runs"][count] = {
            "tree_pss_kib": run["tree_pss_kib"],
            "tree_rss_kib": run["tree_rss_kib"],
            "largest_kib": run["maxrss_kib"],
            "main_kib": main_kib,
        }
    lo, hi = min(folders), max(folders)
    for key in ("tree_pss_kib", "tree_rss_kib", "largest_kib", "main_kib"):
        a, b = result["runs"][lo][key], result["runs"][hi][key]
        result[key.replace("_kib", "_ratio")] = b / a if a and b else None
    result["goal"] = goal("memory_ratio", result["tree_pss_ratio"])
    return result


def startup(unsigned: Path, signed: Path, repeat: int) -> dict[str, Any]:
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        'python -c "import c2pa"': [PY, "-c", "import c2pa"],
        "rightsmark --version": [PY, "-c", CLI, "--version"],
        "rightsmark verify one.jpg (unsigned)": [PY, "-c", CLI, "verify", "-q", "--trust", str(CA), str(unsigned)],
        "rightsmark verify one.jpg (signed)": [PY, "-c", CLI, "verify", "-q", "--trust", str(CA), str(signed)],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    print(f"  [start-up] {repeat} rounds", file=sys.stderr, flush=True)
    for _ in range(repeat):
        for label, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - start)
    bare = min(times["python -c pass"])
    rows = []
    for label, values in times.items():
        over = (min(values) - bare) * 1000
        rows.append(
            {
                "command": label,
                "min_ms": min(values) * 1000,
                "median_ms": statistics.median(values) * 1000,
                "over_bare_ms": over,
                "goal": goal("startup_ms", over) if "rightsmark" in label else "",
            }
        )
    return {"repeat": repeat, "rows": rows}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cores"] = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
        flags = [line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")]
        info["cpu"] = model[0] if model else platform.processor()
        info["sha_ni"] = bool(flags) and "sha_ni" in flags[0]
    except OSError:
        info["cpu"], info["sha_ni"] = platform.processor(), None
    probe_src = (
        "import c2pa, rightsmark; print(c2pa.sdk_version()); print(rightsmark.__version__); print(rightsmark.__file__)"
    )
    found = subprocess.run([PY, "-c", probe_src], capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(f"rightsmark or c2pa cannot be imported by {PY}: set PYTHONPATH to a tree's src/ (absolute)")
    lines = found.stdout.splitlines()
    info["c2pa_python"] = importlib.metadata.version("c2pa-python")
    info["c2pa_sdk"], info["rightsmark"], info["rightsmark_at"] = lines
    package = Path(lines[2]).resolve().parent
    info["rightsmark_commit"] = None
    if package.parent.name == "src":  # a source tree: which commit, and whether it has changes
        tree = package.parent.parent
        git = subprocess.run(
            ["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True
        )
        info["rightsmark_commit"] = git.stdout.strip() if git.returncode == 0 else None
    return info


def mib(kib: int | None) -> str:
    return f"{kib / 1024:.1f}" if kib else "n/a"


def default_jobs(cores: int) -> list[int]:
    jobs, n = [], 1
    while n < cores:
        jobs.append(n)
        n *= 2
    return [*jobs, cores]


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, path)


def section(
    result: dict[str, Any], key: str, json_path: Path | None, fn: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    start = time.perf_counter()
    value = result[key] = fn()
    value["seconds"] = round(time.perf_counter() - start, 1)
    write_json(json_path, result)
    return value


def workload(
    result: dict[str, Any],
    args: Any,
    work: Path,
    name: str,
    directory: Path,
    files: list[Path],
    what: str,
    jobs: list[int],
) -> None:
    """Measure one workload (``args.small`` or ``args.large`` files of ``directory``), keep it and print it."""
    count = getattr(args, name)
    mb = sum(f.stat().st_size for f in files) / 2**20
    title = f"{name}: {count} {what} ({mb:.0f} MiB)"
    section(result, name, args.json, lambda: measure_workload(name, directory, count, work, jobs, args.repeat))
    result[name]["title"] = title
    print_workload(title, result[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench", help="generated files (default: .bench)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median; default 3)")
    parser.add_argument("--small", type=int, default=10000, help="512x512 JPEGs, half signed (default 10000)")
    parser.add_argument("--large", type=int, default=400, help="signed 12 MP JPEGs (default 400)")
    parser.add_argument(
        "--jobs", help="worker counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to the cores, and the cores)"
    )
    parser.add_argument("--memory", default="2000,20000", help="file counts compared for peak memory")
    parser.add_argument("--startup-repeat", type=int, default=20, help="runs of each start-up command (min)")
    parser.add_argument("--only", default="small,large,main,memory,startup", help="sections to run")
    parser.add_argument("--json", type=Path, help="also write every figure here, as JSON")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    only = set(args.only.split(","))
    work: Path = (args.workdir / "scale").resolve()
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    cores = info["cores"] or 1
    jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else default_jobs(cores)
    result: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "goals": GOALS}
    print(f"# bench_scale: {info['cpu']}, {cores} cores ({info['usable_cores']} usable), sha_ni {info['sha_ni']},")
    print(f"# Python {info['python']}, c2pa-python {info['c2pa_python']} (c2pa-rs {info['c2pa_sdk']}),")
    print(f"# rightsmark {info['rightsmark']} at {info['rightsmark_at']} ({info['rightsmark_commit']})")
    print(f"# median of {args.repeat} runs; workdir {work}")

    small_files = store(work, "512", args.small) if only & {"small", "main", "memory", "startup"} else []
    if "small" in only or "main" in only:
        small_dir = linked(work, f"small-{args.small}", small_files, args.small)
    if "small" in only:
        workload(result, args, work, "small", small_dir, small_files, "JPEGs of 512x512, half signed", jobs)
    if "large" in only:
        large_files = store(work, "12mp", args.large)
        large_dir = linked(work, f"large-{args.large}", large_files, args.large)
        workload(result, args, work, "large", large_dir, large_files, "signed JPEGs of 12 MP", jobs)
    if "main" in only:
        few = max(1, args.small // 10)
        few_dir = linked(work, f"small-{few}", small_files, few)
        m = section(
            result, "main_cpu", args.json, lambda: main_cpu(small_dir, few_dir, args.small, few, work, args.repeat)
        )
        print("\n## main-process CPU, rightsmark verify -j 2, small workload (RUSAGE_SELF of the main process)\n")
        print(
            f"- {m['files']} files: {m['cpu']:.2f} s = {m['us_per_file']:.0f} µs per file,"
            f" start-up included ({m['goal']})"
        )
        if m["us_per_file_marginal"] is not None:
            print(
                f"- {m['few_files']} files: {m['few_cpu']:.2f} s; slope between the two (start-up excluded): "
                f"{m['us_per_file_marginal']:.0f} µs per file ({m['goal_marginal']})"
            )
    if "memory" in only:
        counts = sorted(int(c) for c in args.memory.split(","))
        folders = {c: linked(work, f"mem-{c}", small_files, c) for c in counts}
        mem = section(result, "memory", args.json, lambda: memory(folders, work))
        lo, hi = counts[0], counts[-1]
        print(f"\n## peak memory, rightsmark verify (default -j), {lo} vs {hi} files (hard links)\n")
        print(f"| measure | {lo} files MiB | {hi} files MiB | ratio | goal |")
        print("|---|---:|---:|---:|---|")
        for key, label, note in (
            ("tree_pss", "whole tree, sum of PSS, sampled every 50 ms", mem["goal"]),
            ("tree_rss", "whole tree, sum of RSS, sampled every 50 ms", ""),
            ("largest", "largest single process (ru_maxrss of children)", ""),
            ("main", "main process (its own ru_maxrss)", ""),
        ):
            a, b, ratio = mem["runs"][lo][f"{key}_kib"], mem["runs"][hi][f"{key}_kib"], mem[f"{key}_ratio"]
            print(f"| {label} | {mib(a)} | {mib(b)} | {f'{ratio:.2f}x' if ratio else 'n/a'} | {note} |")
    if "startup" in only:
        st = section(result, "startup", args.json, lambda: startup(small_files[1], small_files[0], args.startup_repeat))
        print(f"\n## start-up, min of {args.startup_repeat} (and median), whole processes\n")
        print("| command | min ms | median ms | over bare python ms | goal |")
        print("|---|---:|---:|---:|---|")
        for row in st["rows"]:
            print(
                f"| {row['command']} | {row['min_ms']:.1f} | {row['median_ms']:.1f} | {row['over_bare_ms']:.1f}"
                f" | {row['goal']} |"
            )


if __name__ == "__main__":
    main()
