"""rightsmark init: write a signing profile, asking a few questions (or from flags alone)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rightsmark._cli._app import UseChoice, _errors, app
from rightsmark.errors import ProfileError, RightsmarkError, UsageError

if TYPE_CHECKING:
    from rightsmark.keys.devca import KeyFiles

_USE_QUESTIONS = (
    ("ai_training", "May your pictures train AI models?"),
    ("ai_generative_training", "May they train generative AI models (image generators)?"),
    ("ai_inference", "May they be given to AI models as input (inference)?"),
    ("data_mining", "May they be text-and-data mined?"),
)


def _ask(
    prompt: str, default: str | None, interactive: bool, check: Callable[[str], object] | None = None
) -> str | None:
    """An answer (None when empty); with ``check``, a bad answer is explained and asked again."""
    if not interactive:
        return default
    while True:
        answer: str = typer.prompt(prompt, default=default or "", show_default=bool(default))
        value = answer.strip() or None
        if value is None or check is None:
            return value
        try:
            check(value)
        except RightsmarkError as exc:
            typer.echo(f"  {exc.one_line()}; try again", err=True)
            continue
        return value


def _ask_use(prompt: str, default: UseChoice, interactive: bool) -> UseChoice:
    if not interactive:
        return default
    while True:
        answer = typer.prompt(f"{prompt} (allowed/notAllowed/constrained)", default=default.value).strip()
        for choice in UseChoice:
            if answer.lower() == choice.value.lower():
                return choice
        typer.echo("  answer allowed, notAllowed or constrained", err=True)


def _check_author_url(value: str) -> None:
    from rightsmark.rights.profile import Profile, check_author_url

    check_author_url(Profile(author_url=value))


def _check_license(value: str) -> None:
    from rightsmark.rights.licenses import parse_license

    parse_license(value)


def _check_consent_map(value: str) -> None:
    from rightsmark.rights.consentmap import load_consent_map

    load_consent_map(Path(value).expanduser())


def _check_key(value: str) -> None:
    if value.startswith("pkcs11:"):
        return
    from rightsmark.keys.material import read_key_file

    read_key_file(Path(value).expanduser())


def _check_cert(value: str) -> None:
    from rightsmark.keys.material import load_chain

    load_chain(Path(value).expanduser())


def _check_tsa(value: str) -> None:
    from rightsmark.keys.timestamps import validate_tsa_url

    validate_tsa_url(value)


def _command_line(profile_path: Path, values: dict[str, object]) -> str:
    """The non-interactive 'rightsmark init' that writes the same profile."""
    import shlex

    args = ["rightsmark", "init", "--no-interactive", "-o", str(profile_path)]
    for option, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            args.append(option)
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [option, str(item)]
        else:
            args += [option, str(value.value if isinstance(value, UseChoice) else value)]
    return shlex.join(args)


@app.command()
def init(
    profile_path: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile.")] = Path(
        "rightsmark.toml"
    ),
    name: Annotated[str | None, typer.Option(help="A name for the profile.")] = None,
    author: Annotated[list[str] | None, typer.Option(help="Author name (repeatable).")] = None,
    author_url: Annotated[str | None, typer.Option(help="Web page of the author.")] = None,
    copyright_: Annotated[
        str | None, typer.Option("--copyright", help="Copyright template [default: © {year} {authors}].")
    ] = None,
    license_: Annotated[str | None, typer.Option("--license", help="SPDX id or URL of your terms.")] = None,
    ai_training: Annotated[UseChoice, typer.Option(help="Default for AI training.")] = UseChoice.notAllowed,
    ai_generative_training: Annotated[
        UseChoice, typer.Option(help="Default for generative AI training.")
    ] = UseChoice.notAllowed,
    ai_inference: Annotated[UseChoice, typer.Option(help="Default for AI inference.")] = UseChoice.notAllowed,
    data_mining: Annotated[UseChoice, typer.Option(help="Default for data mining.")] = UseChoice.notAllowed,
    people: Annotated[
        bool | None,
        typer.Option(
            "--people/--no-people",
            help="Do your pictures show identifiable people? Required without questions: nothing is "
            "ever signed as showing no people by default.",
        ),
    ] = None,
    consent_map: Annotated[
        Path | None, typer.Option(help="CSV/JSON mapping file names to consent records (for --people).")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Signing key: PEM, .p12, or pkcs11: URI.")] = None,
    cert: Annotated[Path | None, typer.Option(help="Certificate chain (PEM, leaf first).")] = None,
    dev_keys: Annotated[
        Path | None, typer.Option(help="Create development keys in this directory and use them.")
    ] = None,
    tsa: Annotated[str | None, typer.Option(help="RFC 3161 timestamp authority URL.")] = None,
    naming: Annotated[str | None, typer.Option(help="Output file name template, e.g. {stem}-signed{suffix}.")] = None,
    interactive: Annotated[
        bool | None,
        typer.Option("--interactive/--no-interactive", help="Ask questions [default: when on a terminal]."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing profile.")] = False,
) -> None:
    """Write a signing profile once; then 'rightsmark sign DIR --profile FILE -o OUT' signs every export."""
    from rightsmark.models import Use
    from rightsmark.rights.licenses import parse_license
    from rightsmark.rights.profile import Profile, check_templates, profile_text, write_profile

    ask = sys.stdin.isatty() if interactive is None else interactive
    with _errors():
        if profile_path.exists() and not force:
            raise UsageError("profile exists", path=profile_path, hint="pass --force to overwrite, or choose -o")
        if people is None and not ask:  # never "no people" by default: the photographer must say so
            raise UsageError(
                "say whether your pictures show identifiable people: --people (with --consent-map, or --consent "
                "when signing) or --no-people",
                hint="nothing is ever signed as showing no people by default",
            )
        # flags are checked before any question, answers as they are given (a bad one is asked again)
        if author_url:
            _check_author_url(author_url)
        if license_:
            parse_license(license_)  # refuse an unknown license now, not at the first export
        if consent_map is not None:
            _check_consent_map(str(consent_map))
        if tsa:
            _check_tsa(tsa)
        if naming is not None or copyright_ is not None:
            check_templates(Profile(naming=naming, copyright=copyright_))
        authors = list(author or ())
        if not authors:
            answer = _ask("Your name, as the author of your pictures", None, ask)
            authors = [answer] if answer else []
        author_url = author_url or _ask("Your web page (optional)", None, ask, _check_author_url)
        license_ = license_ or _ask(
            "License: SPDX id (CC-BY-4.0, ...), URL of your terms, or empty", None, ask, _check_license
        )
        uses = {
            "ai_training": ai_training,
            "ai_generative_training": ai_generative_training,
            "ai_inference": ai_inference,
            "data_mining": data_mining,
        }
        for field, question in _USE_QUESTIONS:
            uses[field] = _ask_use(question, uses[field], ask)
        if people is None:  # no default: an empty answer is asked again
            people = typer.confirm("Do your pictures usually show identifiable people?", default=None)
        if people and consent_map is None and ask:
            answer = _ask(
                "Consent mapping file (CSV/JSON; empty: give --consent when signing)", None, ask, _check_consent_map
            )
            consent_map = Path(answer) if answer else None
        reuse: KeyFiles | None = None
        if dev_keys is None and key is None and ask:
            if typer.confirm("Use development signing keys (nobody else trusts them)?", default=True):
                from rightsmark.keys.devca import existing_keys

                while True:
                    dev_keys = Path(_ask("Directory for the keys", "keys", ask) or "keys").expanduser()
                    try:
                        reuse = existing_keys(dev_keys)
                    except RightsmarkError as exc:
                        typer.echo(f"  {exc.one_line()}; choose another directory", err=True)
                        continue
                    if reuse is None or typer.confirm(f"Keys exist in {dev_keys}; use them?", default=True):
                        break
            else:
                key = _ask("Your signing key (PEM, .p12 or pkcs11: URI)", None, ask, _check_key)
                answer = _ask("Its certificate chain (PEM; empty for .p12/tokens)", None, ask, _check_cert)
                cert = Path(answer) if answer else None
        elif dev_keys is not None:
            from rightsmark.keys.devca import existing_keys

            reuse = existing_keys(dev_keys)
        tsa = tsa or _ask(
            "Timestamp authority URL (optional; keeps signatures valid after expiry)", None, ask, _check_tsa
        )
        if dev_keys is not None:
            directory = dev_keys if dev_keys.is_absolute() else Path.cwd() / dev_keys
            key, cert = str(directory / "signer.key"), directory / "signer.pem"
        profile = Profile(
            name=name,
            authors=tuple(authors) or None,
            author_url=author_url,
            copyright=copyright_,
            license=license_,
            no_people=None if people else True,
            consent_map=consent_map.resolve() if consent_map else None,
            key=str(Path(key).expanduser().resolve()) if key and not key.startswith("pkcs11:") else key,
            cert=cert.expanduser().resolve() if cert else None,
            tsa=tsa,
            naming=naming,
            ai_training=Use(uses["ai_training"].value),
            ai_generative_training=Use(uses["ai_generative_training"].value),
            ai_inference=Use(uses["ai_inference"].value),
            data_mining=Use(uses["data_mining"].value),
        )
        profile_text(profile_path, profile)  # what we write must load back: checked before any key is made
        if dev_keys is not None and reuse is None:
            from rightsmark.keys.devca import init_keys

            files = init_keys(directory)
            typer.echo(f"wrote development keys into {dev_keys} (trust anchor for verifiers: {files.ca})")
        elif reuse is not None:
            typer.echo(f"using the development keys in {dev_keys} (trust anchor for verifiers: {reuse.ca})")
        again = _command_line(
            profile_path,
            {
                "--name": name,
                "--author": authors,
                "--author-url": author_url,
                "--copyright": copyright_,
                "--license": license_,
                "--ai-training": uses["ai_training"],
                "--ai-generative-training": uses["ai_generative_training"],
                "--ai-inference": uses["ai_inference"],
                "--data-mining": uses["data_mining"],
                "--people" if people else "--no-people": True,
                "--consent-map": profile.consent_map,
                "--key": profile.key,
                "--cert": profile.cert,
                "--tsa": tsa,
                "--naming": naming,
                "--force": force,
            },
        )
        try:
            write_profile(profile_path, profile)
        except ProfileError as exc:
            raise UsageError(
                exc.message, path=exc.path, hint=f"your answers are kept: fix this, then run {again}"
            ) from None
    typer.echo(f"wrote {profile_path}")
    if not key:
        typer.echo("  no signing key yet: add [signing] key and cert, or pass --key/--cert when signing", err=True)
    typer.echo(f"sign your exports with: rightsmark sign EXPORT_DIR --profile {profile_path} -o SIGNED_DIR")
