"""The command line: parses arguments, calls the library, prints. No logic of its own.

Exit codes: 0 success (every file signed / kept), 1 some file failed or was dropped,
2 usage or configuration error. Errors are one line on stderr, never a traceback
(``RIGHTSMARK_DEBUG=1`` shows it).
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from rightsmark import __version__
from rightsmark.errors import RightsmarkError, UsageError
from rightsmark.models import Algorithm

app = typer.Typer(
    name="rightsmark",
    help="Sign and verify C2PA manifests carrying author, license, AI-use permission and consent.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="Create and manage signing keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")


class UseChoice(str, enum.Enum):
    allowed = "allowed"
    notAllowed = "notAllowed"  # noqa: N815 - the CAWG spelling
    constrained = "constrained"


class VerifyFormat(str, enum.Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


def _fail(exc: RightsmarkError) -> NoReturn:
    typer.echo(f"rightsmark: {exc.one_line()}", err=True)
    raise typer.Exit(exc.exit_code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn typed errors into one line and an exit code; anything else too, unless debugging."""
    try:
        yield
    except RightsmarkError as exc:
        if os.environ.get("RIGHTSMARK_DEBUG"):
            raise
        _fail(exc)
    except KeyboardInterrupt:
        typer.echo("rightsmark: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get("RIGHTSMARK_DEBUG"):
            raise
        typer.echo(
            f"rightsmark: internal error: {type(exc).__name__}: {exc} (set RIGHTSMARK_DEBUG=1 for details)", err=True
        )
        raise typer.Exit(3) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rightsmark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """rightsmark: permission that travels with the picture."""


# ---------------------------------------------------------------------------------------------
# keys


@keys_app.command("init")
def keys_init(
    directory: Annotated[Path, typer.Argument(help="Directory to write ca.pem, signer.pem and signer.key into.")],
    subject: Annotated[
        str, typer.Option(help="Common name of the signing certificate.")
    ] = "rightsmark development signer",
    organization: Annotated[
        str, typer.Option(help="Organization named in the certificates.")
    ] = "rightsmark development CA",
    algorithm: Annotated[Algorithm, typer.Option(help="Signature algorithm.")] = Algorithm.ES256,
    years: Annotated[int, typer.Option(help="Validity of the signing certificate in years.")] = 12,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Encrypt signer.key with the passphrase in this environment variable.")
    ] = None,
    example: Annotated[bool, typer.Option(help="Mark the certificates as example keys that prove nothing.")] = False,
) -> None:
    """Create a development CA and a C2PA signing certificate (never overwrites)."""
    from rightsmark.keys import init_keys

    with _errors():
        passphrase = None
        if passphrase_env:
            value = os.environ.get(passphrase_env)
            if not value:
                raise UsageError(f"environment variable {passphrase_env} is empty or unset", hint="export it first")
            passphrase = value.encode()
        files = init_keys(
            directory,
            subject=subject,
            organization=organization,
            algorithm=algorithm,
            years=years,
            passphrase=passphrase,
            example=example,
        )
    typer.echo(f"wrote {files.ca} (trust anchor: give it to verifiers with --trust)")
    typer.echo(f"wrote {files.chain} (signing certificate chain, leaf first)")
    typer.echo(f"wrote {files.key} (private key, mode 0600: keep it secret)")
    typer.echo("These are development keys: nobody else trusts this CA. Use a certificate from a real CA to publish.")


# ---------------------------------------------------------------------------------------------
# sign


def _passphrase(passphrase_file: Path | None) -> bytes | None:
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read passphrase file: {exc.strerror}", path=passphrase_file) from None
    env = os.environ.get("RIGHTSMARK_KEY_PASSPHRASE")
    return env.encode() if env else None


def _load_material(key: Path, cert: Path, passphrase_file: Path | None) -> object:
    from rightsmark.errors import PassphraseError
    from rightsmark.keys import load_signing_material

    passphrase = _passphrase(passphrase_file)
    try:
        return load_signing_material(key, cert, passphrase)
    except PassphraseError:
        if passphrase is not None or not sys.stdin.isatty():
            raise
        import getpass

        typed = getpass.getpass(f"Passphrase for {key}: ").encode()
        return load_signing_material(key, cert, typed)


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
        material = _load_material(key, cert, passphrase_file)
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


# ---------------------------------------------------------------------------------------------
# verify and inspect


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file written beside its destination and moved into place when complete."""
    if path is None:
        yield sys.stdout
        return
    if path.is_dir():
        raise UsageError("is a directory", path=path, hint="-o names the report file")
    tmp = path.with_name(f".{path.name}.part")
    try:
        fh = tmp.open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror}", path=path) from None
    try:
        with fh:
            yield fh
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@app.command()
def verify(
    paths: Annotated[list[str], typer.Argument(help="Files or directories to verify.", show_default=False)],
    trust: Annotated[list[Path] | None, typer.Option(help="Trust anchor certificates (PEM, repeatable).")] = None,
    format_: Annotated[VerifyFormat, typer.Option("--format", "-f", help="Report format.")] = VerifyFormat.text,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")] = None,
) -> None:
    """Verify files: integrity, trust, permissions, consent, and keep or drop (exit 1 if any is dropped)."""
    from rightsmark.models import Integrity
    from rightsmark.report import FORMATS
    from rightsmark.verify import Verifier

    dropped = 0
    with _errors(), Verifier(trust or ()) as verifier, _output(output) as out:
        report = FORMATS[format_.value](out)
        for record in verifier.verify_paths(paths):
            report.write(record)
            if not record.kept:
                dropped += 1
            if record.integrity is Integrity.ERROR and (format_ is not VerifyFormat.text or output is not None):
                typer.echo(f"rightsmark: {record.path}: {record.error}", err=True)
        report.close()
    if dropped:
        raise typer.Exit(1)


@app.command()
def inspect(
    file: Annotated[str, typer.Argument(help="The file to describe.")],
    trust: Annotated[list[Path] | None, typer.Option(help="Trust anchor certificates (PEM, repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show everything a file records: signer, time, tool, author, license, permissions, consent, ingredients."""
    import json

    from rightsmark.inspection import inspect_file
    from rightsmark.report import inspect_text

    with _errors():
        info = inspect_file(file, trust or ())
    if info["integrity"] == "error":  # unreadable: one line on stderr (JSON still on stdout when asked)
        typer.echo(f"rightsmark: {info['path']}: {info['error']}", err=True)
        if as_json:
            typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        raise typer.Exit(1)
    typer.echo(json.dumps(info, indent=2, ensure_ascii=False) if as_json else inspect_text(info))


def main() -> None:
    app(prog_name="rightsmark")
