"""rightsmark watch: sign files as they appear in an export folder."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from rightsmark._cli._app import _errors, app
from rightsmark._cli._material import (
    PASSPHRASE_ENV,
    CertOption,
    OptionalKeyOption,
    PassphraseEnvOption,
    PassphraseFdOption,
    PassphraseFileOption,
    Pkcs11ModuleOption,
)
from rightsmark._cli.sign import (
    flags_profile,
    key_source_for,
    print_summary,
    report_outcome,
)


@contextlib.contextmanager
def _graceful_sigterm() -> Iterator[threading.Event]:
    """SIGTERM (what a service manager sends to stop a service) stops the watch gracefully: the files
    being signed are finished and reported, the summary is printed, the exit code is Ctrl-C's (0).

    The handler only sets the event the loop checks; it interrupts nothing, so no outcome of a file
    already signed is lost. Only this process handles SIGTERM so; a forked signing worker that gets
    one dies as it did before (the main process reports its files as not written). Further SIGTERMs
    while stopping are ignored, so the summary is never cut short.
    """
    main = os.getpid()
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        if not stop.is_set():  # once stopping, SIGTERM stays with this handler until the process ends
            signal.signal(signal.SIGTERM, previous)


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(help="The export folder to watch (and its subfolders).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Directory for signed copies.")] = None,
    profile_file: Annotated[Path | None, typer.Option("--profile", help="Signing profile (TOML).")] = None,
    key: OptionalKeyOption = None,
    cert: CertOption = None,
    consent: Annotated[Path | None, typer.Option(help="Consent of the people pictured, for every file.")] = None,
    consent_map: Annotated[Path | None, typer.Option(help="Who is in which file (CSV or JSON).")] = None,
    no_people: Annotated[bool, typer.Option("--no-people", help="No identifiable people are pictured.")] = False,
    tsa: Annotated[str | None, typer.Option(help="RFC 3161 timestamp authority URL.")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace the originals (atomically).")] = False,
    backup: Annotated[bool, typer.Option("--backup", help="With --in-place: keep originals as NAME.orig.")] = False,
    settle: Annotated[
        float, typer.Option(help="Seconds a file must stay unchanged before it is signed.", min=0.0)
    ] = 2.0,
    interval: Annotated[float, typer.Option(help="Seconds between looks at the folder.", min=0.05)] = 1.0,
    once: Annotated[
        bool, typer.Option("--once", help="Sign what is there (waiting for files still being written), then exit.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (0: all cores).")] = 0,
    pkcs11_module: Pkcs11ModuleOption = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_fd: PassphraseFdOption = None,
    passphrase_env: PassphraseEnvOption = PASSPHRASE_ENV,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Sign files as they appear in an export folder, once each is completely written.

    Files already there are signed first (those signed before with the same settings are skipped).
    Runs until interrupted (Ctrl-C or SIGTERM), or with --once until nothing is left to sign.
    """
    from rightsmark.sign.run import ExportRun, run_settings
    from rightsmark.sign.watch import check_watch, watch_folder

    counts = {"signed": 0, "skipped": 0, "failed": 0, "not-image": 0}
    with _graceful_sigterm() as stop, _errors():
        check_watch(folder, output, in_place=in_place, backup=backup)
        explicit = flags_profile(
            key=key,
            cert=cert,
            pkcs11_module=pkcs11_module,
            consent=consent,
            consent_map=consent_map,
            no_people=no_people,
            tsa=tsa,
        )
        settings = run_settings(profile_file, explicit)
        source = key_source_for(settings, passphrase_file, passphrase_fd, passphrase_env)
        with ExportRun(settings, source, explicit=explicit, in_place=in_place, backup=backup, jobs=jobs) as run:
            if not quiet:
                typer.echo(f"watching {folder} (Ctrl-C or SIGTERM to stop)", err=True)
            try:
                for outcome in watch_folder(
                    run, folder, output, stop=stop, settle=settle, interval=interval, once=once
                ):
                    report_outcome(outcome, counts, quiet)
            except KeyboardInterrupt:
                pass
    ok = print_summary(counts, [folder]) if (once or any(counts.values())) else True
    if once and not ok:
        raise typer.Exit(1)
