"""Policies from outside: policy files (TOML or JSON), command-line options, trust options and withdrawal
lists, checked into a :class:`Policy`.

A policy file (``schemas/policy.schema.json``) has the tables ``[trust]``, ``[licenses]``,
``[consent]`` and ``[treat]``; unknown keys, wrong types, unknown licenses or trust lists and
missing anchor files are each a :class:`~rightsmark.verify.policy.PolicyError` naming the file.
Paths in a file are relative to it. What a policy then decides is :mod:`rightsmark.verify.policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rightsmark.errors import RightsmarkError
from rightsmark.models import Purpose, Use
from rightsmark.rights.licenses import parse_license
from rightsmark.trust import lists as trustlists
from rightsmark.trust.lists import DEFAULT as DEFAULT_TRUST_LISTS
from rightsmark.trust.sources import NONE, enabled_lists
from rightsmark.verify.policy import Policy, PolicyError, SignerRule, with_overrides

_TOP = {"purpose", "commercial", "trust", "licenses", "consent", "treat", "recover"}
_TABLES = {
    "trust": {"anchors", "lists", "list_files", "tsa_anchors", "allow_untrusted", "allowed_signers"},
    "licenses": {"allow", "deny", "required"},
    "consent": {"required"},
    "treat": {"constrained", "absent", "remote", "ingredient_invalid", "declared_allowed", "recovered"},
}


def spdx_ids(values: Sequence[str], where: str, path: str | None = None) -> tuple[str, ...]:
    """Canonical SPDX ids for a policy's license list (a file's table or a CLI flag named by ``where``)."""
    out = []
    for v in values:
        try:
            lic = parse_license(v)
        except RightsmarkError as exc:
            raise PolicyError(f"{where}: {exc.message}", path=path, hint=exc.hint) from None
        if lic.id is None:
            raise PolicyError(f"{where}: '{v}' is a URL; list SPDX ids", path=path)
        out.append(lic.id)
    return tuple(out)


def policy_from_dict(data: dict[str, Any], *, base_dir: Path | None = None, source: str | None = None) -> Policy:
    """A :class:`Policy` from parsed TOML/JSON; unknown keys and wrong types are errors."""
    from rightsmark import schemas

    # unknown keys first: the schema rejects them too, but this message names them exactly
    unknown = set(data) - _TOP if isinstance(data, dict) else set()
    for table, keys in _TABLES.items():
        value = data.get(table) if isinstance(data, dict) else None
        if isinstance(value, dict):
            unknown |= {f"{table}.{k}" for k in set(value) - keys}
    if unknown:
        raise PolicyError(
            f"unknown policy keys: {', '.join(sorted(unknown))}", path=source, hint="see schemas/policy.schema.json"
        )
    problems = schemas.errors(schemas.POLICY, data)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PolicyError(f"invalid policy: {problems[0]}{more}", path=source, hint="see schemas/policy.schema.json")
    trust = data.get("trust", {})
    lic = data.get("licenses", {})
    treat = data.get("treat", {})
    root = base_dir or Path.cwd()
    anchors = _policy_paths(trust.get("anchors", ()), root, source, "trust anchor file")
    tsa_anchors = _policy_paths(trust.get("tsa_anchors", ()), root, source, "TSA anchor file")
    try:
        lists = enabled_lists(trust["lists"]) if "lists" in trust else DEFAULT_TRUST_LISTS
        list_files = tuple(trustlists.parse_override(v) for v in trust.get("list_files", ()))
    except RightsmarkError as exc:
        raise PolicyError(f"trust: {exc.message}", path=source, hint=exc.hint) from None
    list_files = tuple((n, _policy_paths([str(f)], root, source, "trust list file")[0]) for n, f in list_files)
    return Policy(
        purpose=Purpose(data.get("purpose", Purpose.AI_TRAINING.value)),
        commercial=bool(data.get("commercial", True)),
        anchors=anchors,
        trust_lists=lists,
        trust_list_files=list_files,
        tsa_anchors=tsa_anchors,
        allow_untrusted=bool(trust.get("allow_untrusted", False)),
        allowed_signers=tuple(SignerRule(**r) for r in trust.get("allowed_signers", ())),
        license_allow=spdx_ids(lic["allow"], "licenses.allow", source) if "allow" in lic else None,
        license_deny=spdx_ids(lic.get("deny", ()), "licenses.deny", source),
        license_required=bool(lic.get("required", False)),
        consent_required=bool(data.get("consent", {}).get("required", True)),
        constrained=Use(treat.get("constrained", Use.NOT_ALLOWED.value)),
        keep_absent=treat.get("absent", "drop") == "keep",
        keep_remote=treat.get("remote", "drop") == "keep",
        keep_ingredient_invalid=treat.get("ingredient_invalid", "drop") == "keep",
        keep_declared_allowed=treat.get("declared_allowed", "drop") == "keep",
        keep_recovered=treat.get("recovered", "drop") == "keep",
        recover=_repository(data.get("recover"), root),
        source=source,
    )


def _repository(value: str | None, root: Path) -> str | None:
    """A policy's ``recover``: a URL as written, a path relative to the policy file."""
    if value is None or "://" in value:
        return value
    return str(root / value) if not Path(value).is_absolute() else value


def _policy_paths(values: Sequence[str], root: Path, source: str | None, what: str) -> tuple[Path, ...]:
    paths = tuple((root / a) if not Path(a).is_absolute() else Path(a) for a in values)
    for a in paths:
        if not a.is_file():
            raise PolicyError(f"{what} not found: {a}", path=source, hint="paths are relative to the policy file")
    return paths


def load_policy(path: str | Path) -> Policy:
    """Read a policy file (TOML, or JSON by extension)."""
    from rightsmark.files import load_document

    p = Path(path)
    data = load_document(p, PolicyError, what="policy file", missing_hint="check --policy")
    return policy_from_dict(data, base_dir=p.resolve().parent, source=str(p))


def policy_from_options(
    policy_file: str | Path | None = None,
    *,
    purpose: Purpose | None = None,
    commercial: bool | None = None,
    allow_licenses: Sequence[str] = (),
    deny_licenses: Sequence[str] = (),
    require_license: bool = False,
    allow_untrusted: bool = False,
    allowed_signers: Sequence[str] = (),
    constrained: Use | None = None,
    keep_unsigned: bool = False,
    keep_remote: bool = False,
    recover: str | None = None,
) -> Policy:
    """The policy file (or the strict default) with ``rightsmark verify``'s options laid over it.

    Unset options (``None``, empty, ``False``) leave the file's setting; licenses and signers given are
    added to the file's lists. A signer is ``sha256:FINGERPRINT`` or a glob on its common name.
    """
    base = load_policy(policy_file) if policy_file else Policy()
    signers = tuple(
        SignerRule(fingerprint=s) if s.lower().startswith("sha256:") else SignerRule(subject=s) for s in allowed_signers
    )
    allow = None
    if allow_licenses:
        allow = (*(base.license_allow or ()), *spdx_ids(allow_licenses, "--allow-license"))
    return with_overrides(
        base,
        purpose=purpose,
        commercial=commercial,
        license_allow=allow,
        license_deny=(*base.license_deny, *spdx_ids(deny_licenses, "--deny-license")) if deny_licenses else None,
        license_required=True if require_license else None,
        allow_untrusted=True if allow_untrusted else None,
        allowed_signers=(*base.allowed_signers, *signers) if signers else None,
        constrained=constrained,
        keep_absent=True if keep_unsigned else None,
        keep_remote=True if keep_remote else None,
        recover=recover,
    )


def with_trust_options(
    base: Policy,
    *,
    anchors: Sequence[Path] = (),
    lists: Sequence[str] = (),
    no_default_trust: bool = False,
    list_files: Sequence[str] = (),
    tsa_anchors: Sequence[Path] = (),
) -> Policy:
    """``base`` with trust options added (``--trust``, ``--trust-list``, ``--no-default-trust``,
    ``--trust-list-file NAME=FILE``, ``--tsa-trust``), its trust sources loaded: errors come before any file is read.

    The lists named are enabled besides ``base``'s (less the defaults with ``no_default_trust``);
    naming ``none`` enables exactly the lists named with it.
    """
    kept = tuple(n for n in base.trust_lists if not (no_default_trust and n in trustlists.DEFAULT))
    asked = list(lists)
    enabled = enabled_lists([*kept, *asked] if NONE not in asked else asked)
    files = tuple(trustlists.parse_override(v) for v in list_files)
    policy = replace(
        base,
        anchors=(*base.anchors, *anchors),
        trust_lists=enabled,
        trust_list_files=(*base.trust_list_files, *files),
        tsa_anchors=(*base.tsa_anchors, *tsa_anchors),
    )
    policy.trust_sources()
    return policy


def with_withdrawals(policy: Policy, lists: Sequence[Path]) -> Policy:
    """``policy`` refusing the consent records that the signed withdrawal ``lists`` withdraw; each list's
    signature is checked against the policy's anchors (:func:`rightsmark.verify.withdrawals.load_withdrawals`)."""
    if not lists:
        return policy
    from rightsmark.verify.withdrawals import load_withdrawals

    loaded = load_withdrawals(lists, policy.anchors)
    return replace(policy, withdrawn=frozenset(loaded.withdrawn))
