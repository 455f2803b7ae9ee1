"""Widening: when later rights allow more than earlier ones. The one definition, used when an edit is
signed (refused without ``--widen``, see :mod:`rightsmark.sign.edit`) and by the audit (reported, see
:mod:`rightsmark.audit.findings`).

A change from ``before`` to ``after`` widens when any of these holds:

- a use (CAWG training-and-mining purpose) or a consent purpose of a person moves up :data:`RANK`:
  ``notAllowed < constrained < unspecified < allowed``. ``unspecified`` ranks above ``constrained``
  on purpose: it drops the recorded constraint and leaves the decision to each reader's policy, which
  may allow; only ``allowed`` says more;
- consent is dropped: a person's record is gone, or the later rights declare no identifiable people
  where the earlier pictured people (an absent or unreadable consent assertion reads as "people
  pictured, no consent recorded", never as "no people");
- a restriction of a consent record is shortened: its expiry is later or removed (compared as times;
  an expiry that does not parse counts as widening: fail closed), or commercial use is added;
- the license grants more: it loses NC, ND or SA, or becomes a public-domain dedication (CC0 and the
  like, from :mod:`rightsmark.rights.licenses`); terms the table does not know replacing any other
  license, and a license removed, count as widening too (nobody can show they grant no more).

Each widening is a :class:`Widening` (what widened, from, to); callers render them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rightsmark.models import License, Purpose, Use
from rightsmark.rights.consent import CONSENT_LABEL, ConsentDeclaration, parse_time
from rightsmark.rights.licenses import KNOWN, LicenseInfo
from rightsmark.rights.manifest import Rights, read_license, read_training

#: How much each value permits, per use and per consent purpose; a higher rank is wider.
RANK: Mapping[Use, int] = {Use.NOT_ALLOWED: 0, Use.CONSTRAINED: 1, Use.UNSPECIFIED: 2, Use.ALLOWED: 3}


class Aspect(str, enum.Enum):
    """What a widening is about."""

    USE = "use"  # a training-and-mining use of the file
    CONSENT_PURPOSE = "consent-purpose"  # a purpose a person consented to
    CONSENT_COMMERCIAL = "consent-commercial"  # commercial use added to a person's consent
    CONSENT_EXPIRY = "consent-expiry"  # a person's consent runs later, or forever
    CONSENT_DROPPED = "consent-dropped"  # a person's consent record is gone
    NO_PEOPLE = "no-people"  # no identifiable people declared where people were pictured, none recorded
    LICENSE = "license"  # the license grants more


@dataclass(frozen=True)
class Widening:
    """One thing ``after`` allows beyond ``before``: ``before`` and ``after`` are the values as written
    (``none`` where there was none); ``ref`` names the person, ``purpose`` the use, ``note`` says why."""

    aspect: Aspect
    before: str
    after: str
    ref: str | None = None
    purpose: Purpose | None = None
    note: str = ""

    def phrase(self) -> str:
        """A short phrase: what the signing error shows and the edit's action records."""
        use = self.purpose.value if self.purpose else ""
        match self.aspect:
            case Aspect.USE:
                return f"{use} {self.before} -> {self.after}"
            case Aspect.CONSENT_PURPOSE:
                return f"consent {self.ref} {use} {self.before} -> {self.after}"
            case Aspect.CONSENT_COMMERCIAL:
                return f"consent {self.ref} commercial use"
            case Aspect.CONSENT_EXPIRY:
                return f"consent {self.ref} expiry {self.before} -> {self.after}"
            case Aspect.CONSENT_DROPPED:
                return f"consent {self.ref} dropped" + (f" ({self.note})" if self.note else "")
            case Aspect.NO_PEOPLE:
                return "consent: declares no people where people were pictured"
            case Aspect.LICENSE:
                return f"license {self.before} -> {self.after} ({self.note})"
        raise AssertionError(self.aspect)  # pragma: no cover - every aspect is matched above


# ---------------------------------------------------------------------------------------------
# Reading what a manifest records


def declared_consent(assertion: object) -> ConsentDeclaration:
    """A consent assertion read from a manifest as a declaration. An absent or unreadable one reads as
    "people pictured, no consent recorded": nothing that could pass for "no people pictured"."""
    if not isinstance(assertion, dict):
        return ConsentDeclaration(identifiable_people=True, subjects=())
    subjects = assertion.get("subjects")
    entries = tuple(dict(s) for s in subjects if isinstance(s, dict)) if isinstance(subjects, list) else ()
    return ConsentDeclaration(identifiable_people=assertion.get("identifiable_people") is not False, subjects=entries)


def recorded_rights(assertions: Mapping[str, Any]) -> Rights:
    """What widening compares (consent, license, uses) as a manifest's assertions record them."""
    return Rights(
        consent=declared_consent(assertions.get(CONSENT_LABEL)),
        license=read_license(assertions),
        training=read_training(assertions),
    )


def consent_use(value: object) -> Use:
    """A consent purpose's value: absent is ``unspecified``; a value that is not a CAWG use reads as
    ``notAllowed`` (never as permission; verification counts only ``allowed``)."""
    if value is None:
        return Use.UNSPECIFIED
    try:
        return Use(value)
    except ValueError:
        return Use.NOT_ALLOWED


# ---------------------------------------------------------------------------------------------
# The comparison


def widening(before: Rights, after: Rights) -> list[Widening]:
    """Everything ``after`` allows beyond ``before``; empty when it keeps or narrows them."""
    found = [
        Widening(Aspect.USE, b.value, a.value, purpose=p)
        for p in Purpose
        if RANK[a := after.training.get(p)] > RANK[b := before.training.get(p)]
    ]
    found += consent_widening(before.consent, after.consent)
    found += license_widening(before.license, after.license)
    return found


def consent_widening(before: ConsentDeclaration, after: ConsentDeclaration) -> list[Widening]:
    """What ``after`` consents to beyond ``before``, person by person (matched by ``ref``)."""
    if not before.identifiable_people:
        return []  # nobody pictured before: nothing to widen
    if not after.identifiable_people:
        if not before.subjects:
            return [Widening(Aspect.NO_PEOPLE, "identifiable people", "no identifiable people")]
        note = "no identifiable people declared"
        return [Widening(Aspect.CONSENT_DROPPED, "recorded", "none", ref=_ref(s), note=note) for s in before.subjects]
    later = {_ref(s): s for s in after.subjects}
    found: list[Widening] = []
    for old in before.subjects:
        new = later.get(_ref(old))
        if new is None:
            found.append(Widening(Aspect.CONSENT_DROPPED, "recorded", "none", ref=_ref(old)))
        else:
            found += subject_widening(old, new)
    return found


def subject_widening(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Widening]:
    """What one person's later consent record allows beyond the earlier one."""
    ref = _ref(old)
    old_purposes, new_purposes = _purposes(old), _purposes(new)
    found = [
        Widening(Aspect.CONSENT_PURPOSE, b.value, a.value, ref=ref, purpose=p)
        for p in Purpose
        if RANK[a := consent_use(new_purposes.get(p.value))] > RANK[b := consent_use(old_purposes.get(p.value))]
    ]
    if new.get("commercial") is True and old.get("commercial") is not True:
        found.append(Widening(Aspect.CONSENT_COMMERCIAL, str(old.get("commercial")), "true", ref=ref))
    old_exp, new_exp = old.get("expires"), new.get("expires")
    if expiry_widened(old_exp, new_exp):
        found.append(Widening(Aspect.CONSENT_EXPIRY, str(old_exp), str(new_exp) if new_exp else "never", ref=ref))
    return found


def expiry_widened(old: object, new: object) -> bool:
    """Whether an expiry moved later or went away. A bare date runs to the end of its day (UTC); an
    expiry that does not parse, on either side of a change, counts as widening (fail closed)."""
    if not old:
        return False  # no expiry before: nothing runs longer than that
    if not new:
        return True
    if old == new:
        return False
    try:
        return _expiry(new) > _expiry(old)
    except ValueError:
        return True


def license_widening(before: License | None, after: License | None) -> list[Widening]:
    """The license change as a widening, or nothing when the new license grants no more."""
    b_name, a_name = license_name(before), license_name(after)
    if b_name == a_name:
        return []
    b_info, a_info = _info(before), _info(after)
    if before is None:
        # a license where none was recorded adds terms; only a public-domain dedication gives all away
        public = a_info is not None and a_info.public_domain
        return [Widening(Aspect.LICENSE, b_name, a_name, note="public domain")] if public else []
    if after is None:
        note = "license removed"
    elif b_info is None:
        note = "terms not in the license table: cannot show the new license grants no more"
    elif a_info is None:
        note = "terms not in the license table replace a known license"
    else:
        note = ", ".join(_grants_more(b_info, a_info))
    return [Widening(Aspect.LICENSE, b_name, a_name, note=note)] if note else []


def license_name(license: License | None) -> str:
    """How a license is named in findings: its SPDX id, else its URL; ``none`` when there is none."""
    if license is None:
        return "none"
    return license.id or license.url or "none"


def _grants_more(before: LicenseInfo, after: LicenseInfo) -> list[str]:
    drops = []
    if after.commercial and not before.commercial:
        drops.append("drops NC")
    if after.derivatives and not before.derivatives:
        drops.append("drops ND")
    if before.share_alike and not after.share_alike:
        drops.append("drops SA")
    if after.public_domain and not before.public_domain:
        drops.append("public domain")
    return drops


def _info(license: License | None) -> LicenseInfo | None:
    return KNOWN.get(license.id) if license is not None and license.id else None


def _ref(subject: Mapping[str, Any]) -> str:
    return str(subject.get("ref"))


def _purposes(subject: Mapping[str, Any]) -> Mapping[str, Any]:
    purposes = subject.get("purposes")
    return purposes if isinstance(purposes, dict) else {}


def _expiry(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return parse_time(value, end_of_day=True)
