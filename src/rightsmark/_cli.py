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
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from rightsmark import __version__
from rightsmark.errors import RightsmarkError, UsageError
from rightsmark.models import Algorithm, Purpose

if TYPE_CHECKING:
    from rightsmark.policy import Policy

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
consent_app = typer.Typer(help="Manage consent records: withdraw them.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(consent_app, name="consent")


class UseChoice(str, enum.Enum):
    allowed = "allowed"
    notAllowed = "notAllowed"  # noqa: N815 - the CAWG spelling
    constrained = "constrained"


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
# consent


@consent_app.command("withdraw")
def consent_withdraw(
    release_ids: Annotated[
        list[str],
        typer.Argument(
            help="release_id of each consent record withdrawn.", metavar="RELEASE_ID...", show_default=False
        ),
    ],
    list_: Annotated[
        Path, typer.Option("--list", help="Withdrawal list to create or extend (FILE.sig is written beside it).")
    ],
    key: Annotated[Path, typer.Option(help="Private key of the party that holds the releases (PEM).")],
    cert: Annotated[Path, typer.Option(help="Its certificate chain (PEM, leaf first).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the list's holder (never a name).")] = None,
    issuer: Annotated[
        str | None, typer.Option(help="Who holds the releases (default: the list's, else the certificate's name).")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="File holding the key's passphrase (else $RIGHTSMARK_KEY_PASSPHRASE, else a prompt)."),
    ] = None,
) -> None:
    """Withdraw consent records: create or extend a signed withdrawal list (schemas/withdrawals.schema.json)."""
    from rightsmark.withdrawals import create_or_extend, signature_path

    with _errors():
        material = _load_material(key, cert, passphrase_file)
        result = create_or_extend(list_, release_ids, material, reason=reason, issuer=issuer)  # type: ignore[arg-type]
    when = result.withdrawn
    for rid in dict.fromkeys(release_ids):
        state = "withdrew" if rid in result.added else "already withdrawn:"
        typer.echo(f"{state} {rid} (at {when[rid]})")
    if result.added:
        typer.echo(f"wrote {list_} ({len(result.entries)} withdrawn) and {signature_path(list_)}")
    else:
        typer.echo(f"{list_} unchanged ({len(result.entries)} withdrawn)")


# ---------------------------------------------------------------------------------------------
# verify and inspect


class Engine(str, enum.Enum):
    local = "local"
    ray = "ray"


class ReportFormat(str, enum.Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def _build_policy(
    policy_file: Path | None,
    trust: list[Path] | None,
    purpose: Purpose | None,
    commercial: bool | None,
    allow_license: list[str] | None,
    deny_license: list[str] | None,
    require_license: bool,
    allow_untrusted: bool,
    allow_signer: list[str] | None,
    constrained: UseChoice | None,
    keep_unsigned: bool,
    keep_remote: bool,
) -> Policy:
    """The policy file (or the strict default), with every flag given on the command line applied on top."""
    from rightsmark.models import Use
    from rightsmark.policy import Policy, SignerRule, load_policy, spdx_ids, with_overrides

    base = load_policy(policy_file) if policy_file else Policy()

    signers = tuple(
        SignerRule(fingerprint=s) if s.lower().startswith("sha256:") else SignerRule(subject=s)
        for s in allow_signer or ()
    )
    allow = None
    if allow_license:
        allow = (*(base.license_allow or ()), *spdx_ids(allow_license, "--allow-license"))
    return with_overrides(
        base,
        purpose=purpose,
        commercial=commercial,
        anchors=(*base.anchors, *trust) if trust else None,
        license_allow=allow,
        license_deny=(*base.license_deny, *spdx_ids(deny_license, "--deny-license")) if deny_license else None,
        license_required=True if require_license else None,
        allow_untrusted=True if allow_untrusted else None,
        allowed_signers=(*base.allowed_signers, *signers) if signers else None,
        constrained=Use(constrained.value) if constrained else None,
        keep_absent=True if keep_unsigned else None,
        keep_remote=True if keep_remote else None,
    )


def _storage_options(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--storage-option takes KEY=VALUE, got '{pair}'")
        out[key] = value
    return out


@app.command()
def verify(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, directories, tar shards, Parquet files, URLs (s3://, ...), @LIST, or - (list on stdin).",
            show_default=False,
        ),
    ] = None,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Policy file (TOML; schemas/policy.schema.json).")
    ] = None,
    trust: Annotated[list[Path] | None, typer.Option(help="Trust anchor certificates (PEM, repeatable).")] = None,
    purpose: Annotated[Purpose | None, typer.Option(help="The use to check permission for.")] = None,
    commercial: Annotated[
        bool | None,
        typer.Option("--commercial/--non-commercial", help="Whether the use is commercial (default: commercial)."),
    ] = None,
    allow_license: Annotated[list[str] | None, typer.Option(help="Allowed license (SPDX id, repeatable).")] = None,
    deny_license: Annotated[list[str] | None, typer.Option(help="Denied license (SPDX id, repeatable).")] = None,
    require_license: Annotated[bool, typer.Option(help="Drop files that record no license.")] = False,
    allow_untrusted: Annotated[bool, typer.Option(help="Keep intact files whose signer is not trusted.")] = False,
    allow_signer: Annotated[
        list[str] | None, typer.Option(help="Allowed signer: sha256:FINGERPRINT or a glob on its common name.")
    ] = None,
    constrained: Annotated[UseChoice | None, typer.Option(help="How to count 'constrained' permissions.")] = None,
    keep_unsigned: Annotated[bool, typer.Option(help="Keep files that carry no manifest at all.")] = False,
    keep_remote: Annotated[bool, typer.Option(help="Keep files whose only manifest is remote.")] = False,
    withdrawals: Annotated[
        list[Path] | None,
        typer.Option(help="Signed consent withdrawal list (JSON with FILE.sig beside it; repeatable)."),
    ] = None,
    format_: Annotated[
        ReportFormat | None,
        typer.Option("--format", "-f", help="Report format (default: from -o's extension, else text)."),
    ] = None,
    output_: Annotated[
        str | None,
        typer.Option(
            "-o", "--output", help="Write the report to this file (--engine ray: or a directory or URL prefix)."
        ),
    ] = None,
    keep_list: Annotated[Path | None, typer.Option(help="Write the keys of kept files here, one per line.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run: skip keys already in -o, append.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Directory of a verdict cache reused across runs.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")] = None,
    column: Annotated[str | None, typer.Option(help="Parquet column holding image bytes (default: detected).")] = None,
    key_column: Annotated[str | None, typer.Option(help="Parquet column naming each image.")] = None,
    storage_option: Annotated[
        list[str] | None, typer.Option(help="fsspec storage option KEY=VALUE (repeatable), e.g. endpoint_url=...")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no summary.")] = False,
    engine: Annotated[
        Engine, typer.Option(help="local: worker processes here; ray: a Ray cluster (pip install 'rightsmark[ray]').")
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option(help="--engine ray: the cluster to join (auto: this machine's; default: start one).")
    ] = None,
) -> None:
    """Verify files against a policy: integrity, trust, permissions, consent; keep or drop (exit 1 if any drops)."""
    from rightsmark.bulk import BulkVerifier
    from rightsmark.models import Decision, Integrity
    from rightsmark.outputs import KeepList, format_for, journal_path, open_report
    from rightsmark.sources import open_sources
    from rightsmark.summary import Summary, progress

    dropped = 0
    summary = Summary()
    with _errors():
        if not specs:
            raise UsageError("nothing to verify", hint="give files, directories, shards, URLs, @LIST or - for stdin")
        if jobs is not None and jobs < 1:
            raise UsageError("--jobs must be 1 or more")
        policy = _build_policy(
            policy_file, trust, purpose, commercial, allow_license, deny_license, require_license,
            allow_untrusted, allow_signer, constrained, keep_unsigned, keep_remote,
        )  # fmt: skip
        if withdrawals:
            from dataclasses import replace

            from rightsmark.withdrawals import load_withdrawals

            loaded = load_withdrawals(withdrawals, policy.anchors)
            policy = replace(policy, withdrawn=frozenset(loaded.withdrawn))
        options = _storage_options(storage_option)
        if engine is Engine.ray or address is not None:
            from rightsmark import ray_engine

            if engine is not Engine.ray:
                raise UsageError("--address needs --engine ray")
            if resume or cache is not None:
                raise UsageError("--engine ray takes neither --resume nor --cache", hint="use the local engine")
            code = ray_engine.run(
                specs, policy, address=address, jobs=jobs, output=output_, fmt=format_.value if format_ else None,
                keep_list=keep_list, column=column, key_column=key_column, storage_options=options, quiet=quiet,
                echo=lambda line: typer.echo(line, err=True),
            )  # fmt: skip
            raise typer.Exit(code)
        output = Path(output_) if output_ is not None else None
        fmt = format_for(output, format_.value if format_ else None)
        to_stderr = fmt != "text" or output is not None
        with (
            BulkVerifier(policy, jobs=jobs, cache_dir=cache) as bulk,
            open_report(output, fmt, resume=resume) as (report, done),
        ):
            keeper = KeepList(keep_list, done.kept, resume) if keep_list else None
            items = open_sources(specs, column=column, key_column=key_column, storage_options=options)
            # never verify our own outputs when they sit inside a folder being verified
            own = {os.path.realpath(p) for p in (output, keep_list) if p is not None}
            if output is not None:
                own.add(os.path.realpath(journal_path(output)))
            names = {os.path.basename(p) for p in own}
            items = (
                i
                for i in items
                if i.path is None or os.path.basename(i.path) not in names or os.path.realpath(i.path) not in own
            )
            if done.keys:
                items = (i for i in items if i.key not in done.keys)
            try:
                with progress(not quiet) as tick:
                    for record in bulk.run(items):
                        report.write(record)
                        summary.add(record)
                        tick()
                        if record.decision is Decision.KEEP:
                            if keeper:
                                keeper.add(record.path)
                        else:
                            dropped += 1
                        if record.integrity is Integrity.ERROR and to_stderr:
                            typer.echo(f"rightsmark: {record.path}: {record.error}", err=True)
            finally:
                if keeper:
                    keeper.close()
            cache_hits = bulk.cache.hits if bulk.cache else 0
    if not quiet and (summary.total > 1 or done.keys or output is not None):
        typer.echo(summary.render(skipped=len(done.keys), cache_hits=cache_hits), err=True)
    if dropped or len(done.keys) > len(set(done.kept)):  # drops recorded by the run resumed count too
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


@app.command()
def audit(
    paths: Annotated[list[str], typer.Argument(help="Files or directories to audit.", show_default=False)],
    trust: Annotated[list[Path] | None, typer.Option(help="Trust anchor certificates (PEM, repeatable).")] = None,
    withdrawals: Annotated[
        list[Path] | None,
        typer.Option(help="Signed consent withdrawal list (JSON with FILE.sig beside it; repeatable)."),
    ] = None,
    expiring_within: Annotated[
        str | None, typer.Option(help="Warn of consent expiring within this window, e.g. 90d, 12w, 6m.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the audit as JSON (schemas/audit.schema.json).")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tree on the terminal.")] = False,
) -> None:
    """Audit the chain of custody: every manifest, what each said, and what went wrong along the way.

    Exit 1 when any file has a finding of severity error or critical.
    """
    import datetime as dt
    import json

    from rightsmark.audit import Auditor, parse_window, report_header, summarise, tree_text
    from rightsmark.verify import iter_directory

    with _errors():
        window = parse_window(expiring_within) if expiring_within else None
        now = dt.datetime.now(dt.UTC)
        withdrawn: dict[str, str] = {}
        lists: list[dict[str, object]] = []
        if withdrawals:
            from rightsmark.withdrawals import load_withdrawals

            loaded = load_withdrawals(withdrawals, trust or ())
            withdrawn, lists = loaded.withdrawn, loaded.describe()
        audits = []
        with Auditor(trust or (), withdrawn=withdrawn, expiring_within=window, now=now) as auditor:
            for given in paths:
                files = iter_directory(given) if os.path.isdir(given) else [given]
                for file in files:
                    result = auditor.audit_file(file)
                    audits.append(result)
                    if not quiet:
                        typer.echo(tree_text(result) + "\n")
        header = report_header(trust or (), lists, now)
        summary = summarise(audits)
        if json_out is not None:
            document = {**header, "summary": summary, "files": [a.to_dict() for a in audits]}
            _write_text(json_out, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if html_out is not None:
            from rightsmark.htmlreport import render_html

            _write_text(html_out, render_html(header, summary, audits))
    serious = sum(1 for a in audits if a.worst in ("error", "critical"))
    if not quiet:
        typer.echo(f"audited {len(audits)} files: {serious} with serious findings", err=True)
    if serious:
        raise typer.Exit(1)


def _write_text(path: Path, text: str) -> None:
    """Write a report atomically (temporary file beside it, then rename)."""
    if path.is_dir():
        raise UsageError("is a directory; name the report file", path=path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report: {exc.strerror}", path=path) from None


def main() -> None:
    app(prog_name="rightsmark")
