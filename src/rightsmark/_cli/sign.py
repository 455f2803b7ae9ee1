"""rightsmark sign."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import UseChoice, _errors, app
from rightsmark._cli._material import load_material
from rightsmark.errors import RightsmarkError, UsageError


def _sign_jobs(inputs: list[Path], outdir: Path) -> Iterator[tuple[Path, Path, bool]]:
    """(source, destination, named explicitly) for every file to sign; directories are mirrored."""
    from rightsmark.verify import iter_directory

    for given in inputs:
        if given.is_dir():
            for file in iter_directory(str(given)):
                yield Path(file), outdir / Path(file).relative_to(given), False
        else:
            yield given, outdir / given.name, True


@app.command()
def sign(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or directories to sign.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write signed copies into.")],
    key: Annotated[Path, typer.Option(help="Private key (PEM).")],
    cert: Annotated[Path, typer.Option(help="Certificate chain (PEM, leaf first).")],
    author: Annotated[list[str] | None, typer.Option(help="Author name (repeatable).")] = None,
    author_url: Annotated[str | None, typer.Option(help="Web page of the (first) author.")] = None,
    copyright_: Annotated[
        str | None, typer.Option("--copyright", help="Copyright notice (default: © YEAR AUTHORS).")
    ] = None,
    license_: Annotated[
        str | None, typer.Option("--license", help="SPDX id (CC0-1.0, CC-BY-4.0, ...) or URL to custom terms.")
    ] = None,
    ai_training: Annotated[UseChoice, typer.Option(help="May the image train AI models?")] = UseChoice.notAllowed,
    ai_generative_training: Annotated[
        UseChoice, typer.Option(help="May it train generative AI models?")
    ] = UseChoice.notAllowed,
    ai_inference: Annotated[
        UseChoice, typer.Option(help="May it be used as AI inference input?")
    ] = UseChoice.notAllowed,
    data_mining: Annotated[UseChoice, typer.Option(help="May it be text-and-data mined?")] = UseChoice.notAllowed,
    constraint_info: Annotated[str | None, typer.Option(help="What 'constrained' means (terms, contact, URL).")] = None,
    consent: Annotated[
        Path | None, typer.Option(help="Consent of the people pictured (JSON, schemas/consent.schema.json).")
    ] = None,
    no_people: Annotated[
        bool, typer.Option("--no-people", help="Declare that no identifiable people are pictured.")
    ] = False,
    source_type: Annotated[
        str, typer.Option(help="IPTC digitalSourceType, e.g. digitalCapture, trainedAlgorithmicMedia.")
    ] = "digitalCapture",
    parent: Annotated[
        Path | None, typer.Option(help="The already signed file this input is an edit of (chain of custody).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    thumbnail: Annotated[bool, typer.Option(help="Embed a thumbnail in the manifest.")] = False,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="File holding the key's passphrase (else $RIGHTSMARK_KEY_PASSPHRASE, else a prompt)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Sign images: write signed copies into the output directory; the inputs are never modified."""
    from rightsmark.consent import ConsentDeclaration, load_consent_file
    from rightsmark.formats import sniff_file
    from rightsmark.licenses import parse_license
    from rightsmark.manifest import SOURCE_TYPES, Rights, default_copyright
    from rightsmark.models import Training, Use
    from rightsmark.sign import Signer

    with _errors():
        if consent is not None and no_people:
            raise UsageError("--consent and --no-people contradict each other", hint="give one of them")
        if consent is None and not no_people:
            raise UsageError(
                "say who is pictured: --consent FILE for identifiable people, or --no-people",
                hint="files without this are dropped by verifiers",
            )
        if source_type not in SOURCE_TYPES and not source_type.startswith("http"):
            raise UsageError(f"unknown --source-type '{source_type}'", hint="one of " + ", ".join(SOURCE_TYPES))
        if output.exists() and not output.is_dir():
            raise UsageError("exists and is not a directory", path=output, hint="-o names a directory")
        declaration = load_consent_file(consent) if consent is not None else ConsentDeclaration.no_people()
        authors = tuple(author or ())
        rights = Rights(
            consent=declaration,
            authors=authors,
            author_url=author_url,
            copyright=copyright_ or default_copyright(authors),
            license=parse_license(license_) if license_ else None,
            training=Training(
                ai_training=Use(ai_training.value),
                ai_generative_training=Use(ai_generative_training.value),
                ai_inference=Use(ai_inference.value),
                data_mining=Use(data_mining.value),
                constraint_info=constraint_info,
            ),
            source_type=source_type,
        )
        material = load_material(key, cert, passphrase_file)
        if parent is not None and not parent.is_file():
            raise UsageError(
                "no such parent file", path=parent, hint="--parent names the signed file this is an edit of"
            )
        signed = failed = skipped = 0
        seen: set[Path] = set()
        with Signer(material) as signer:  # type: ignore[arg-type]
            for src, dest, explicit in _sign_jobs(inputs, output):
                try:
                    if not explicit and sniff_file(src) is None:
                        skipped += 1
                        continue
                    if dest in seen:
                        raise UsageError(
                            "two inputs would be written to the same output",
                            path=dest,
                            hint="sign them into different directories",
                        )
                    seen.add(dest)
                    signer.sign_file(src, dest, rights, parent=parent, force=force)
                except RightsmarkError as exc:
                    failed += 1
                    typer.echo(f"rightsmark: {exc.one_line()}", err=True)
                    continue
                signed += 1
                if not quiet:
                    typer.echo(f"signed {src} -> {dest}")
    if signed == 0 and failed == 0:
        typer.echo(f"rightsmark: {', '.join(map(str, inputs))}: no image files to sign", err=True)
    if signed + failed > 1 or skipped:  # a one-file run has said all there is to say
        extra = f", skipped {skipped} non-image files" if skipped else ""
        typer.echo(f"{signed} signed, {failed} failed{extra}", err=True)
    if failed or signed == 0:
        raise typer.Exit(1)
