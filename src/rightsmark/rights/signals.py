"""Permissions declared outside C2PA, and what each value says about rightsmark's four uses.

The one table (:data:`TABLE`) maps each signal to an interpretation: per use (``ai_training``,
``ai_generative_training``, ``ai_inference``, ``data_mining``) ``notAllowed`` (an opt-out), ``allowed``
(an opt-in) or ``unspecified``. The vocabularies and where they are defined:

* IPTC ``plus:DataMining`` (XMP, namespace ``http://ns.useplus.org/ldf/xmp/1.0/``): IPTC Photo Metadata
  Standard 2023.1, property "Data Mining", values from the PLUS Data Mining vocabulary
  (``http://ns.useplus.org/ldf/vocab/DMI-...``; https://iptc.org/std/photometadata/specification/, and
  IPTC's announcement "Exclude images from generative AI", 2023). :data:`DATA_MINING`.
* W3C TDMRep (TDM Reservation Protocol, Community Group report, https://www.w3.org/2022/tdmrep/):
  ``tdm-reservation`` (section "tdm-reservation": ``1`` rights reserved, ``0`` not reserved) and
  ``tdm-policy`` (a URL, section "tdm-policy"), as HTTP headers (section "TDM Header Field in HTTP
  Responses") and as ``tdm:reservation`` / ``tdm:policy`` in XMP (section "TDM Metadata in PDF files",
  namespace ``http://www.w3.org/ns/tdmrep/``; the EPUB section's ``http://www.w3.org/ns/tdmrep#`` is read
  too). TDM as the CDSM Directive (art. 2(2)) defines it is any automated analysis, so a reservation covers
  all four uses (TDMRep's note "TDM vs AI/ML").
* ``X-Robots-Tag`` ``noai`` / ``noimageai``: DeviantArt's directives (announcement of November 2022,
  "UPDATE All Deviations Are Opted Out of AI Datasets"): content not to be used in AI datasets or to train
  models. Comma-separated directives, each optionally after a user agent (``googlebot: noai``), as
  Google's robots meta tag documentation describes the header. :data:`ROBOTS`.
* ``Content-Usage``: IETF AI Preferences, draft-ietf-aipref-vocab (section "Exemplary Serialization
  Format": a Structured Fields Dictionary, RFC 9651, of category labels to ``y``/``n``) attached as an
  HTTP header by draft-ietf-aipref-attach. The labels of every draft so far are read (-01 ``tdm``, ``ai``,
  ``genai``, ``inference``; -02 ``all``, ``train-genai``, ``ai-use``; -03/-04 ``bots``, ``ai-output``;
  ``train-ai`` and ``search`` throughout). :data:`CONTENT_USAGE`.
* License and rights statements: ``xmpRights:WebStatement``, ``cc:license`` (Creative Commons REL),
  ``dc:rights``, ``xmpRights:UsageTerms``. Reported; a license URL or id that
  :mod:`rightsmark.rights.licenses` knows as a public-domain dedication (CC0, CC-PDDC, PDDL, Unlicense) allows
  every use; any other statement says nothing about them.

Fail closed, where the standards leave room: a restriction counts however it is spelled (names and values
match case-insensitively), the most restrictive statement wins (a ``notAllowed`` from any signal or any
member of one beats an ``allowed``), and a value the table does not know, of a signal that restricts, counts
as an opt-out of every use that signal could speak about (TDMRep and the AI-preferences draft would read it
as "unknown"; an error is never permission): an unknown ``plus:DataMining`` value, a ``tdm-reservation``
other than ``0``/``1``, a ``Content-Usage`` header that does not parse or a known label with a value other
than ``y``/``n``, an ``X-Robots-Tag`` directive named ``no...`` that is not one of the search engines'.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rightsmark.models import DeclaredSignal, Purpose, Reason, SignalSource, Training, Use

_P = Purpose
ALL = frozenset(Purpose)
AI = frozenset({_P.AI_TRAINING, _P.AI_GENERATIVE_TRAINING, _P.AI_INFERENCE})
TRAINING = frozenset({_P.AI_TRAINING, _P.AI_GENERATIVE_TRAINING})
GENERATIVE = frozenset({_P.AI_GENERATIVE_TRAINING})
INFERENCE = frozenset({_P.AI_INFERENCE})
NONE: frozenset[Purpose] = frozenset()


def uses(out: Iterable[Purpose] = (), allowed: Iterable[Purpose] = ()) -> Training:
    """A :class:`Training` with ``out`` notAllowed and ``allowed`` allowed (an opt-out wins), the rest unspecified."""
    out = frozenset(out)
    values = {p.value: Use.NOT_ALLOWED if p in out else Use.ALLOWED for p in (*out, *allowed)}
    return Training(**values)


# ---------------------------------------------------------------------------------------------
# IPTC plus:DataMining: the PLUS vocabulary's codes (the URI's last segment) and IPTC's labels for them

_PLUS_VOCAB = re.compile(r"^https?://ns\.useplus\.org/ldf/vocab/", re.IGNORECASE)

#: code -> (uses it prohibits, uses it allows), with the label IPTC publishes for it.
DATA_MINING: dict[str, tuple[frozenset[Purpose], frozenset[Purpose], str]] = {
    "DMI-UNSPECIFIED": (NONE, NONE, "Unspecified - no prohibition defined"),
    "DMI-ALLOWED": (NONE, ALL, "Allowed"),
    "DMI-PROHIBITED-AIMLTRAINING": (TRAINING, NONE, "Prohibited for AI/ML training"),
    "DMI-PROHIBITED-GENAIMLTRAINING": (GENERATIVE, NONE, "Prohibited for Generative AI/ML training"),
    # search-engine indexing is none of the four uses: they are all prohibited
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": (ALL, NONE, "Prohibited except for search engine indexing"),
    "DMI-PROHIBITED": (ALL, NONE, "Prohibited"),
    # "prohibited, see ...": what the other statement allows is not read here; prohibited stands
    "DMI-PROHIBITED-SEECONSTRAINT": (ALL, NONE, "Prohibited, see plus:OtherConstraints"),
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": (ALL, NONE, "Prohibited, see iptcExt:EmbdEncRightsExpr"),
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": (ALL, NONE, "Prohibited, see iptcExt:LinkedEncRightsExpr"),
}


def _label_key(text: str) -> str:
    return " ".join(text.replace("\u2013", "-").replace("\u2014", "-").lower().split())


_DATA_MINING_LABELS = {_label_key(label): code for code, (_, _, label) in DATA_MINING.items()}


def data_mining(value: str) -> Training:
    """``plus:DataMining``: a vocabulary URI, its bare code or IPTC's label; anything else prohibits every use."""
    text = value.strip()
    code = _PLUS_VOCAB.sub("", text).upper()
    entry = DATA_MINING.get(code) or DATA_MINING.get(_DATA_MINING_LABELS.get(_label_key(text), ""))
    if entry is None:
        return uses(ALL)
    return uses(entry[0], entry[1])


# ---------------------------------------------------------------------------------------------
# W3C TDMRep


def tdm_reservation(value: str) -> Training:
    """``tdm-reservation``: ``1`` reserves TDM (every use), ``0`` does not (every use allowed); any other
    value (TDMRep: a protocol error, read as unset) counts as a reservation."""
    text = value.strip()
    return uses(allowed=ALL) if text == "0" else uses(ALL)


def unspecified(value: str) -> Training:
    """A statement that says nothing about the four uses (``tdm-policy``, a rights statement), reported only."""
    return Training()


# ---------------------------------------------------------------------------------------------
# X-Robots-Tag

#: Directives that opt out of uses.
ROBOTS: dict[str, frozenset[Purpose]] = {"noai": AI, "noimageai": AI}
#: Directives of search engines (Google, Bing, Yandex) that say nothing about the four uses.
ROBOTS_SEARCH = frozenset(
    {
        *("all", "index", "follow", "noindex", "nofollow", "none", "noarchive", "nocache", "nosnippet"),
        *("noimageindex", "notranslate", "noodp", "noydir", "nositelinkssearchbox", "noyaca", "indexifembedded"),
        *("max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"),
    }
)
_ROBOTS_PART = re.compile(r"^([a-z0-9_.-]+)\s*:\s*(.*)$", re.DOTALL)
_ROBOTS_NAME = re.compile(r"[a-z0-9_.-]+")


def robots_directives(value: str) -> list[str]:
    """The directive names of an ``X-Robots-Tag`` value (several headers joined by commas or lines), user
    agents removed, lower case."""
    names = []
    for part in re.split(r"[,\n]", value.lower()):
        text = part.strip()
        found = _ROBOTS_PART.match(text)
        if found and found.group(1) not in ROBOTS_SEARCH and found.group(1) not in ROBOTS:
            text = found.group(2).strip()  # "googlebot: noai": the directive after the user agent
        name = _ROBOTS_NAME.match(text)
        if name:
            names.append(name.group())
    return names


def robots(value: str) -> Training:
    """``X-Robots-Tag``: ``noai``/``noimageai`` opt out of the AI uses wherever they stand (even space-separated);
    a directive named ``no...`` that no search engine defines, of every use; search directives (and their
    arguments, dates, agents' names) of none."""
    out: set[Purpose] = set()
    for word in _ROBOTS_NAME.findall(value.lower()):
        out |= ROBOTS.get(word, NONE)
    for name in robots_directives(value):
        if name.startswith("no") and name not in ROBOTS_SEARCH and name not in ROBOTS:
            out |= ALL
    return uses(out)


# ---------------------------------------------------------------------------------------------
# IETF AI preferences: Content-Usage

#: label -> (uses ``n`` opts out of, uses ``y`` opts in to). ``train-ai`` is "AI training" in -01 to -03,
#: "foundation model production" in -04/-05 and the training of models that generate content from -06 on:
#: ``n`` covers all training, ``y`` only what every version includes (generative training).
CONTENT_USAGE: dict[str, tuple[frozenset[Purpose], frozenset[Purpose]]] = {
    "bots": (ALL, ALL),  # -03, -04: automated processing, above every other category
    "all": (ALL, ALL),  # -02: the same
    "tdm": (ALL, ALL),  # -01: text and data mining, encompassing all the other categories
    "ai": (TRAINING, TRAINING),  # -01: AI training
    "train-ai": (TRAINING, GENERATIVE),
    "genai": (GENERATIVE, GENERATIVE),  # -01
    "train-genai": (GENERATIVE, GENERATIVE),  # -02, -03
    "inference": (INFERENCE, INFERENCE),  # -01: AI inference
    "ai-use": (INFERENCE, INFERENCE),  # -02: input to a trained model
    "ai-output": (INFERENCE, INFERENCE),  # -04: outputs of an AI system
    "search": (NONE, NONE),  # search applications: none of the four uses
}


def content_usage(value: str) -> Training:
    """``Content-Usage``: a Structured Fields Dictionary of labels to ``y``/``n``, read case-insensitively.

    Unknown labels are ignored (the draft: they MUST be); a known label with any value other than the
    token ``y`` or ``n`` (a string, a bare key, ``maybe``) opts out of its uses; a header that is not a
    dictionary at all opts out of every use. Repeated keys all count (the most restrictive wins).
    """
    from rightsmark.rights.signals_fields import FieldsError, dictionary_members

    try:
        members = dictionary_members(value.lower())
    except FieldsError:
        return uses(ALL)
    out: set[Purpose] = set()
    allowed: set[Purpose] = set()
    for key, token in members:
        entry = CONTENT_USAGE.get(key)
        if entry is None:
            continue
        if token == "y":
            allowed |= entry[1]
        else:
            out |= entry[0]
    return uses(out, allowed)


# ---------------------------------------------------------------------------------------------
# License statements


def license_statement(value: str) -> Training:
    """A license URL or SPDX id: a public-domain dedication rightsmark knows allows every use; anything else
    (a license with conditions, custom terms) says nothing about them."""
    from rightsmark.errors import RightsmarkError
    from rightsmark.rights.licenses import KNOWN, parse_license

    try:
        lic = parse_license(value)
    except RightsmarkError:
        return Training()
    info = KNOWN.get(lic.id) if lic.id else None
    return uses(allowed=ALL) if info is not None and info.public_domain else Training()


def unreadable(value: str) -> Training:
    """A sidecar (or the part of one that should hold such values) that could not be read: whatever it
    declared is unknown, so it opts out of every use (fail closed; see ``sources.base.SidecarValue``)."""
    return uses(ALL)


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Signal:
    """One kind of declared signal: its name as its standard spells it, and how its values read."""

    name: str
    read: Callable[[str], Training]


_SIGNALS = (
    (Signal("plus:DataMining", data_mining), ("plus:datamining", "datamining", "data-mining")),
    (Signal("tdm-reservation", tdm_reservation), ("tdm-reservation",)),
    (Signal("tdm:reservation", tdm_reservation), ("tdm:reservation",)),  # in XMP
    (Signal("tdm-policy", unspecified), ("tdm-policy",)),
    (Signal("tdm:policy", unspecified), ("tdm:policy",)),  # in XMP
    (Signal("X-Robots-Tag", robots), ("x-robots-tag",)),
    (Signal("Content-Usage", content_usage), ("content-usage",)),
    (Signal("xmpRights:WebStatement", license_statement), ("xmprights:webstatement", "webstatement")),
    (Signal("cc:license", license_statement), ("cc:license", "license")),
    (Signal("dc:rights", unspecified), ("dc:rights", "rights", "copyright")),
    (Signal("xmpRights:UsageTerms", unspecified), ("xmprights:usageterms", "usageterms", "usage-terms")),
    # what a source records for a sidecar it could not read (sources.base.SidecarValue, UNREADABLE)
    (Signal("sidecar", unreadable), ("sidecar",)),
)
#: Every name a signal is recorded under (lower case; headers, sidecar keys, XMP properties) -> the signal.
TABLE: dict[str, Signal] = {alias: signal for signal, aliases in _SIGNALS for alias in aliases}


def declare(name: str, value: str, source: SignalSource, where: str) -> DeclaredSignal:
    """A declared signal read through :data:`TABLE` (named as its standard spells it); a name the table does
    not know is reported with every use unspecified."""
    signal = TABLE.get(name.strip().lower())
    if signal is None:
        return DeclaredSignal(name, value, source, where, Training())
    return DeclaredSignal(signal.name, value, source, where, _meaning(signal.name, value))


@functools.lru_cache(maxsize=4096)
def _meaning(name: str, value: str) -> Training:
    """What ``value`` of the signal ``name`` says (a dataset repeats a few values: vocabulary codes, licenses)."""
    return TABLE[name.lower()].read(value)


class Recorded(Protocol):
    """A value recorded beside an image (:class:`rightsmark.sources.base.SidecarValue`)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def source(self) -> SignalSource: ...
    @property
    def where(self) -> str: ...


def declared_beside(values: Iterable[Recorded]) -> tuple[DeclaredSignal, ...]:
    """The declared signals of values recorded beside an image (sidecar headers, Parquet columns)."""
    return tuple(declare(v.name, v.value, v.source, v.where) for v in values)


def from_dict(d: Mapping[str, Any]) -> DeclaredSignal:
    """A :class:`DeclaredSignal` from its :meth:`~DeclaredSignal.to_dict` form (the facts cache, the Ray
    driver): what it means is read through :data:`TABLE` again, never taken from the stored form, so a
    cache written before the table changed cannot keep an old, more permissive reading."""
    return declare(d["name"], d["value"], SignalSource(d["source"]), d["where"])


# ---------------------------------------------------------------------------------------------
# Judging

#: The reason code of a file dropped for a declared opt-out (see :mod:`rightsmark.verify.policy`).
OPT_OUT = "declared-opt-out"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: str, limit: int = 200) -> str:
    """``value`` for a message: control characters escaped (``\\x1b``), cut at ``limit`` characters."""
    text = _UNSAFE.sub(_escaped, value)
    return text if len(text) <= limit else text[:limit] + "..."


def opt_outs(signals: Iterable[DeclaredSignal], purpose: Purpose) -> list[DeclaredSignal]:
    """The signals that opt out of ``purpose``."""
    return [s for s in signals if s.uses.get(purpose) is Use.NOT_ALLOWED]


def opted_in(signals: Iterable[DeclaredSignal], purpose: Purpose) -> bool:
    """Whether the signals allow ``purpose``: some opts in, none opts out."""
    listed = list(signals)
    return not opt_outs(listed, purpose) and any(s.uses.get(purpose) is Use.ALLOWED for s in listed)


def opt_out_reason(signals: Iterable[DeclaredSignal], purpose: Purpose, signed: Use | None = None) -> Reason | None:
    """The ``declared-opt-out`` reason for the signals that opt out of ``purpose`` (None when none does).

    ``signed`` is what a valid manifest says about the purpose: where it allows it (or allows it under
    constraints), the declared opt-out is a conflict, said so, and the more restrictive statement wins.
    """
    found = opt_outs(signals, purpose)
    if not found:
        return None
    named = "; ".join(f'{s.name} "{shown(s.value)}" in {shown(s.where)}' for s in found)
    message = f"{named} opt{'s' if len(found) == 1 else ''} out of {purpose.value}"
    if signed in (Use.ALLOWED, Use.CONSTRAINED):
        message += (
            f"; this conflicts with the signed manifest, which says {purpose.value} is {signed.value}:"
            " the more restrictive statement wins"
        )
    return Reason(OPT_OUT, message)
