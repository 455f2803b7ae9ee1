"""The table of declared signals, value by value: what each value of IPTC plus:DataMining, TDMRep,
X-Robots-Tag, Content-Usage and a license statement says about the four uses; the Structured Fields
parser under Content-Usage; and the reason a declared opt-out gives."""

from __future__ import annotations

import pytest

from rightsmark.models import DeclaredSignal, Purpose, SignalSource, Training, Use
from rightsmark.rights import signals
from rightsmark.rights.signals_fields import FieldsError, dictionary_members

T, G, INF, DM = "ai_training", "ai_generative_training", "ai_inference", "data_mining"
ALL = (T, G, INF, DM)


def said(t: Training) -> tuple[set[str], set[str]]:
    """(uses opted out of, uses opted in to)."""
    return (
        {p.value for p in Purpose if t.get(p) is Use.NOT_ALLOWED},
        {p.value for p in Purpose if t.get(p) is Use.ALLOWED},
    )


def reads(name: str, value: str) -> tuple[set[str], set[str]]:
    return said(signals.declare(name, value, SignalSource.SIDECAR, "sidecar 0.json").uses)


# ---------------------------------------------------------------------------------------------
# IPTC plus:DataMining

PLUS = "http://ns.useplus.org/ldf/vocab/"
DATA_MINING = [
    ("DMI-UNSPECIFIED", set(), set()),
    ("DMI-ALLOWED", set(), set(ALL)),
    ("DMI-PROHIBITED-AIMLTRAINING", {T, G}, set()),
    ("DMI-PROHIBITED-GENAIMLTRAINING", {G}, set()),
    ("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING", set(ALL), set()),
    ("DMI-PROHIBITED", set(ALL), set()),
    ("DMI-PROHIBITED-SEECONSTRAINT", set(ALL), set()),
    ("DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR", set(ALL), set()),
    ("DMI-PROHIBITED-SEELINKEDRIGHTSEXPR", set(ALL), set()),
]


@pytest.mark.parametrize(("code", "out", "allowed"), DATA_MINING)
def test_data_mining_codes_as_uri_bare_and_any_case(code: str, out: set[str], allowed: set[str]) -> None:
    for value in (PLUS + code, code, code.lower(), f"  {PLUS}{code}  ", "https://ns.useplus.org/ldf/vocab/" + code):
        assert reads("plus:DataMining", value) == (out, allowed), value


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("Unspecified \u2013 no prohibition defined", "DMI-UNSPECIFIED"),
        ("Allowed", "DMI-ALLOWED"),
        ("Prohibited for AI/ML training", "DMI-PROHIBITED-AIMLTRAINING"),
        ("Prohibited for Generative AI/ML training", "DMI-PROHIBITED-GENAIMLTRAINING"),
        ("prohibited except for search engine indexing", "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"),
        ("Prohibited", "DMI-PROHIBITED"),
        ("Prohibited, see plus:OtherConstraints", "DMI-PROHIBITED-SEECONSTRAINT"),
    ],
)
def test_data_mining_labels_read_as_their_codes(label: str, code: str) -> None:
    assert reads("plus:DataMining", label) == reads("plus:DataMining", code)


@pytest.mark.parametrize(
    "value", ["", "DMI-MAYBE", "yes", "http://example.com/vocab/DMI-ALLOWED", PLUS + "DMI-ALLOWED-PLEASE", "0"]
)
def test_an_unknown_data_mining_value_prohibits_every_use(value: str) -> None:
    assert reads("plus:DataMining", value) == (set(ALL), set())


def test_the_values_rightsmark_writes_read_back_as_what_they_mirror() -> None:
    """rightsmark's own plus:DataMining mirror (manifest.plus_data_mining) never reads as more permissive
    than the training it was made from."""
    from rightsmark.rights.manifest import plus_data_mining

    values = [Use.ALLOWED, Use.NOT_ALLOWED, Use.CONSTRAINED, Use.UNSPECIFIED]
    for a in values:
        for g in values:
            for i in values:
                for d in values:
                    training = Training(a, g, i, d)
                    _, allowed = said(signals.data_mining(plus_data_mining(training)))
                    for p in Purpose:
                        if training.get(p) is not Use.ALLOWED:
                            assert p.value not in allowed, (training, p)


# ---------------------------------------------------------------------------------------------
# W3C TDMRep


@pytest.mark.parametrize("name", ["tdm-reservation", "TDM-Reservation", "tdm:reservation"])
def test_tdm_reservation(name: str) -> None:
    assert reads(name, "1") == (set(ALL), set())
    assert reads(name, " 1 ") == (set(ALL), set())
    assert reads(name, "0") == (set(), set(ALL))


@pytest.mark.parametrize("value", ["2", "", "yes", "true", "1, 0", "01"])
def test_tdm_reservation_other_values_count_as_a_reservation(value: str) -> None:
    assert reads("tdm-reservation", value) == (set(ALL), set())


def test_tdm_policy_is_reported_and_says_nothing_itself() -> None:
    signal = signals.declare("TDM-Policy", "https://example.com/policy.json", SignalSource.SIDECAR, "x")
    assert signal.name == "tdm-policy" and said(signal.uses) == (set(), set())


# ---------------------------------------------------------------------------------------------
# X-Robots-Tag

AI = {T, G, INF}


@pytest.mark.parametrize(
    ("value", "out"),
    [
        ("noai", AI),
        ("noimageai", AI),
        ("NoAI", AI),
        ("noindex, nofollow", set()),
        ("noindex, noimageai", AI),
        ("googlebot: noai", AI),
        ("otherbot: noindex, nofollow, noai", AI),
        ("noindex noai", AI),  # space-separated, against the convention: still seen
        ("googlebot: unavailable_after: Wednesday, 25 Nov 2026 15:00:00 PST", set()),
        ("unavailable_after: 2026-11-25", set()),
        ("max-snippet: 20, max-image-preview: large", set()),
        ("all", set()),
        ("none", set()),
        ("noarchive, nosnippet, noimageindex, notranslate", set()),
        ("noml", set(ALL)),  # a restriction no search engine defines: every use
        ("bingbot: notrain", set(ALL)),
        ("", set()),
        ("noai\nnoindex", AI),  # two header lines
    ],
)
def test_x_robots_tag(value: str, out: set[str]) -> None:
    assert reads("X-Robots-Tag", value) == (out, set())
    assert reads("x-robots-tag", value) == (out, set())


# ---------------------------------------------------------------------------------------------
# IETF AI preferences: Content-Usage


@pytest.mark.parametrize(
    ("value", "out", "allowed"),
    [
        ("train-ai=n", {T, G}, set()),
        ("train-ai=y", set(), {G}),  # what every draft's train-ai includes
        ("train-ai=n, search=y", {T, G}, set()),
        ("TRAIN-AI=N", {T, G}, set()),  # matched case-insensitively
        ("train-genai=n", {G}, set()),
        ("train-genai=y", set(), {G}),
        ("genai=n", {G}, set()),
        ("ai=n", {T, G}, set()),
        ("ai=y", set(), {T, G}),
        ("ai-use=n", {INF}, set()),
        ("inference=n", {INF}, set()),
        ("ai-output=n", {INF}, set()),
        ("bots=n", set(ALL), set()),
        ("all=n", set(ALL), set()),
        ("tdm=n", set(ALL), set()),
        ("bots=y", set(), set(ALL)),
        ("bots=y, train-ai=n", {T, G}, {INF, DM}),
        ("bots=n, train-ai=y", set(ALL), set()),  # the most restrictive statement wins
        ("train-ai=y, train-ai=n", {T, G}, set()),  # a repeated key: every value counts
        ("train-ai=n;reason=?1", {T, G}, set()),  # parameters ignored
        ("train-ai=y;p", set(), {G}),
        ("train-ai=maybe", {T, G}, set()),  # a known label with another value: its uses are out
        ('train-ai="n"', {T, G}, set()),
        ("train-ai", {T, G}, set()),  # a bare key is Boolean true, not y
        ("train-ai=(y)", {T, G}, set()),
        ("search=n", set(), set()),
        ("search=y", set(), set()),
        ("x-vendor=n, foo=y", set(), set()),  # unknown labels are ignored
        ("", set(), set()),
        ("  train-ai=n  ", {T, G}, set()),
    ],
)
def test_content_usage(value: str, out: set[str], allowed: set[str]) -> None:
    assert reads("Content-Usage", value) == (out, allowed)


@pytest.mark.parametrize(
    "value",
    ["train-ai=n,", "train-ai==n", "train-ai=n search=y", "9ai=n", ",", "train-ai=n,,search=y", "a=\u00e9", 'a="x'],
)
def test_a_content_usage_header_that_does_not_parse_opts_out_of_every_use(value: str) -> None:
    assert reads("content-usage", value) == (set(ALL), set())


# ---------------------------------------------------------------------------------------------
# Structured Fields (RFC 9651) Dictionary


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("a=?0, b, c;foo=bar", [("a", None), ("b", None), ("c", None)]),
        ('en="Applepie", da=:w4ZibGV0w6ZydGUK:', [("en", None), ("da", None)]),
        ("rating=1.5, feelings=(joy sadness)", [("rating", None), ("feelings", None)]),
        ("a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid", [("a", None), ("b", None), ("c", None), ("d", None)]),
        ("a=tok, b=*t:/x", [("a", "tok"), ("b", "*t:/x")]),
        ('d=@1659578233, s=%"f%c3%bc", n=-12.345', [("d", None), ("s", None), ("n", None)]),
        ("a=1,\tb=2", [("a", None), ("b", None)]),
        ("", []),
        ('a="q\\"uote"', [("a", None)]),
        ("a=()", [("a", None)]),
        ("*x=y", [("*x", "y")]),
    ],
)
def test_valid_dictionaries(text: str, members: list[tuple[str, str | None]]) -> None:
    assert dictionary_members(text) == members


@pytest.mark.parametrize(
    "text",
    [
        "a=1,",  # trailing comma
        "A=1",  # keys are lower case
        "a=1 b=2",
        "a=1.",  # a decimal needs a fraction
        "a=1.2345",  # at most three fraction digits
        "a=1234567890123456",  # sixteen integer digits
        "a=1234567890123.5",  # thirteen before the point
        'a="unterminated',
        'a="bad\\escape"',
        "a=:not base64!:",
        "a=?2",
        "a=@1.5",
        'a=%"%C3"',  # upper-case hex
        "a=(1 2",
        "a=(1,2)",
        "a=#",
        "a;=1",
    ],
)
def test_invalid_dictionaries(text: str) -> None:
    with pytest.raises(FieldsError):
        dictionary_members(text)


# ---------------------------------------------------------------------------------------------
# License and rights statements

CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"


@pytest.mark.parametrize("name", ["xmpRights:WebStatement", "cc:license", "license", "LICENSE"])
def test_license_statements(name: str) -> None:
    assert reads(name, CC0) == (set(), set(ALL))
    assert reads(name, "http://creativecommons.org/publicdomain/zero/1.0") == (set(), set(ALL))
    assert reads(name, "CC0-1.0") == (set(), set(ALL))
    assert reads(name, "https://creativecommons.org/licenses/by/4.0/") == (set(), set())
    assert reads(name, "https://creativecommons.org/licenses/by-nc/4.0/") == (set(), set())
    assert reads(name, "https://example.com/our-terms") == (set(), set())
    assert reads(name, "All rights reserved") == (set(), set())
    assert reads(name, "?") == (set(), set())


@pytest.mark.parametrize("name", ["dc:rights", "xmpRights:UsageTerms", "rights"])
def test_rights_statements_are_reported_and_say_nothing(name: str) -> None:
    assert reads(name, "All rights reserved. No AI training.") == (set(), set())
    assert reads(name, "CC0") == (set(), set())


def test_names_are_matched_case_insensitively_and_spelt_as_the_standard_does() -> None:
    spelt = {
        "x-robots-tag": "X-Robots-Tag",
        "CONTENT-USAGE": "Content-Usage",
        " Tdm-Reservation ": "tdm-reservation",
        "plus:datamining": "plus:DataMining",
        "WebStatement": "xmpRights:WebStatement",
    }
    for given, name in spelt.items():
        assert signals.declare(given, "1", SignalSource.COLUMN, "column c").name == name


def test_an_unknown_name_is_reported_as_given_saying_nothing() -> None:
    signal = signals.declare("X-Custom-AI", "forbidden", SignalSource.SIDECAR, "sidecar 1.json")
    assert (signal.name, signal.value, said(signal.uses)) == ("X-Custom-AI", "forbidden", (set(), set()))


# ---------------------------------------------------------------------------------------------
# The reason


def signal(name: str, value: str, where: str = "sidecar 000001.json (headers)") -> DeclaredSignal:
    return signals.declare(name, value, SignalSource.SIDECAR, where)


def test_the_reason_names_signal_value_and_where() -> None:
    reason = signals.opt_out_reason([signal("X-Robots-Tag", "noai"), signal("dc:rights", "x")], Purpose.AI_TRAINING)
    assert reason is not None and reason.code == "declared-opt-out"
    assert reason.message == 'X-Robots-Tag "noai" in sidecar 000001.json (headers) opts out of ai_training'
    assert signals.opt_out_reason([signal("X-Robots-Tag", "noai")], Purpose.DATA_MINING) is None


def test_the_reason_says_a_conflict_with_a_manifest_that_allows_the_purpose() -> None:
    found = [signal("tdm-reservation", "1"), signal("Content-Usage", "train-ai=n", "column content_usage")]
    for signed in (Use.ALLOWED, Use.CONSTRAINED):
        reason = signals.opt_out_reason(found, Purpose.AI_TRAINING, signed)
        assert reason is not None
        assert "tdm-reservation" in reason.message and "column content_usage" in reason.message
        assert f"conflicts with the signed manifest, which says ai_training is {signed.value}" in reason.message
        assert "the more restrictive statement wins" in reason.message
    for signed in (Use.NOT_ALLOWED, Use.UNSPECIFIED, None):
        reason = signals.opt_out_reason(found, Purpose.AI_TRAINING, signed)
        assert reason is not None and "conflict" not in reason.message


def test_the_reason_shows_hostile_values_escaped_and_cut() -> None:
    reason = signals.opt_out_reason(
        [signal("X-Robots-Tag", "noai\x1b[2J\r\nfake: line" + "x" * 500, "sidecar a\nb.json")], Purpose.AI_TRAINING
    )
    assert reason is not None
    assert "\x1b" not in reason.message and "\n" not in reason.message and "\r" not in reason.message
    assert "noai\\x1b[2J\\x0d\\x0afake: line" in reason.message and "sidecar a\\x0ab.json" in reason.message
    assert len(reason.message) < 500


def test_opt_ins_count_only_without_an_opt_out() -> None:
    allowed = signal("tdm-reservation", "0")
    assert signals.opted_in([allowed], Purpose.AI_TRAINING)
    assert not signals.opted_in([allowed, signal("X-Robots-Tag", "noai")], Purpose.AI_TRAINING)
    assert signals.opted_in([allowed, signal("X-Robots-Tag", "noai")], Purpose.DATA_MINING)
    assert not signals.opted_in([signal("dc:rights", "free")], Purpose.AI_TRAINING)
    assert not signals.opted_in([], Purpose.AI_TRAINING)


def test_a_declared_signal_survives_its_json_form() -> None:
    for s in (signal("Content-Usage", "bots=y, train-ai=n"), signal("dc:rights", "\u00a9 me")):
        assert signals.from_dict(s.to_dict()) == s


def test_the_xmp_mirror_of_nothing_said_is_unspecified_not_prohibited() -> None:
    """A signer who said nothing about the four uses is mirrored as DMI-UNSPECIFIED: once the manifest is
    stripped, that declares nothing (a "prohibited" mirror would be a statement the signer never made)."""
    from rightsmark.rights.consent import ConsentDeclaration
    from rightsmark.rights.manifest import Rights, metadata_assertion

    said = metadata_assertion(Rights(consent=ConsentDeclaration.no_people(), training=Training()))
    assert said["plus:DataMining"].endswith("/DMI-UNSPECIFIED")
    assert signals.declare("plus:DataMining", said["plus:DataMining"], SignalSource.XMP, "x").uses == Training()
