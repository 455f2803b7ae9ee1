"""Licenses: SPDX identifiers rightsmark knows, as data.

A license is given either as an SPDX id from :data:`KNOWN` or as an http(s) URL for
custom terms. Unknown ids are refused with the closest known ids as a hint rather
than written into a signed file where nobody could act on them. The table is hand-written
(no library carries these facts); :mod:`rightsmark.rights.widening` reads it to tell
whether a change of license grants more.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from rightsmark.errors import LicenseError
from rightsmark.models import License


@dataclass(frozen=True)
class LicenseInfo:
    """What a license grants: commercial use (no NC), derivatives (no ND), free of share-alike (no SA),
    and whether it waives rights altogether (a public-domain dedication)."""

    spdx: str
    url: str
    commercial: bool
    derivatives: bool
    share_alike: bool = False
    public_domain: bool = False


def _cc(spdx: str, path: str, commercial: bool, derivatives: bool) -> LicenseInfo:
    public = path.startswith(("publicdomain/", "licenses/publicdomain/"))
    return LicenseInfo(spdx, f"https://creativecommons.org/{path}", commercial, derivatives, "-sa/" in path, public)


_TABLE = (
    _cc("CC0-1.0", "publicdomain/zero/1.0/", True, True),
    _cc("CC-PDDC", "licenses/publicdomain/", True, True),
    _cc("CC-BY-4.0", "licenses/by/4.0/", True, True),
    _cc("CC-BY-SA-4.0", "licenses/by-sa/4.0/", True, True),
    _cc("CC-BY-ND-4.0", "licenses/by-nd/4.0/", True, False),
    _cc("CC-BY-NC-4.0", "licenses/by-nc/4.0/", False, True),
    _cc("CC-BY-NC-SA-4.0", "licenses/by-nc-sa/4.0/", False, True),
    _cc("CC-BY-NC-ND-4.0", "licenses/by-nc-nd/4.0/", False, False),
    _cc("CC-BY-3.0", "licenses/by/3.0/", True, True),
    _cc("CC-BY-SA-3.0", "licenses/by-sa/3.0/", True, True),
    _cc("CC-BY-ND-3.0", "licenses/by-nd/3.0/", True, False),
    _cc("CC-BY-NC-3.0", "licenses/by-nc/3.0/", False, True),
    _cc("CC-BY-NC-SA-3.0", "licenses/by-nc-sa/3.0/", False, True),
    _cc("CC-BY-NC-ND-3.0", "licenses/by-nc-nd/3.0/", False, False),
    _cc("CC-BY-2.0", "licenses/by/2.0/", True, True),
    _cc("CC-BY-SA-2.0", "licenses/by-sa/2.0/", True, True),
    _cc("CC-BY-NC-2.0", "licenses/by-nc/2.0/", False, True),
    _cc("CC-BY-NC-SA-2.0", "licenses/by-nc-sa/2.0/", False, True),
    _cc("CC-BY-ND-2.0", "licenses/by-nd/2.0/", True, False),
    _cc("CC-BY-NC-ND-2.0", "licenses/by-nc-nd/2.0/", False, False),
    LicenseInfo("ODbL-1.0", "https://opendatacommons.org/licenses/odbl/1-0/", True, True, share_alike=True),
    LicenseInfo("PDDL-1.0", "https://opendatacommons.org/licenses/pddl/1-0/", True, True, public_domain=True),
    LicenseInfo("ODC-By-1.0", "https://opendatacommons.org/licenses/by/1-0/", True, True),
    LicenseInfo("CDLA-Permissive-2.0", "https://cdla.dev/permissive-2-0/", True, True),
    LicenseInfo("CDLA-Sharing-1.0", "https://cdla.dev/sharing-1-0/", True, True, share_alike=True),
    LicenseInfo("Unlicense", "https://unlicense.org/", True, True, public_domain=True),
)

#: SPDX id -> facts about it.
KNOWN: dict[str, LicenseInfo] = {info.spdx: info for info in _TABLE}
_BY_LOWER = {k.lower(): k for k in KNOWN}
_BY_URL = {info.url.rstrip("/"): info.spdx for info in _TABLE}


def parse_license(value: str) -> License:
    """A :class:`License` from an SPDX id (case-insensitive) or an http(s) URL."""
    text = value.strip()
    if text.lower().startswith(("https://", "http://")):
        spdx = _BY_URL.get(text.rstrip("/").replace("http://", "https://", 1))
        return License(id=spdx, url=text)
    canonical = _BY_LOWER.get(text.lower())
    if canonical is None:
        close = difflib.get_close_matches(text, list(KNOWN), n=3, cutoff=0.5)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "use an SPDX id such as CC-BY-4.0, or a URL to custom terms"
        )
        raise LicenseError(f"unknown license '{value}'", hint=hint)
    return License(id=canonical, url=KNOWN[canonical].url)


def license_from_url(url: str | None) -> License | None:
    if not url:
        return None
    return License(id=_BY_URL.get(url.rstrip("/").replace("http://", "https://", 1)), url=url)
