"""rightsmark verify, inspect and audit.

The annotations here are objects, not strings (no ``from __future__ import annotations``): Typer reads the
parameters of a command each time it builds it, and evaluates string annotations twice over, a cost of every
``rightsmark verify`` start; names known only to type checkers are quoted.
"""

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rightsmark._cli._app import UseChoice, _errors, app
from rightsmark.errors import UsageError
from rightsmark.models import Purpose

if TYPE_CHECKING:
    from rightsmark.verify.policy import Policy


TrustOpt = Annotated[
    list[Path] | None,
    typer.Option(help="Your own claim-signer trust anchors (PEM, repeatable); added to the trust lists."),
]
TrustListOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-list",
        help="Bundled trust list to use besides the defaults (c2pa, c2pa-tsa): c2pa, c2pa-tsa, interim; "
        "or none for no list at all (repeatable; see rightsmark trust list).",
    ),
]
NoDefaultTrustOpt = Annotated[
    bool, typer.Option("--no-default-trust", help="Do not use the default trust lists (only your own anchors).")
]
TrustListFileOpt = Annotated[
    list[str] | None,
    typer.Option("--trust-list-file", help="NAME=FILE: a newer snapshot of a bundled list you fetched yourself."),
]
TsaTrustOpt = Annotated[
    list[Path] | None,
    typer.Option("--tsa-trust", help="Timestamp authority anchors (PEM, repeatable); never trusted for claim signers."),
]


def _with_trust(
    base: "Policy",
    trust: list[Path] | None,
    trust_list: list[str] | None,
    no_default_trust: bool,
    trust_list_file: list[str] | None,
    tsa_trust: list[Path] | None,
) -> "Policy":
    """``base`` with the trust options applied, and its trust sources loaded (errors before any file is read)."""
    from rightsmark.verify.policyfile import with_trust_options

    return with_trust_options(
        base,
        anchors=trust or (),
        lists=trust_list or (),
        no_default_trust=no_default_trust,
        list_files=trust_list_file or (),
        tsa_anchors=tsa_trust or (),
    )


def _warn_trust(policy: "Policy") -> None:
    for warning in policy.trust_sources().warnings:
        typer.echo(f"rightsmark: warning: {warning}", err=True)


class Engine(str, enum.Enum):
    local = "local"
    ray = "ray"


class KeepListForm(str, enum.Enum):
    key = "key"
    sample = "sample"
    url = "url"


class ReportFormat(str, enum.Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


def _item_size(text: str) -> int:
    from rightsmark.sources.guard import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise UsageError(
            f"--max-item-size takes a size, got '{text}'", hint="write bytes or a size like 64K, 64M, 1G"
        ) from None


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
    trust: TrustOpt = None,
    trust_list: TrustListOpt = None,
    no_default_trust: NoDefaultTrustOpt = False,
    trust_list_file: TrustListFileOpt = None,
    tsa_trust: TsaTrustOpt = None,
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
    recover: Annotated[
        str | None,
        typer.Option(
            "--recover",
            metavar="REPO_OR_URL",
            help="Find lost manifests by soft binding in this repository (a path, postgresql:// or a resolution"
            " service's http(s):// URL); what they forbid drops, what they allow keeps only under [treat] recovered.",
        ),
    ] = None,
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
    keep_list_form: Annotated[
        KeepListForm,
        typer.Option(
            help="What --keep-list names: key (each kept file's key), sample (each kept sample: JSON lines of "
            "source, key, key_from, row, url), url (each kept sample's URL); a sample or URL is listed only "
            "when all its files are kept."
        ),
    ] = KeepListForm.key,
    report_non_images: Annotated[
        bool,
        typer.Option(
            help="Report files that are not images (sidecars such as NNNN.json, captions, other files) as "
            "dropped records instead of counting them in the summary."
        ),
    ] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run: skip keys already in -o, append.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Directory of a verdict cache reused across runs.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")] = None,
    column: Annotated[str | None, typer.Option(help="Parquet column holding image bytes (default: detected).")] = None,
    key_column: Annotated[str | None, typer.Option(help="Parquet column naming each image.")] = None,
    storage_option: Annotated[
        list[str] | None, typer.Option(help="fsspec storage option KEY=VALUE (repeatable), e.g. endpoint_url=...")
    ] = None,
    max_item_size: Annotated[
        str,
        typer.Option(
            "--max-item-size",
            metavar="SIZE",
            help="Largest item read (file, tar member, Parquet cell, object): bytes or 64K, 64M, 1G; "
            "bigger ones are dropped unread.",
        ),
    ] = "512M",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no summary.")] = False,
    engine: Annotated[
        Engine, typer.Option(help="local: worker processes here; ray: a Ray cluster (pip install 'rightsmark[ray]').")
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option(help="--engine ray: the cluster to join (auto: this machine's; default: start one).")
    ] = None,
) -> None:
    """Verify files against a policy: integrity, trust, permissions, consent; keep or drop (exit 1 if any drops)."""
    from rightsmark.models import Use
    from rightsmark.verify.policyfile import policy_from_options, with_withdrawals

    with _errors():
        if not specs:
            raise UsageError("nothing to verify", hint="give files, directories, shards, URLs, @LIST or - for stdin")
        if jobs is not None and jobs < 1:
            raise UsageError("--jobs must be 1 or more")
        cap = _item_size(max_item_size)
        policy = policy_from_options(
            policy_file,
            purpose=purpose,
            commercial=commercial,
            allow_licenses=allow_license or (),
            deny_licenses=deny_license or (),
            require_license=require_license,
            allow_untrusted=allow_untrusted,
            allowed_signers=allow_signer or (),
            constrained=Use(constrained.value) if constrained else None,
            keep_unsigned=keep_unsigned,
            keep_remote=keep_remote,
            recover=recover,
        )
        policy = _with_trust(policy, trust, trust_list, no_default_trust, trust_list_file, tsa_trust)
        if not quiet:
            _warn_trust(policy)
        policy = with_withdrawals(policy, withdrawals or ())
        if policy.recover:
            from rightsmark.verify.recover import check_repository

            check_repository(policy.recover)
        options = _storage_options(storage_option)
        fmt = format_.value if format_ else None
        if engine is Engine.ray or address is not None:
            from rightsmark.ray import engine as ray_engine

            if engine is not Engine.ray:
                raise UsageError("--address needs --engine ray")
            if resume or cache is not None:
                raise UsageError("--engine ray takes neither --resume nor --cache", hint="use the local engine")
            code = ray_engine.run(
                specs,
                policy,
                address=address,
                jobs=jobs,
                output=output_,
                fmt=fmt,
                keep_list=keep_list,
                column=column,
                key_column=key_column,
                storage_options=options,
                quiet=quiet,
                echo=_echo_err,
                max_item_size=cap,
                keep_list_form=keep_list_form.value,
                report_non_images=report_non_images,
            )
        else:
            from rightsmark.verify.run import run

            code = run(
                specs,
                policy,
                echo=_echo_err,
                jobs=jobs,
                cache=cache,
                output=Path(output_) if output_ is not None else None,
                fmt=fmt,
                keep_list=keep_list,
                resume=resume,
                column=column,
                key_column=key_column,
                storage_options=options,
                max_item_size=cap,
                quiet=quiet,
                keep_list_form=keep_list_form.value,
                report_non_images=report_non_images,
            )
    if code:
        raise typer.Exit(code)


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def inspect(
    file: Annotated[str, typer.Argument(help="The file to describe.")],
    trust: TrustOpt = None,
    trust_list: TrustListOpt = None,
    no_default_trust: NoDefaultTrustOpt = False,
    trust_list_file: TrustListFileOpt = None,
    tsa_trust: TsaTrustOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show everything a file records: signer, time, tool, author, license, permissions, consent, ingredients."""
    import json

    from rightsmark.reports.formats import terminal_safe
    from rightsmark.reports.inspect_text import inspect_text
    from rightsmark.verify.inspection import inspect_file
    from rightsmark.verify.policy import Policy
    from rightsmark.verify.verifier import Verifier

    with _errors():
        policy = _with_trust(Policy(), trust, trust_list, no_default_trust, trust_list_file, tsa_trust)
        with Verifier(policy=policy) as verifier:
            info = inspect_file(file, verifier=verifier)
    if info["integrity"] == "error":  # unreadable: one line on stderr (JSON still on stdout when asked)
        line = terminal_safe(f"{info['path']}: {info['error']}")
        typer.echo(f"rightsmark: {line}", err=True)
        if as_json:
            typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        raise typer.Exit(1)
    typer.echo(json.dumps(info, indent=2, ensure_ascii=False) if as_json else inspect_text(info))


@app.command()
def audit(
    paths: Annotated[list[str], typer.Argument(help="Files or directories to audit.", show_default=False)],
    trust: TrustOpt = None,
    trust_list: TrustListOpt = None,
    no_default_trust: NoDefaultTrustOpt = False,
    trust_list_file: TrustListFileOpt = None,
    tsa_trust: TsaTrustOpt = None,
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
    from rightsmark.audit.auditor import parse_window
    from rightsmark.audit.run import AuditOptions, run_audit
    from rightsmark.audit.text import tree_text
    from rightsmark.verify.policy import Policy

    with _errors():
        trusting = _with_trust(Policy(), trust, trust_list, no_default_trust, trust_list_file, tsa_trust)
        if not quiet:
            _warn_trust(trusting)
        options = AuditOptions(
            anchors=tuple(trust or ()),
            sources=trusting.trust_sources(),
            withdrawals=tuple(withdrawals or ()),
            expiring_within=parse_window(expiring_within) if expiring_within else None,
        )
        report = run_audit(paths, options, on_file=None if quiet else lambda a: typer.echo(tree_text(a) + "\n"))
        if json_out is not None:
            _write_text(json_out, report.json_text())
        if html_out is not None:
            _write_text(html_out, report.html())
    if not quiet:
        typer.echo(report.closing_line(), err=True)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _write_text(path: Path, text: str) -> None:
    """Write a report atomically (temporary file beside it, then rename)."""
    if path.is_dir():
        raise UsageError("is a directory; name the report file", path=path)
    from rightsmark.files import write_atomic

    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror}", path=path) from None
