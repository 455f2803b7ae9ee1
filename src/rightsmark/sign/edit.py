"""Edits and re-exports: what an edit inherits from its signed parent, and what counts as widening.

An edit signed with ``--parent`` keeps the parent's permissions and consent unless the
signer overrides them. Narrowing (a stricter permission, an earlier expiry, more people
recorded) is always allowed; widening needs an explicit ``--widen`` and is then recorded
in the edit action so an auditor sees it was deliberate (``rightsmark audit`` also
reports it as ``permission-widened`` / ``consent-changed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rightsmark.engine import adapter as engine
from rightsmark.errors import UsageError
from rightsmark.models import Purpose, Training, Use
from rightsmark.rights.consent import CONSENT_LABEL, ConsentDeclaration, parse_time
from rightsmark.rights.manifest import (
    Rights,
    assertions_by_label,
    read_authors,
    read_copyright,
    read_license,
    read_source_type,
    read_training,
)

#: How much each value permits; a higher rank is wider.
_RANK = {Use.NOT_ALLOWED: 0, Use.UNSPECIFIED: 0, Use.CONSTRAINED: 1, Use.ALLOWED: 2}


@dataclass(frozen=True)
class Overrides:
    """What the signer said explicitly for an edit (``None``: take the parent's)."""

    uses: Mapping[Purpose, Use]
    constraint_info: str | None = None
    consent: ConsentDeclaration | None = None


def parent_rights(path: str | Path) -> Rights:
    """The rights recorded in a signed parent's active manifest (it must validate: see
    :func:`rightsmark.sign.signer.validated_parent`)."""
    from rightsmark.sign.signer import read_input, validated_parent

    p = Path(path)
    data, _fmt = read_input(p)
    context = engine.reading_context(None, verify_trust=False)
    try:
        active = validated_parent(data, p, context).active
    finally:
        context.close()
    assert active is not None  # a valid reading has an active manifest
    assertions = assertions_by_label(active)
    return Rights(
        consent=_consent(assertions.get(CONSENT_LABEL)),
        authors=read_authors(assertions),
        copyright=read_copyright(assertions),
        license=read_license(assertions),
        training=read_training(assertions),
        source_type=_short_source_type(read_source_type(assertions)),
    )


def _short_source_type(url: str | None) -> str:
    from rightsmark.rights.manifest import IPTC_SOURCE_TYPE

    if not url:
        return "digitalCapture"
    return url.removeprefix(IPTC_SOURCE_TYPE)


def _consent(assertion: object) -> ConsentDeclaration:
    """The parent's consent as a declaration; an absent or unreadable one carries over as 'people, no consent'."""
    if not isinstance(assertion, dict):
        # no consent recorded: an edit inherits nothing that could read as "no people pictured"
        return ConsentDeclaration(identifiable_people=True, subjects=())
    subjects = tuple(dict(s) for s in assertion.get("subjects") or () if isinstance(s, dict))
    return ConsentDeclaration(identifiable_people=bool(assertion.get("identifiable_people", True)), subjects=subjects)


def inherit(parent: Rights, chosen: Rights, overrides: Overrides) -> Rights:
    """The edit's rights: ``chosen`` (profile and flags) for author, copyright, license and source type
    where set, the parent's otherwise; permissions and consent from the parent unless overridden."""
    uses = {p: overrides.uses.get(p) or parent.training.get(p) for p in Purpose}
    uses = {p: Use.NOT_ALLOWED if u is Use.UNSPECIFIED else u for p, u in uses.items()}  # silence is no permission
    training = Training(
        **{p.value: u for p, u in uses.items()},
        constraint_info=overrides.constraint_info or parent.training.constraint_info,
    )
    return replace(
        chosen,
        authors=chosen.authors or parent.authors,
        copyright=chosen.copyright or parent.copyright,
        license=chosen.license or parent.license,
        training=training,
        consent=overrides.consent if overrides.consent is not None else parent.consent,
    )


def _subject_wider(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    ref = old.get("ref")
    for purpose in Purpose:
        before = _use((old.get("purposes") or {}).get(purpose.value))
        after = _use((new.get("purposes") or {}).get(purpose.value))
        if _RANK[after] > _RANK[before]:
            out.append(f"consent {ref} {purpose.value} {before.value} -> {after.value}")
    if new.get("commercial") and not old.get("commercial"):
        out.append(f"consent {ref} commercial use")
    old_exp, new_exp = old.get("expires"), new.get("expires")
    if old_exp and (
        not new_exp or parse_time(str(new_exp), end_of_day=True) > parse_time(str(old_exp), end_of_day=True)
    ):
        out.append(f"consent {ref} expiry {old_exp} -> {new_exp or 'never'}")
    return out


def _use(value: object) -> Use:
    try:
        return Use(value) if value is not None else Use.NOT_ALLOWED
    except ValueError:
        return Use.NOT_ALLOWED


def widening(parent: Rights, edit: Rights) -> list[str]:
    """Everything ``edit`` allows beyond ``parent``, one short phrase each; empty when it only narrows."""
    found = []
    for purpose in Purpose:
        before, after = parent.training.get(purpose), edit.training.get(purpose)
        if _RANK[after] > _RANK[before]:
            found.append(f"{purpose.value} {before.value} -> {after.value}")
    if parent.consent.identifiable_people and not edit.consent.identifiable_people:
        found.append("consent: declares no people where the parent pictured people")
    new_subjects = {str(s.get("ref")): s for s in edit.consent.subjects}
    for old in parent.consent.subjects:
        ref = str(old.get("ref"))
        if ref not in new_subjects:
            if edit.consent.identifiable_people:
                found.append(f"consent {ref} dropped")
            continue
        found.extend(_subject_wider(old, new_subjects[ref]))
    return found


def check_widening(parent: Rights, edit: Rights, *, allow: bool, parent_path: str | Path) -> tuple[str, ...]:
    """What the edit widens; refused unless ``allow`` (the ``--widen`` flag)."""
    found = widening(parent, edit)
    if found and not allow:
        raise UsageError(
            f"the edit would widen its parent's permissions ({'; '.join(found)})",
            path=parent_path,
            hint="narrow them, or pass --widen to do it deliberately (auditors will see it)",
        )
    return tuple(found)
