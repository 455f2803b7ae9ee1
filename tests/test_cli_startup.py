"""Start-up: a run builds only the command it runs, and verifying an unsigned file loads neither the engine nor
a certificate parser; yet every command stays reachable, listed and completed as before.

Processes are real (the modules a run loads are those of a fresh interpreter); no timing is asserted here
(``benchmarks/bench_startup.py`` measures it).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command_name

import rightsmark._cli
from rightsmark._cli._app import COMMANDS, _build, _summary, app

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "examples" / "images"

Cli = Callable[..., Any]

_PROBE = """
import json, sys
from rightsmark._cli import main

sys.argv = ["rightsmark", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code
sys.stdout.flush()
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _probe(*args: str | Path, cwd: Path | None = None) -> tuple[int, set[str], str]:
    """Run the CLI in a fresh interpreter: its exit code, the modules it loaded, its standard output."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    line = proc.stderr.rstrip().splitlines()[-1]
    assert line.startswith("PROBE "), proc.stderr
    found = json.loads(line.removeprefix("PROBE "))
    return found["code"], set(found["modules"]), proc.stdout


def _command_modules(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.startswith("rightsmark._cli.") and m != "rightsmark._cli._app"}


def _all_registered() -> list[str]:
    """The name of every command that a module of the CLI package registers (importing them all)."""
    for module in pkgutil.iter_modules(rightsmark._cli.__path__, "rightsmark._cli."):
        importlib.import_module(module.name)
    names = [info.name or get_command_name(info.callback.__name__) for info in app.registered_commands if info.callback]
    groups = [group.typer_instance.info.name for group in app.registered_groups if group.typer_instance]
    return names + [name for name in groups if isinstance(name, str)]


def test_every_registered_command_is_in_the_table_and_every_entry_is_registered() -> None:
    registered = _all_registered()
    assert sorted(registered) == sorted(COMMANDS)  # a command missing from the table could never run


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_is_built_by_name_and_listed_with_the_help_it_shows(name: str) -> None:
    _all_registered()
    built, listed = _build(name), _summary(name)
    assert built.name == listed.name == name
    assert built.hidden == listed.hidden
    for limit in (20, 45, 60, 74, 120, 300):
        assert listed.get_short_help_str(limit) == built.get_short_help_str(limit)


def test_version_loads_no_command_module() -> None:
    code, loaded, out = _probe("--version")
    assert code == 0 and out.startswith("rightsmark ")
    assert _command_modules(loaded) == set()


def test_a_command_loads_its_own_module_only() -> None:
    code, loaded, out = _probe("verify", "--help")
    assert code == 0 and "--keep-unsigned" in out
    assert _command_modules(loaded) == {"rightsmark._cli.verify"}
    code, loaded, out = _probe("keys", "--help")
    assert code == 0 and "csr" in out
    assert "rightsmark._cli.verify" not in loaded and "rightsmark._cli.keys" in loaded


def test_help_lists_every_command_in_order(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    listing = result.stdout.split("Commands:", 1)[1].splitlines()
    assert [line.split()[0] for line in listing if line.strip()] == list(COMMANDS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vrify", "x.jpg"], "No such command 'vrify'. Did you mean 'verify'?"),
        (["keys", "inti"], "No such command 'inti'. Did you mean 'init'?"),
        (["nosuch"], "No such command 'nosuch'."),
    ],
)
def test_unknown_commands_are_refused_with_suggestions(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_an_unsigned_file_is_verified_without_the_engine_or_a_certificate_parser(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes((IMAGES / "harbour.jpg").read_bytes())
    code, loaded, out = _probe("verify", "--keep-unsigned", "-q", "-f", "jsonl", photo, cwd=tmp_path)
    (record,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0 and record["decision"] == "keep" and record["integrity"] == "absent"
    heavy = {"c2pa", "cryptography.x509", "importlib.metadata", "jinja2", "pyarrow", "fsspec"}
    assert heavy & loaded == set()
    assert _command_modules(loaded) == {"rightsmark._cli.verify"}


#: What judging a file without a manifest never needs: the engine's side (reading manifests, chain trust,
#: consent). Writing XMP packets no verification needs.
ENGINE_SIDE = {
    "rightsmark.engine.adapter",
    "rightsmark.engine.reading",
    "rightsmark.engine.jumbf",
    "rightsmark.verify.chaintrust",
    "rightsmark.rights.manifest",
    "rightsmark.rights.consent",
}
WRITING_XMP = "rightsmark.rights.xmp.embedding"


def test_an_unsigned_file_loads_nothing_of_the_engine_side_nor_the_xmp_parser(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes((IMAGES / "harbour.jpg").read_bytes())
    code, loaded, out = _probe("verify", "--keep-unsigned", "-q", "-f", "jsonl", photo, cwd=tmp_path)
    (record,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0 and record["decision"] == "keep" and record["declared"] == []
    unneeded = {
        *ENGINE_SIDE,
        WRITING_XMP,
        "rightsmark.rights.xmp.packet",
        "rightsmark.rights.xmp.reading",
        "rightsmark.rights.xmp.fields",
        "rightsmark.media.tiff",
        "xml.etree.ElementTree",
        "csv",
        "tempfile",
    }
    assert unneeded & loaded == set()


def test_an_unsigned_file_with_an_xmp_packet_is_read_for_its_signals_without_the_engine_side(tmp_path: Path) -> None:
    from rightsmark.media.formats import sniff
    from rightsmark.rights import xmp

    data = (IMAGES / "harbour.jpg").read_bytes()
    fmt = sniff(data)
    assert fmt is not None
    marked = xmp.embed(data, fmt, xmp.XmpFields(data_mining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"))
    assert isinstance(marked, bytes)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(marked)
    code, loaded, out = _probe("verify", "--keep-unsigned", "-q", "-f", "jsonl", photo, cwd=tmp_path)
    (record,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 1 and record["decision"] == "drop"
    assert [r["code"] for r in record["reasons"]] == ["declared-opt-out"]
    assert "rightsmark.rights.xmp.reading" in loaded  # the packet was read
    assert {*ENGINE_SIDE, WRITING_XMP} & loaded == set()


def test_a_signed_file_loads_the_engine_side_when_it_needs_it(tmp_path: Path) -> None:
    keys = REPO / "keys" / "examples"
    signed = tmp_path / "signed"
    code, _, _ = _probe(
        "sign",
        IMAGES / "harbour.jpg",
        "-o",
        signed,
        "--key",
        keys / "signer.key",
        "--cert",
        keys / "signer.pem",
        "--author",
        "Startup",
        "--license",
        "CC-BY-4.0",
        "--ai-training",
        "allowed",
        "--no-people",
        "-q",
    )
    assert code == 0
    args = ("verify", "--trust", keys / "ca.pem", "-q", "-f", "jsonl", signed / "harbour.jpg")
    code, loaded, out = _probe(*args, "-j", "1", cwd=tmp_path)  # read in this process
    (record,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert record["integrity"] == "valid" and record["trust"] == "trusted" and record["author"] == ["Startup"]
    assert record["metadata_drift"] == [] and record["training"]["ai_training"] == "allowed"
    assert loaded >= ENGINE_SIDE and WRITING_XMP not in loaded
    assert "rightsmark.keys.checks" not in loaded  # (checking signing keys: chain validation needs their EKUs only)
    code, loaded, out = _probe(*args, "-j", "2", cwd=tmp_path)  # read by a worker: the coordinator needs no engine
    assert [json.loads(line) for line in out.splitlines() if line.strip()] == [record]
    assert ENGINE_SIDE & loaded == set() and "c2pa" not in loaded
