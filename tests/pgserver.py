"""A real PostgreSQL server on 127.0.0.1, from Debian's packages, for tests.

:func:`postgres_server` runs ``initdb`` into a temporary directory (password authentication, a password
the tests then look for in every message), starts ``postgres`` listening on 127.0.0.1 only, on a free port,
with its unix socket in that directory, and stops and removes it afterwards. Run as root, the server runs as
the ``postgres`` user (or ``nobody``), since PostgreSQL refuses to run as root. Where the binaries are
absent (``/usr/lib/postgresql/*/bin``) the tests that need it are skipped with a message; ``.ci/run``
installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "rightsmark"
PASSWORD = "s3cret-Password-7f1e"  # a throwaway server's password, asserted never to be shown


def _binaries() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> tuple[list[str], str | None]:
    """The prefix that runs a command as an unprivileged user when we are root, and that user."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"], name
    pytest.skip("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL (with user and password) of the server's ``postgres`` database."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    prefix, user = _as_user()
    base = Path(tempfile.mkdtemp(prefix="rightsmark-pg-"))
    data = base / "data"
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    log = base / "log"
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
             "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        port = _free_port()
        with log.open("wb") as out:
            server = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                 "-k", str(base), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        _wait_ready(url, server, log)
        yield url
    finally:
        if server is not None:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                           capture_output=True, timeout=60)  # fmt: skip
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"PostgreSQL stopped at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"PostgreSQL did not accept connections within 60 s: {log.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.2)


def fresh_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on the server of ``url``; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
