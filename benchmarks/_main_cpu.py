"""Run rightsmark's command line in this process; on exit, record what this process alone cost.

    python benchmarks/_main_cpu.py OUT.json -- verify DIR --trust ca.pem -j 2 ...

The command line is rightsmark's console-script entry point (``rightsmark._cli.main``), called here, so this
process is rightsmark's main process. On exit (a ``SystemExit`` included: the exit code is kept) OUT.json
receives ``cpu``, ``user``, ``sys``: getrusage(RUSAGE_SELF) of this process, every thread of it and its whole
life (interpreter start, imports, the run); worker processes are other processes, so none of their CPU is
in it (``children_cpu`` is theirs, for those already reaped); ``maxrss_kib``: this process's own peak
resident set; ``exit``.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import sys


def _record(out: str, me: int, code: list[object]) -> None:
    if os.getpid() != me:  # a forked worker that exits through the interpreter: not the main process
        return
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "cpu": own.ru_utime + own.ru_stime,
        "user": own.ru_utime,
        "sys": own.ru_stime,
        "maxrss_kib": own.ru_maxrss,
        "children_cpu": kids.ru_utime + kids.ru_stime,
        "exit": code[0],
    }
    tmp = f"{out}.{me}.tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, out)


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit("usage: _main_cpu.py OUT.json -- RIGHTSMARK-ARGS...")
    out, args = sys.argv[1], sys.argv[3:]
    code: list[object] = [None]
    # registered first, so it runs last: after the handlers the run registers (thread and pool joins)
    atexit.register(_record, out, os.getpid(), code)
    sys.argv = ["rightsmark", *args]
    try:
        from rightsmark._cli import main as cli

        cli()
        code[0] = 0
    except SystemExit as stop:
        code[0] = stop.code if isinstance(stop.code, int) or stop.code is None else 1
        raise


if __name__ == "__main__":
    main()
