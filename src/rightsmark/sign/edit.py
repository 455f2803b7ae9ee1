"""Edits and re-exports: what an edit inherits from its signed parent, and refusing to widen it.

An edit signed with ``--parent`` keeps the parent's permissions, consent and license unless
the signer overrides them. Narrowing (a stricter permission, an earlier expiry, more people
recorded) is always allowed; widening (defined once, in :mod:`rightsmark.rights.widening`)
needs an explicit ``--widen`` and is then recorded in the edit action so an auditor sees it
was deliberate (``rightsmark audit`` reports the same widening as ``permission-widened``,
``consent-dropped``, ``consent-changed`` or ``license-changed`` of severity error or critical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from rightsmark.engine import adapter as engine
from rightsmark.errors import UsageError
from rightsmark.models import Purpose, Training, Use
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.rights.manifest import (
    Rights,
    assertions_by_label,
    read_authors,
    read_copyright,
    read_source_type,
)
from rightsmark.rights.widening import recorded_rights, widening


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
    return replace(
        recorded_rights(assertions),  # consent, license and uses read as the audit reads them
        authors=read_authors(assertions),
        copyright=read_copyright(assertions),
        source_type=_short_source_type(read_source_type(assertions)),
    )


def _short_source_type(url: str | None) -> str:
    from rightsmark.rights.manifest import IPTC_SOURCE_TYPE

    if not url:
        return "digitalCapture"
    return url.removeprefix(IPTC_SOURCE_TYPE)


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


def check_widening(parent: Rights, edit: Rights, *, allow: bool, parent_path: str | Path) -> tuple[str, ...]:
    """What the edit widens, one phrase each (recorded in the edit's action); refused unless ``allow``
    (the ``--widen`` flag)."""
    found = [w.phrase() for w in widening(parent, edit)]
    if found and not allow:
        raise UsageError(
            f"the edit would widen its parent's permissions ({'; '.join(found)})",
            path=parent_path,
            hint="narrow them, or pass --widen to do it deliberately (auditors will see it)",
        )
    return tuple(found)
