"""rightsmark init: write a signing profile, asking a few questions (or from flags alone)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rightsmark._cli._app import UseChoice, _errors, app
from rightsmark.errors import ProfileError, UsageError

_USE_QUESTIONS = (
    ("ai_training", "May your pictures train AI models?"),
    ("ai_generative_training", "May they train generative AI models (image generators)?"),
    ("ai_inference", "May they be given to AI models as input (inference)?"),
    ("data_mining", "May they be text-and-data mined?"),
)


def _ask(prompt: str, default: str | None, interactive: bool) -> str | None:
    if not interactive:
        return default
    answer: str = typer.prompt(prompt, default=default or "", show_default=bool(default))
    return answer.strip() or None


def _ask_use(prompt: str, default: UseChoice, interactive: bool) -> UseChoice:
    if not interactive:
        return default
    while True:
        answer = typer.prompt(f"{prompt} (allowed/notAllowed/constrained)", default=default.value).strip()
        for choice in UseChoice:
            if answer.lower() == choice.value.lower():
                return choice
        typer.echo("  answer allowed, notAllowed or constrained", err=True)


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
        typer.Option("--people/--no-people", help="Do your pictures show identifiable people? [default: no]"),
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
    from rightsmark.licenses import parse_license
    from rightsmark.models import Use
    from rightsmark.profile import Profile, check_templates, load_profile, profile_toml

    ask = sys.stdin.isatty() if interactive is None else interactive
    with _errors():
        if profile_path.exists() and not force:
            raise UsageError("profile exists", path=profile_path, hint="pass --force to overwrite, or choose -o")
        base = profile_path.resolve().parent
        authors = list(author or ())
        if not authors:
            answer = _ask("Your name, as the author of your pictures", None, ask)
            authors = [answer] if answer else []
        author_url = author_url or _ask("Your web page (optional)", None, ask)
        license_ = license_ or _ask("License: SPDX id (CC-BY-4.0, ...), URL of your terms, or empty", None, ask)
        if license_:
            parse_license(license_)  # refuse an unknown license now, not at the first export
        uses = {
            "ai_training": ai_training,
            "ai_generative_training": ai_generative_training,
            "ai_inference": ai_inference,
            "data_mining": data_mining,
        }
        for field, question in _USE_QUESTIONS:
            uses[field] = _ask_use(question, uses[field], ask)
        if people is None:
            people = ask and typer.confirm("Do your pictures usually show identifiable people?", default=False)
        if people and consent_map is None and ask:
            answer = _ask("Consent mapping file (CSV/JSON; empty: give --consent when signing)", None, ask)
            consent_map = Path(answer) if answer else None
        if dev_keys is None and key is None and ask:
            if typer.confirm("Create development signing keys now (nobody else trusts them)?", default=True):
                dev_keys = Path(_ask("Directory for the keys", "keys", ask) or "keys")
            else:
                key = _ask("Your signing key (PEM, .p12 or pkcs11: URI)", None, ask)
                answer = _ask("Its certificate chain (PEM; empty for .p12/tokens)", None, ask)
                cert = Path(answer) if answer else None
        tsa = tsa or _ask("Timestamp authority URL (optional; keeps signatures valid after expiry)", None, ask)
        if dev_keys is not None:
            from rightsmark.keys import init_keys

            files = init_keys(dev_keys if dev_keys.is_absolute() else Path.cwd() / dev_keys)
            key, cert = str(files.key), files.chain
            typer.echo(f"wrote development keys into {dev_keys} (trust anchor for verifiers: {files.ca})")
        profile = Profile(
            name=name,
            authors=tuple(authors) or None,
            author_url=author_url,
            copyright=copyright_,
            license=license_,
            no_people=None if people else True,
            consent_map=consent_map.resolve() if consent_map else None,
            key=str(Path(key).resolve()) if key and not key.startswith("pkcs11:") else key,
            cert=cert.resolve() if cert else None,
            tsa=tsa,
            naming=naming,
            ai_training=Use(uses["ai_training"].value),
            ai_generative_training=Use(uses["ai_generative_training"].value),
            ai_inference=Use(uses["ai_inference"].value),
            data_mining=Use(uses["data_mining"].value),
        )
        check_templates(profile, profile_path)
        text = profile_toml(profile, relative_to=base)
        tmp = profile_path.with_name(f".{profile_path.name}.part")
        try:
            profile_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            load_profile(tmp)  # what we write must load back
            tmp.replace(profile_path)
        except ProfileError:
            tmp.unlink(missing_ok=True)
            raise
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UsageError(f"cannot write the profile: {exc.strerror}", path=profile_path) from None
    typer.echo(f"wrote {profile_path}")
    if not key:
        typer.echo("  no signing key yet: add [signing] key and cert, or pass --key/--cert when signing", err=True)
    typer.echo(f"sign your exports with: rightsmark sign EXPORT_DIR --profile {profile_path} -o SIGNED_DIR")
