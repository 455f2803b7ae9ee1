"""Shared fixtures: real keys made by rightsmark itself, real images, the real C2PA engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rightsmark.keys.devca import KeyFiles, init_keys
from rightsmark.keys.material import SigningMaterial, load_signing_material
from rightsmark.models import Training, Use
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import Rights
from rightsmark.sign.signer import Signer

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_IMAGES = REPO / "examples" / "images"
EXAMPLE_KEYS = REPO / "keys" / "examples"
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session", autouse=True)
def _signing_journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Signing runs of the tests keep their journal in a temporary directory, never in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RIGHTSMARK_CACHE_DIR", str(tmp_path_factory.mktemp("rightsmark-cache")))
        yield


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    """A fresh development CA and signer made by `rightsmark keys init` code."""
    return init_keys(tmp_path_factory.mktemp("keys") / "k")


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    """A second, unrelated CA: its root must not make files of `keys` trusted."""
    return init_keys(tmp_path_factory.mktemp("keys") / "other", organization="unrelated CA")


@pytest.fixture(scope="session")
def material(keys: KeyFiles) -> SigningMaterial:
    return load_signing_material(keys.key, keys.chain)


@pytest.fixture(scope="session")
def signer(material: SigningMaterial) -> Signer:
    return Signer(material)


def open_rights(**overrides: object) -> Rights:
    """Rights that the default policy keeps: training allowed, no people, CC-BY-4.0."""
    base: dict[str, object] = {
        "consent": ConsentDeclaration.no_people(),
        "authors": ("Jane Doe",),
        "license": parse_license("CC-BY-4.0"),
        "training": Training(Use.ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED),
    }
    base.update(overrides)
    return Rights(**base)  # type: ignore[arg-type]


@pytest.fixture
def rights() -> Rights:
    return open_rights()


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    """An unsigned JPEG (a copy of the bundled sample)."""
    dest = tmp_path / "photo.jpg"
    dest.write_bytes((EXAMPLE_IMAGES / "harbour.jpg").read_bytes())
    return dest


@pytest.fixture
def signed_jpeg(tmp_path: Path, jpeg: Path, signer: Signer, rights: Rights) -> Path:
    out = tmp_path / "signed" / jpeg.name
    signer.sign_file(jpeg, out, rights)
    return out


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)

    def jsonl(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed CLI as a user would (a real process, cwd = tmp_path)."""

    def run(
        *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
    ) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if k != "RIGHTSMARK_DEBUG"}
        full_env["RIGHTSMARK_CACHE_DIR"] = str(tmp_path / ".rightsmark-cache")  # the signing journal of this test
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "rightsmark", *map(str, args)],
            cwd=cwd or tmp_path,
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "EXPECTED.tsv").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}: clone the project beside ../shared to run corpus tests")
    return CORPUS


def one_error_line(result: Any, *needles: str, code: int = 2) -> str:
    """Exit ``code``, no traceback, exactly one 'rightsmark: ...' line on stderr holding every needle."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("rightsmark: ") and "internal error" not in line, line
    for needle in needles:
        assert needle.lower() in line.lower(), (needle, line)
    return line


@contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``64k``) mounted on ``where`` to fill up (needs root; skips otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
        )
    except OSError as exc:
        pytest.skip(f"cannot mount a small tmpfs to fill ({exc})")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (not root, or not permitted): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port); yields its endpoint URL and stops it afterwards."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # a test dependency missing: fail loudly, never skip
        pytest.fail(f"the S3 tests need moto[server] and boto3 (pip install -e '.[test]'): {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(15)
    if starter.is_alive():
        pytest.fail("moto's S3 server did not start on 127.0.0.1 within 15 s")
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


from .tsa import direct_loopback, tsa  # noqa: E402, F401 - the local RFC 3161 timestamp authority
