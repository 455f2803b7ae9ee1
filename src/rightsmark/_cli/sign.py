"""rightsmark sign and rightsmark init: signing at export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rightsmark._cli._app import UseChoice, _errors, app
from rightsmark._cli._material import (
    PASSPHRASE_ENV,
    CertOption,
    OptionalKeyOption,
    PassphraseEnvOption,
    PassphraseFdOption,
    PassphraseFileOption,
    Pkcs11ModuleOption,
)
from rightsmark.errors import UsageError

if TYPE_CHECKING:
    from rightsmark.keys.source import KeySource
    from rightsmark.models import Use
    from rightsmark.rights.profile import Profile
    from rightsmark.sign.batch import SignOutcome


def _use(choice: UseChoice | None) -> Use | None:
    from rightsmark.models import Use

    return Use(choice.value) if choice is not None else None


def flags_profile(
    *,
    author: list[str] | None = None,
    author_url: str | None = None,
    copyright_: str | None = None,
    license_: str | None = None,
    ai_training: UseChoice | None = None,
    ai_generative_training: UseChoice | None = None,
    ai_inference: UseChoice | None = None,
    data_mining: UseChoice | None = None,
    constraint_info: str | None = None,
    source_type: str | None = None,
    consent: Path | None = None,
    consent_map: Path | None = None,
    no_people: bool = False,
    key: str | None = None,
    cert: Path | None = None,
    pkcs11_module: str | None = None,
    tsa: str | None = None,
    thumbnail: bool | None = None,
    naming: str | None = None,
    xmp: bool | None = None,
    soft_binding: str | None = None,
    watermark: bool | None = None,
) -> Profile:
    """What the command line said, as a profile layer (unset flags are ``None``)."""
    from rightsmark.rights.profile import Profile, check_templates
    from rightsmark.softbinding.signing import FINGERPRINTS

    if soft_binding is not None and soft_binding not in FINGERPRINTS:
        raise UsageError(f"--soft-binding {soft_binding!r} is not known", hint="give iscc or none")
    people_given = consent is not None or consent_map is not None or no_people
    layer = Profile(
        authors=tuple(author) if author else None,
        author_url=author_url,
        copyright=copyright_,
        license=license_,
        ai_training=_use(ai_training),
        ai_generative_training=_use(ai_generative_training),
        ai_inference=_use(ai_inference),
        data_mining=_use(data_mining),
        constraint_info=constraint_info,
        source_type=source_type,
        consent=consent,
        consent_map=consent_map,
        no_people=True if no_people else (False if people_given else None),
        key=key,
        cert=cert,
        pkcs11_module=pkcs11_module,
        tsa=tsa,
        thumbnail=thumbnail,
        naming=naming,
        xmp=xmp,
        soft_binding=soft_binding,
        watermark=watermark,
    )
    check_templates(layer, "the command line")
    if author_url is not None:
        from rightsmark.rights.manifest import author_url_problem

        problem = author_url_problem(author_url)
        if problem:
            raise UsageError(
                f"--author-url: {problem}",
                hint="give the author's web page, e.g. --author-url https://example.com/jane",
            )
    return layer


def key_source_for(
    settings: Profile, passphrase_file: Path | None, passphrase_fd: int | None, passphrase_env: str
) -> KeySource:
    """The run's key, loaded and checked once (prompting on a terminal when a secret is missing)."""
    from rightsmark._cli._material import load_key_source

    assert settings.key is not None  # run_settings requires it
    return load_key_source(
        settings.key,
        settings.cert,
        passphrase_file=passphrase_file,
        passphrase_fd=passphrase_fd,
        passphrase_env=passphrase_env,
        pkcs11_module=settings.pkcs11_module,
    )


@app.command()
def sign(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or directories to sign.", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Directory to write signed copies into.")
    ] = None,
    profile_file: Annotated[
        Path | None, typer.Option("--profile", help="Signing profile (TOML; 'rightsmark init' writes one).")
    ] = None,
    key: OptionalKeyOption = None,
    cert: CertOption = None,
    author: Annotated[list[str] | None, typer.Option(help="Author name (repeatable).")] = None,
    author_url: Annotated[str | None, typer.Option(help="Web page of the (first) author.")] = None,
    copyright_: Annotated[
        str | None, typer.Option("--copyright", help="Copyright notice; {year} and {authors} are filled in.")
    ] = None,
    license_: Annotated[
        str | None, typer.Option("--license", help="SPDX id (CC0-1.0, CC-BY-4.0, ...) or URL to custom terms.")
    ] = None,
    ai_training: Annotated[
        UseChoice | None, typer.Option(help="May the image train AI models? [default: notAllowed]")
    ] = None,
    ai_generative_training: Annotated[
        UseChoice | None, typer.Option(help="May it train generative AI models? [default: notAllowed]")
    ] = None,
    ai_inference: Annotated[
        UseChoice | None, typer.Option(help="May it be used as AI inference input? [default: notAllowed]")
    ] = None,
    data_mining: Annotated[
        UseChoice | None, typer.Option(help="May it be text-and-data mined? [default: notAllowed]")
    ] = None,
    constraint_info: Annotated[str | None, typer.Option(help="What 'constrained' means (terms, contact, URL).")] = None,
    consent: Annotated[
        Path | None, typer.Option(help="Consent of the people pictured, for every file (schemas/consent.schema.json).")
    ] = None,
    consent_map: Annotated[
        Path | None,
        typer.Option(help="Who is in which file: CSV or JSON mapping names/patterns to consent records."),
    ] = None,
    no_people: Annotated[
        bool, typer.Option("--no-people", help="Declare that no identifiable people are pictured.")
    ] = False,
    source_type: Annotated[
        str | None, typer.Option(help="IPTC digitalSourceType, e.g. digitalCapture, trainedAlgorithmicMedia.")
    ] = None,
    parent: Annotated[
        Path | None, typer.Option(help="The signed file this input is an edit of: its rights carry over.")
    ] = None,
    widen: Annotated[
        bool, typer.Option("--widen", help="Allow the edit to permit more than its parent (recorded for auditors).")
    ] = False,
    tsa: Annotated[str | None, typer.Option(help="RFC 3161 timestamp authority URL.")] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace the originals with their signed versions (atomically).")
    ] = False,
    backup: Annotated[
        bool, typer.Option("--backup", help="With --in-place: keep each original beside it as NAME.orig.")
    ] = False,
    naming: Annotated[
        str | None, typer.Option(help="Output file name template: {stem}, {suffix}, {name} [default: {name}].")
    ] = None,
    resign: Annotated[
        bool, typer.Option("--resign", help="Sign again files already signed with the same settings.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    thumbnail: Annotated[bool | None, typer.Option(help="Embed a thumbnail in the manifest.")] = None,
    xmp: Annotated[
        bool | None, typer.Option(help="Also write author, license and AI-use as XMP for non-C2PA tools.")
    ] = None,
    soft_binding: Annotated[
        str | None,
        typer.Option(
            "--soft-binding",
            help="Fingerprint recorded as a C2PA soft binding: iscc (the ISCC image code, default) or none.",
        ),
    ] = None,
    watermark: Annotated[
        bool | None,
        typer.Option(help="Mark the pixels with an invisible watermark naming the manifest (before signing)."),
    ] = None,
    register: Annotated[
        str | None,
        typer.Option(
            "--register",
            metavar="REPO",
            help="Add each signed file's manifest to this repository (a path, a postgresql:// URL, or a"
            " resolution service's http(s):// URL with RIGHTSMARK_REPO_TOKEN).",
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (0: all cores).")] = 0,
    pkcs11_module: Pkcs11ModuleOption = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_fd: PassphraseFdOption = None,
    passphrase_env: PassphraseEnvOption = PASSPHRASE_ENV,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors and the summary only.")] = False,
) -> None:
    """Sign images: signed copies into -o DIR (or --in-place); a profile sets everything once.

    Folders are signed on all cores; files already signed with the same settings and unchanged
    are skipped (--resign to sign again); one bad file never stops the batch. Exit 1 if any failed.
    """
    from rightsmark.reports.summary import progress
    from rightsmark.sign.run import ExportRun, check_destination, run_settings

    with _errors():
        check_destination(output, in_place, backup)
        if parent is not None and not parent.is_file():
            raise UsageError(
                "no such parent file", path=parent, hint="--parent names the signed file this is an edit of"
            )
        explicit = flags_profile(
            author=author,
            author_url=author_url,
            copyright_=copyright_,
            license_=license_,
            ai_training=ai_training,
            ai_generative_training=ai_generative_training,
            ai_inference=ai_inference,
            data_mining=data_mining,
            constraint_info=constraint_info,
            source_type=source_type,
            consent=consent,
            consent_map=consent_map,
            no_people=no_people,
            key=key,
            cert=cert,
            pkcs11_module=pkcs11_module,
            tsa=tsa,
            thumbnail=thumbnail,
            naming=naming,
            xmp=xmp,
            soft_binding=soft_binding,
            watermark=watermark,
        )
        if consent is not None and no_people:
            raise UsageError("--consent and --no-people contradict each other", hint="give one of them")
        settings = run_settings(profile_file, explicit)
        if register is not None:
            check_register(register, settings.soft_binding, bool(settings.watermark))
        source = key_source_for(settings, passphrase_file, passphrase_fd, passphrase_env)
        counts = {"signed": 0, "skipped": 0, "failed": 0, "not-image": 0}
        outputs: list[str] = []
        with ExportRun(
            settings,
            source,
            explicit=explicit,
            parent=parent,
            widen=widen,
            in_place=in_place,
            backup=backup,
            force=force,
            resign=resign,
            jobs=jobs,
        ) as run:
            job_list, early = run.jobs_for(inputs, output)
            with progress(not quiet and len(job_list) > 1, label="signing", total=len(job_list)) as advance:
                for outcome in early:
                    report_outcome(outcome, counts, quiet)
                for outcome in run.sign(job_list):
                    report_outcome(outcome, counts, quiet)
                    if outcome.status in ("signed", "skipped") and outcome.dest:
                        outputs.append(outcome.dest)
                    advance()
    unregistered = 0
    if register is not None and outputs:
        with _errors():
            unregistered = register_outputs(register, outputs, quiet)
    if not print_summary(counts, inputs) or unregistered:
        raise typer.Exit(1)


def check_register(repo: str, soft_binding: str | None, watermark: bool) -> None:
    """Fail before signing anything where ``--register`` cannot work: no soft binding would be recorded, or
    the repository cannot be opened (a path that is not a repository, PostgreSQL unreachable)."""
    from rightsmark.repository.open import open_repository

    if soft_binding == "none" and not watermark:
        raise UsageError("--register needs a soft binding to index", hint="drop --soft-binding none")
    from rightsmark.repository.open import kind
    from rightsmark.repository.remote import RemoteRepository

    opened = open_repository(repo, create=True)
    try:
        if kind(repo) == "http" and isinstance(opened, RemoteRepository):
            opened.algorithms()  # a service that is down is found now, before any file is signed
    finally:
        opened.close()


def register_outputs(repo: str, outputs: list[str], quiet: bool) -> int:
    """Keep the manifests of the signed ``outputs`` in ``repo``; one line per refusal; how many were refused."""
    from rightsmark.reports.formats import terminal_safe
    from rightsmark.repository.base import shown_location
    from rightsmark.repository.ingest import register

    results = register(repo, outputs)
    refused = [r for r in results if r.outcome == "refused"]
    for r in refused:
        typer.echo(f"rightsmark: not registered: {terminal_safe(r.message or r.path)}", err=True)
    if not quiet:
        added = sum(r.outcome == "added" for r in results)
        typer.echo(f"registered {added} manifests in {terminal_safe(shown_location(repo))}", err=True)
    return len(refused)


def print_summary(counts: dict[str, int], inputs: list[Path]) -> bool:
    """The closing line of a run on stderr; whether the run succeeded (nothing failed, something to sign)."""
    from rightsmark.reports.formats import terminal_safe

    total = counts["signed"] + counts["skipped"] + counts["failed"]
    if total == 0:
        typer.echo(f"rightsmark: {terminal_safe(', '.join(map(str, inputs)))}: no image files to sign", err=True)
    elif total > 1 or counts["not-image"]:
        extra = f", skipped {counts['not-image']} non-image files" if counts["not-image"] else ""
        skipped = f", {counts['skipped']} skipped (already signed, unchanged)" if counts["skipped"] else ""
        typer.echo(f"{counts['signed']} signed{skipped}, {counts['failed']} failed{extra}", err=True)
    return not counts["failed"] and total > 0


def report_outcome(outcome: SignOutcome, counts: dict[str, int], quiet: bool) -> None:
    """One file's line (stdout), its notes and errors (stderr, each naming the file); text from file
    names and contents is escaped (:func:`rightsmark.reports.formats.terminal_safe`)."""
    from rightsmark.reports.formats import terminal_safe as safe

    if outcome.status == "failed":
        counts["failed"] += 1
        typer.echo(f"rightsmark: {safe(outcome.message)}", err=True)
        return
    if outcome.status == "skipped" and outcome.message == "not an image":
        counts["not-image"] += 1
        return
    counts[outcome.status] += 1
    if quiet:
        return
    if outcome.status == "signed":
        typer.echo(f"signed {safe(outcome.source)} -> {safe(outcome.dest)}")
        for note in outcome.notes:
            typer.echo(f"rightsmark: note: {safe(note)}", err=True)
    else:
        typer.echo(f"skipped {safe(outcome.source)} ({safe(outcome.message)})")
