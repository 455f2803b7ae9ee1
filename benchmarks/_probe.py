"""Run one command as a measured whole process tree and print what it cost, as one JSON object.

  python benchmarks/_probe.py [--sample] -- CMD...

wall          seconds from starting CMD until it exits (what a user waits)
cpu           user+sys seconds of every process of the tree (RUSAGE_CHILDREN). This process is made a child
              subreaper, so processes that CMD leaves behind (a fork server and its workers) are adopted,
              reaped here and counted too
maxrss_kib    the peak resident set of the largest single process of the tree (RUSAGE_CHILDREN: a maximum
              over processes, not a sum)
tree_pss_kib  with --sample: the largest sum, over samples every 50 ms, of the proportional set size (PSS:
              shared pages divided among their sharers; RSS where PSS is unreadable) of every process of
              the tree: the whole tree's peak memory
tree_rss_kib  likewise, of the resident set sizes (pages that forked workers share counted in each)
rc, stderr    CMD's exit status and the end of what it wrote on stderr (its stdout is discarded)
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def _subreaper() -> bool:
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
        except OSError:
            pass
    return kids


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; PSS is RSS where smaps_rollup is unreadable."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith(("Rss:", "Pss:")):
                    found[line[:3]] = int(line.split()[1])
    except OSError:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        found["Rss"] = found["Pss"] = int(line.split()[1])
        except OSError:
            pass
    return found.get("Rss", 0), found.get("Pss", found.get("Rss", 0))


def _sample(stop: threading.Event, peak: list[int]) -> None:
    me = os.getpid()
    while not stop.is_set():
        tree, todo = [], _children(me)
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        sizes = [_memory_kib(pid) for pid in tree]
        peak[0] = max(peak[0], sum(rss for rss, _ in sizes))
        peak[1] = max(peak[1], sum(pss for _, pss in sizes))
        stop.wait(0.05)


def main() -> None:
    args = sys.argv[1:]
    sample = args[:1] == ["--sample"]
    if sample:
        args = args[1:]
    if args[:1] != ["--"] or len(args) < 2:
        sys.exit("usage: _probe.py [--sample] -- CMD...")
    adopted = _subreaper()
    stop, peak = threading.Event(), [0, 0]
    sampler = threading.Thread(target=_sample, args=(stop, peak), daemon=True)
    if sample:
        sampler.start()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        rc = proc.wait()
        wall = time.perf_counter() - start
        deadline, left = time.monotonic() + 60, 0
        while True:  # what the command left behind, adopted here
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() > deadline:
                    left = len(_children(os.getpid()))
                    break
                time.sleep(0.01)
        stop.set()
        if sample:
            sampler.join()
        err.seek(0)
        stderr = err.read()[-2000:].decode(errors="replace")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
        "tree_rss_kib": peak[0] if sample else None,
        "tree_pss_kib": peak[1] if sample else None,
        "rc": rc,
        "stderr": stderr,
        "subreaper": adopted,
        "unreaped": left,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
