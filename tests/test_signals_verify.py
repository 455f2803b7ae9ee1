"""Declared signals in verification: read from the XMP of real JPEG, PNG, WebP and TIFF files (written by
Pillow and by rightsmark itself) and from values recorded beside an image; an opt-out always drops, an
opt-in keeps only where the policy says so, a conflict with a valid manifest is said and the more
restrictive statement wins; records, reports, the summary and ``inspect`` show them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image, PngImagePlugin

from rightsmark.keys.devca import KeyFiles
from rightsmark.media import jpeg as jpeg_walk
from rightsmark.models import Decision, DeclaredSignal, Integrity, Purpose, SignalSource, Training, Use, VerifyRecord
from rightsmark.rights.consent import ConsentDeclaration
from rightsmark.rights.manifest import Rights
from rightsmark.sign.signer import Signer
from rightsmark.sources.base import Item, SidecarValue
from rightsmark.verify.bulk import BulkVerifier, verify_items
from rightsmark.verify.facts import Facts, prescan, prescan_local
from rightsmark.verify.policy import Policy
from rightsmark.verify.reader import FactReader
from rightsmark.verify.verifier import make_record

from .conftest import open_rights

Cli = Callable[..., Any]
PLUS = "http://ns.useplus.org/ldf/vocab/"
NS = (
    'xmlns:x="adobe:ns:meta/"',
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
    'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"',
    'xmlns:tdm="http://www.w3.org/ns/tdmrep/"',
    'xmlns:cc="http://creativecommons.org/ns#"',
    'xmlns:dc="http://purl.org/dc/elements/1.1/"',
    'xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"',
)


def packet(body: str, attributes: str = "") -> bytes:
    """An XMP packet: one rdf:Description holding ``body`` (property elements) and ``attributes``."""
    return (
        f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta {NS[0]}><rdf:RDF {NS[1]}>'
        f'<rdf:Description rdf:about="" {" ".join(NS[2:])} {attributes}>{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
    ).encode()


EVERYTHING = packet(
    f"<plus:DataMining>{PLUS}DMI-PROHIBITED-AIMLTRAINING</plus:DataMining>"
    '<cc:license rdf:resource="https://creativecommons.org/licenses/by/4.0/"/>'
    '<dc:rights><rdf:Alt><rdf:li xml:lang="de">Alle Rechte</rdf:li>'
    '<rdf:li xml:lang="x-default">All rights reserved</rdf:li></rdf:Alt></dc:rights>',
    'tdm:reservation="1" tdm:policy="https://example.com/tdm.json"',
)
EVERYTHING_SAYS = [
    ("plus:DataMining", PLUS + "DMI-PROHIBITED-AIMLTRAINING"),
    ("tdm:reservation", "1"),
    ("tdm:policy", "https://example.com/tdm.json"),
    ("cc:license", "https://creativecommons.org/licenses/by/4.0/"),
    ("dc:rights", "All rights reserved"),
]


def image_with_xmp(kind: str, xmp: bytes | None) -> bytes:
    """A small picture saved by Pillow as ``kind`` with ``xmp`` as its packet."""
    im = Image.new("RGB", (48, 32), (200, 120, 40))
    out = io.BytesIO()
    if kind == "png":
        info = PngImagePlugin.PngInfo()
        if xmp is not None:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        im.save(out, "PNG", pnginfo=info)
    elif kind == "tiff":
        im.save(out, "TIFF", tiffinfo={700: xmp} if xmp is not None else {})
    else:
        im.save(out, {"jpeg": "JPEG", "webp": "WEBP"}[kind], **({"xmp": xmp} if xmp is not None else {}))
    return out.getvalue()


KEEP_UNSIGNED = Policy(keep_absent=True)


def one(items: list[Item], policy: Policy) -> VerifyRecord:
    (record,) = verify_items(items, policy, jobs=1)
    return record


def codes(record: VerifyRecord) -> list[str]:
    return [r.code for r in record.reasons]


def declared(record: VerifyRecord) -> list[tuple[str, str]]:
    return [(d.name, d.value) for d in record.declared]


# ---------------------------------------------------------------------------------------------
# In the file


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp", "tiff"])
def test_signals_in_the_xmp_of_each_container(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"picture.{kind}"
    path.write_bytes(image_with_xmp(kind, EVERYTHING))
    record = one([Item(key=path.name, path=str(path))], KEEP_UNSIGNED)
    assert declared(record) == EVERYTHING_SAYS
    assert all(d.source is SignalSource.XMP and d.where == "the XMP packet" for d in record.declared)
    assert record.integrity is Integrity.ABSENT and record.decision is Decision.DROP
    assert codes(record) == ["declared-opt-out"]
    assert 'plus:DataMining "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"' in record.reasons[0].message
    assert 'tdm:reservation "1" in the XMP packet' in record.reasons[0].message
    # the same from the bytes, from the open file's head and from the engine's reading (TIFF: only there)
    data = path.read_bytes()
    early = prescan(data, path.name)
    assert (early is None) if kind == "tiff" else (early is not None and early.declared == record.declared)
    if kind == "jpeg":
        head, _ = prescan_local(str(path), path.name)
        assert head is not None and head.declared == record.declared
    reader = FactReader()
    try:
        assert reader.examine(data, path.name)[0].declared == record.declared
    finally:
        reader.close()


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp", "tiff"])
def test_no_xmp_or_no_signal_in_it_keeps_what_keep_unsigned_kept(kind: str, tmp_path: Path) -> None:
    quiet = packet('<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour</rdf:li></rdf:Alt></dc:title>')
    for name, xmp in (("none", None), ("quiet", quiet)):
        path = tmp_path / f"{name}.{kind}"
        path.write_bytes(image_with_xmp(kind, xmp))
        record = one([Item(key=path.name, path=str(path))], KEEP_UNSIGNED)
        assert (record.decision, record.declared) == (Decision.KEEP, ()), name


def test_a_stripped_manifest_leaves_rightsmarks_own_xmp_which_opts_out(
    cli: Cli, tmp_path: Path, jpeg: Path, signer: Signer
) -> None:
    """The issue's case: rightsmark signed "not allowed" and mirrored it into XMP; the manifest was stripped
    (APP11 segments removed); --keep-unsigned no longer keeps the file."""
    signed = tmp_path / "signed.jpg"
    rights = Rights(consent=ConsentDeclaration.no_people(), authors=("Jane Doe",))  # training: all notAllowed
    signer.sign_file(jpeg, signed, rights)
    data = signed.read_bytes()
    cut = [(start, end) for marker, start, end in jpeg_walk.segments(data) if marker == 0xEB]  # APP11: JUMBF
    assert cut
    stripped = bytearray(data)
    for start, end in reversed(cut):
        del stripped[start:end]
    (tmp_path / "stripped.jpg").write_bytes(bytes(stripped))

    res = cli("verify", tmp_path / "stripped.jpg", "--keep-unsigned", "-f", "json")
    assert res.returncode == 1, res.stderr
    (record,) = res.json()
    assert record["integrity"] == "absent" and record["decision"] == "drop"
    assert [r["code"] for r in record["reasons"]] == ["declared-opt-out"]
    assert (
        f'plus:DataMining "{PLUS}DMI-PROHIBITED" in the XMP packet opts out of ai_training'
        in (record["reasons"][0]["message"])
    )
    text = cli("verify", tmp_path / "stripped.jpg", "--keep-unsigned")
    assert "declared plus:DataMining" in text.stdout and "opts out of ai_training" in text.stdout


@pytest.mark.parametrize(
    ("body", "attributes", "out"),
    [
        # a bag of values: every one counts, the most restrictive wins
        (
            f"<plus:DataMining><rdf:Bag><rdf:li>{PLUS}DMI-ALLOWED</rdf:li><rdf:li>DMI-PROHIBITED</rdf:li></rdf:Bag>"
            "</plus:DataMining>",
            "",
            True,
        ),
        ("", f'plus:DataMining="{PLUS}DMI-PROHIBITED"', True),  # attribute form
        (f'<plus:DataMining rdf:resource="{PLUS}DMI-PROHIBITED"/>', "", True),  # a resource
        ("<tdm:reservation>0</tdm:reservation>", "", False),
        ("<tdm:reservation>yes</tdm:reservation>", "", True),  # not 0 or 1: a reservation
        (f"<plus:DataMining>{PLUS}DMI-PROHIBITED-GENAIMLTRAINING</plus:DataMining>", "", False),  # not ai_training
        (f"<plus:DataMining>{PLUS}DMI-SOMETHING-NEW</plus:DataMining>", "", True),  # unknown: every use
    ],
)
def test_forms_and_values_in_xmp(body: str, attributes: str, out: bool, tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    path.write_bytes(image_with_xmp("jpeg", packet(body, attributes)))
    record = one([Item(key="p.jpg", path=str(path))], KEEP_UNSIGNED)
    assert codes(record) == (["declared-opt-out"] if out else []), record.declared


def test_the_epub_namespace_of_tdmrep_is_read_too(tmp_path: Path) -> None:
    xmp = packet('<t:reservation xmlns:t="http://www.w3.org/ns/tdmrep#">1</t:reservation>')
    path = tmp_path / "e.png"
    path.write_bytes(image_with_xmp("png", xmp))
    record = one([Item(key="e.png", path=str(path))], KEEP_UNSIGNED)
    assert declared(record) == [("tdm:reservation", "1")] and codes(record) == ["declared-opt-out"]


def test_a_utf16_packet_is_read(tmp_path: Path) -> None:
    text = EVERYTHING.decode("utf-8").replace('<?xpacket begin="\ufeff"', '<?xpacket begin=""')
    path = tmp_path / "wide.tif"
    path.write_bytes(image_with_xmp("tiff", "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")))
    record = one([Item(key="wide.tif", path=str(path))], KEEP_UNSIGNED)
    assert declared(record) == EVERYTHING_SAYS


@pytest.mark.parametrize(
    ("xmp", "what"),
    [
        (EVERYTHING.replace(b"</rdf:RDF>", b""), "mismatched tag"),
        (
            b'<!DOCTYPE x [<!ENTITY e "DMI-ALLOWED">]>' + packet("<plus:DataMining>&e;</plus:DataMining>")[60:],
            "DTD",
        ),
    ],
)
def test_an_unreadable_packet_naming_an_opt_out_property_fails_closed(xmp: bytes, what: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(image_with_xmp("jpeg", xmp))
    record = one([Item(key="bad.jpg", path=str(path))], KEEP_UNSIGNED)
    assert codes(record) == ["declared-opt-out"]
    (first, *_) = record.declared
    assert (first.name, first.value) == ("plus:DataMining", "(unreadable)") and what in first.where
    assert first.uses == Training(*(Use.NOT_ALLOWED,) * 4)
    # an unreadable packet that names no such property says nothing
    path.write_bytes(image_with_xmp("jpeg", b"<x:xmpmeta><dc:title>unclosed"))
    assert one([Item(key="bad.jpg", path=str(path))], KEEP_UNSIGNED).declared == ()


# ---------------------------------------------------------------------------------------------
# Signed files: the manifest's own mirror, and a conflict


def test_rightsmarks_own_mirror_is_not_a_declaration(
    tmp_path: Path, jpeg: Path, signer: Signer, keys: KeyFiles
) -> None:
    """rightsmark writes a lossy plus:DataMining mirror of the four permissions into the XMP it signs
    (here DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR for 'ai_training allowed, the rest not'): it is the manifest
    speaking, and the manifest's assertion is authoritative."""
    out = tmp_path / "signed.jpg"
    signer.sign_file(jpeg, out, open_rights())
    record = one([Item(key="signed.jpg", path=str(out))], Policy(anchors=(keys.ca,)))
    assert record.integrity is Integrity.VALID and record.decision is Decision.KEEP, record.reasons
    assert record.declared == ()


def test_a_declaration_stricter_than_the_manifest_conflicts_and_wins(
    cli: Cli, tmp_path: Path, signer: Signer, keys: KeyFiles
) -> None:
    src = tmp_path / "src.jpg"
    src.write_bytes(image_with_xmp("jpeg", packet("<tdm:reservation>1</tdm:reservation>")))
    out = tmp_path / "signed.jpg"
    signer.sign_file(src, out, open_rights())  # ai_training allowed; the file's own TDM reservation stays
    record = one([Item(key="signed.jpg", path=str(out))], Policy(anchors=(keys.ca,)))
    assert record.integrity is Integrity.VALID and record.training.ai_training is Use.ALLOWED
    assert declared(record) == [("tdm:reservation", "1")]
    assert record.decision is Decision.DROP and codes(record) == ["declared-opt-out"]
    message = record.reasons[0].message
    assert 'tdm:reservation "1" in the XMP packet opts out of ai_training' in message
    assert "conflicts with the signed manifest, which says ai_training is allowed" in message
    # data mining is notAllowed in the manifest as in the declaration: the same reason, no conflict
    mining = one([Item(key="signed.jpg", path=str(out))], Policy(anchors=(keys.ca,), purpose=Purpose.DATA_MINING))
    assert codes(mining) == ["permission-not-allowed", "declared-opt-out"]
    assert "conflict" not in mining.reasons[1].message
    # the cache keeps the declaration: a second run from cached facts says the same
    cache = tmp_path / "cache"
    for _ in range(2):
        with BulkVerifier(Policy(anchors=(keys.ca,)), jobs=1, cache_dir=cache) as bulk:
            (again,) = bulk.run([Item(key="signed.jpg", path=str(out))])
        assert again == record
    assert bulk.cache is not None and bulk.cache.hits == 1


# ---------------------------------------------------------------------------------------------
# Beside the file: sidecar headers and columns


def beside(*values: tuple[str, str, SignalSource, str]) -> tuple[SidecarValue, ...]:
    return tuple(SidecarValue(*v) for v in values)


def test_sidecar_and_column_values_are_declared_signals(tmp_path: Path) -> None:
    path = tmp_path / "000001.jpg"
    path.write_bytes(image_with_xmp("jpeg", None))
    sidecar = beside(
        ("X-Robots-Tag", "noindex, noai", SignalSource.SIDECAR, "sidecar 000001.json (headers)"),
        ("content-usage", "search=y", SignalSource.COLUMN, "column content_usage"),
    )
    record = one([Item(key="000001.jpg", path=str(path), sidecar=sidecar)], KEEP_UNSIGNED)
    assert [(d.name, d.value, d.source, d.where) for d in record.declared] == [
        ("X-Robots-Tag", "noindex, noai", SignalSource.SIDECAR, "sidecar 000001.json (headers)"),
        ("Content-Usage", "search=y", SignalSource.COLUMN, "column content_usage"),
    ]
    assert codes(record) == ["declared-opt-out"]
    assert record.reasons[0].message == (
        'X-Robots-Tag "noindex, noai" in sidecar 000001.json (headers) opts out of ai_training'
    )
    # data mining is none of noai's uses
    assert one(
        [Item(key="000001.jpg", path=str(path), sidecar=sidecar)], replace(KEEP_UNSIGNED, purpose=Purpose.DATA_MINING)
    ).kept


def test_sidecar_signals_join_the_files_own(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    path.write_bytes(image_with_xmp("webp", packet("<tdm:reservation>0</tdm:reservation>")))
    data = path.read_bytes()
    sidecar = beside(("tdm-reservation", "1", SignalSource.SIDECAR, "sidecar a.json"))
    record = one([Item(key="a.webp", data=data, sidecar=sidecar)], KEEP_UNSIGNED)
    assert declared(record) == [("tdm:reservation", "0"), ("tdm-reservation", "1")]
    assert codes(record) == ["declared-opt-out"] and "sidecar a.json" in record.reasons[0].message


def test_a_sidecar_opt_out_conflicts_with_a_signed_manifest(
    tmp_path: Path, jpeg: Path, signer: Signer, keys: KeyFiles
) -> None:
    out = tmp_path / "signed.jpg"
    signer.sign_file(jpeg, out, open_rights())
    sidecar = beside(("Content-Usage", "train-ai=n", SignalSource.COLUMN, "column content_usage"))
    record = one([Item(key="k", path=str(out), sidecar=sidecar)], Policy(anchors=(keys.ca,)))
    assert record.integrity is Integrity.VALID and codes(record) == ["declared-opt-out"]
    assert "column content_usage" in record.reasons[0].message and "conflicts" in record.reasons[0].message


def test_what_travels_in_the_facts_judges_as_the_item_does(tmp_path: Path) -> None:
    """The Ray driver re-judges facts read back from JSON without the item: sidecar values travel in them."""
    path = tmp_path / "x.png"
    path.write_bytes(image_with_xmp("png", EVERYTHING))
    facts = prescan(path.read_bytes(), "x.png")
    assert facts is not None
    item = Item(key="x.png", path=str(path), sidecar=beside(("X-Robots-Tag", "noai", SignalSource.SIDECAR, "s.json")))
    direct = make_record("x.png", facts, KEEP_UNSIGNED, item=item)
    travelled = Facts.from_json(facts.with_declared(direct.declared[len(facts.declared) :]).to_json())
    assert travelled is not None
    assert make_record("x.png", travelled, KEEP_UNSIGNED) == replace(direct, sample=None)
    assert make_record("x.png", travelled, KEEP_UNSIGNED, item=item) == direct  # added once, however often


# ---------------------------------------------------------------------------------------------
# Opt-ins


def opt_in_file(tmp_path: Path) -> Path:
    path = tmp_path / "free.jpg"
    path.write_bytes(image_with_xmp("jpeg", packet(f"<plus:DataMining>{PLUS}DMI-ALLOWED</plus:DataMining>")))
    return path


def test_an_opt_in_never_keeps_an_unsigned_file_by_default(tmp_path: Path) -> None:
    path = opt_in_file(tmp_path)
    record = one([Item(key="free.jpg", path=str(path))], Policy())
    assert record.decision is Decision.DROP and codes(record) == ["integrity-absent"]
    assert declared(record) == [("plus:DataMining", PLUS + "DMI-ALLOWED")]


def test_declared_allowed_keep_keeps_an_unsigned_file_that_opts_in(tmp_path: Path) -> None:
    path = opt_in_file(tmp_path)
    policy = Policy(keep_declared_allowed=True)
    assert one([Item(key="free.jpg", path=str(path))], policy).kept
    # ... unless something else opts out
    noai = beside(("X-Robots-Tag", "noai", SignalSource.SIDECAR, "sidecar free.json"))
    record = one([Item(key="free.jpg", path=str(path), sidecar=noai)], policy)
    assert codes(record) == ["integrity-absent", "declared-opt-out"]
    # an opt-in for another use keeps nothing: train-ai=y speaks of generative training only
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(image_with_xmp("jpeg", None))
    genai = beside(("Content-Usage", "train-ai=y", SignalSource.COLUMN, "column content_usage"))
    assert codes(one([Item(key="p", path=str(plain), sidecar=genai)], policy)) == ["integrity-absent"]
    assert one(
        [Item(key="p", path=str(plain), sidecar=genai)], replace(policy, purpose=Purpose.AI_GENERATIVE_TRAINING)
    ).kept
    # a rights statement is no opt-in
    rights = beside(("dc:rights", "free for all", SignalSource.SIDECAR, "s.json"))
    assert codes(one([Item(key="p", path=str(plain), sidecar=rights)], policy)) == ["integrity-absent"]


def test_declared_allowed_never_keeps_a_tampered_file(tmp_path: Path, signer: Signer, keys: KeyFiles) -> None:
    src = opt_in_file(tmp_path)
    out = tmp_path / "signed.jpg"
    signer.sign_file(src, out, open_rights())
    data = bytearray(out.read_bytes())
    data[-20] ^= 1  # the image data changes: integrity invalid
    sidecar = beside(("tdm-reservation", "0", SignalSource.SIDECAR, "s.json"))
    record = one(
        [Item(key="t", data=bytes(data), sidecar=sidecar)], Policy(anchors=(keys.ca,), keep_declared_allowed=True)
    )
    assert record.integrity is Integrity.INVALID and record.decision is Decision.DROP


# ---------------------------------------------------------------------------------------------
# Policy files, reports, summary, inspect


def test_policy_file_declared_allowed(cli: Cli, tmp_path: Path) -> None:
    path = opt_in_file(tmp_path)
    policy = tmp_path / "policy.toml"
    policy.write_text('[treat]\ndeclared_allowed = "keep"\n')
    res = cli("verify", path, "--policy", policy, "-f", "json")
    assert res.returncode == 0, res.stderr
    assert res.json()[0]["decision"] == "keep"
    policy.write_text('[treat]\ndeclared_allowed = "maybe"\n')
    res = cli("verify", path, "--policy", policy)
    assert res.returncode == 2 and "declared_allowed" in res.stderr and "Traceback" not in res.stderr
    from rightsmark.verify.policyfile import load_policy

    policy.write_text('[treat]\ndeclared_allowed = "keep"\nabsent = "drop"\n')
    assert load_policy(policy).to_dict()["treat"]["declared_allowed"] == "keep"
    assert Policy().to_dict()["treat"]["declared_allowed"] == "drop"


def test_reports_summary_and_inspect_show_declared_signals(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(image_with_xmp("jpeg", EVERYTHING))
    (data / "b.png").write_bytes(image_with_xmp("png", packet(f"<plus:DataMining>{PLUS}DMI-ALLOWED</plus:DataMining>")))
    (data / "c.tif").write_bytes(image_with_xmp("tiff", None))

    res = cli("verify", data, "--keep-unsigned", "-o", tmp_path / "r.csv")
    assert res.returncode == 1, res.stderr
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader((tmp_path / "r.csv").open())}
    assert rows["a.jpg"]["declared"].split(";")[:2] == [
        f"plus:DataMining={PLUS}DMI-PROHIBITED-AIMLTRAINING",
        "tdm:reservation=1",
    ]
    assert rows["a.jpg"]["declared_opt_out"] == "ai_training;ai_generative_training;ai_inference;data_mining"
    assert rows["a.jpg"]["reason_codes"] == "declared-opt-out"
    assert (rows["b.png"]["declared_opt_out"], rows["b.png"]["decision"]) == ("", "keep")
    assert (rows["c.tif"]["declared"], rows["c.tif"]["declared_opt_out"]) == ("", "")
    assert "declared signals: 2 files (1 opting out of some use, 1 opting in to some use" in res.stderr
    assert "declared-opt-out  1" in res.stderr

    res = cli("verify", data, "--keep-unsigned", "-o", tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert str(table.schema.field("declared").type) == "list<element: string>"
    got = {
        p.rsplit("/", 1)[-1]: o
        for p, o in zip(table["path"].to_pylist(), table["declared_opt_out"].to_pylist(), strict=True)
    }
    assert got == {
        "a.jpg": ["ai_training", "ai_generative_training", "ai_inference", "data_mining"],
        "b.png": [],
        "c.tif": [],
    }

    res = cli("inspect", data / "a.jpg")
    assert res.returncode == 0, res.stderr
    assert f'declared plus:DataMining "{PLUS}DMI-PROHIBITED-AIMLTRAINING" (xmp, the XMP packet)' in res.stdout
    assert "opts out of ai_training, ai_generative_training" in res.stdout
    assert "declared-opt-out" in res.stdout
    res = cli("inspect", data / "a.jpg", "--json")
    info = json.loads(res.stdout)
    assert [(d["name"], d["value"]) for d in info["declared"]] == EVERYTHING_SAYS


# ---------------------------------------------------------------------------------------------
# Ray


def test_the_ray_engine_reads_the_same_signals(cli: Cli, tmp_path: Path, signer: Signer, keys: KeyFiles) -> None:
    pytest.importorskip("ray")
    data = tmp_path / "data"
    data.mkdir()
    for kind in ("jpeg", "png", "webp", "tiff"):
        (data / f"a.{kind}").write_bytes(image_with_xmp(kind, EVERYTHING))
    (data / "free.jpg").write_bytes(
        image_with_xmp("jpeg", packet(f"<plus:DataMining>{PLUS}DMI-ALLOWED</plus:DataMining>"))
    )
    src = tmp_path / "src.jpg"
    src.write_bytes(image_with_xmp("jpeg", packet("<tdm:reservation>1</tdm:reservation>")))
    signer.sign_file(src, data / "signed.jpg", open_rights())
    policy = tmp_path / "policy.toml"
    policy.write_text('[treat]\ndeclared_allowed = "keep"\n')
    options = ("--policy", policy, "--trust", keys.ca, "-q")
    ref = cli("verify", data, *options, "-o", tmp_path / "local.jsonl")
    res = cli("verify", data, *options, "--engine", "ray", "--jobs", "2", "-o", tmp_path / "ray.jsonl")
    assert (ref.returncode, res.returncode) == (1, 1), res.stderr
    local = (tmp_path / "local.jsonl").read_text()
    assert (tmp_path / "ray.jsonl").read_text() == local
    records = {json.loads(line)["path"].rsplit("/", 1)[-1]: json.loads(line) for line in local.splitlines()}
    assert records["free.jpg"]["decision"] == "keep"
    assert "conflicts with the signed manifest" in records["signed.jpg"]["reasons"][0]["message"]


def test_signals_read_on_the_fast_path_are_those_of_one_process(tmp_path: Path) -> None:
    """With worker processes, unsigned JPEGs are settled (signals included) by the coordinator's prescan,
    without the engine: the records are those of a single process, item for item."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    (folder / "a-signals.jpg").write_bytes(image_with_xmp("jpeg", EVERYTHING))
    (folder / "b-none.jpg").write_bytes(image_with_xmp("jpeg", packet("<dc:title>x</dc:title>")))
    (folder / "c-plain.jpg").write_bytes(image_with_xmp("jpeg", None))
    (folder / "d-optin.jpg").write_bytes(
        image_with_xmp("jpeg", packet(f"<plus:DataMining>{PLUS}DMI-ALLOWED</plus:DataMining>"))
    )
    items = [Item(key=p.name, path=str(p)) for p in sorted(folder.iterdir())]
    single = [r.to_dict() for r in verify_items(items, KEEP_UNSIGNED, jobs=1)]
    with BulkVerifier(KEEP_UNSIGNED, jobs=2) as bulk:
        pooled = [r.to_dict() for r in bulk.run(items)]
        assert bulk.prescanned == 4 and bulk.engine_reads == 0
    assert pooled == single
    assert [r["decision"] for r in pooled] == ["drop", "keep", "keep", "keep"]  # an opt-in never drops
    assert [d["name"] for d in pooled[0]["declared"]] == [name for name, _ in EVERYTHING_SAYS]


def test_an_unreadable_sidecar_opts_out_of_every_use(tmp_path: Path) -> None:
    """A source that could not read a sidecar says so (``sources.base.SidecarValue``, name ``sidecar``):
    what it declared is unknown, so the file is dropped for every purpose, never kept as if it said nothing."""
    from rightsmark.sources.base import UNREADABLE

    path = tmp_path / "a.jpg"
    path.write_bytes(image_with_xmp("jpeg", None))
    note = SidecarValue(UNREADABLE, "unreadable: not JSON", SignalSource.SIDECAR, "sidecar a.json")
    for purpose in Purpose:
        record = one([Item(key="a.jpg", path=str(path), sidecar=(note,))], Policy(keep_absent=True, purpose=purpose))
        assert record.decision is Decision.DROP
        assert codes(record) == ["declared-opt-out"]
        assert "unreadable: not JSON" in record.reasons[0].message


def test_a_property_stated_twice_is_judged_on_every_statement(tmp_path: Path) -> None:
    """XMP may spread a property over several descriptions: a later opt-out is not hidden by an earlier opt-in."""
    two = packet(
        f"<plus:DataMining>{PLUS}DMI-PROHIBITED</plus:DataMining>", f'plus:DataMining="{PLUS}DMI-ALLOWED"'
    ).replace(b"</rdf:RDF>", f'<rdf:Description rdf:about="" {NS[2]}><plus:DataMining>{PLUS}DMI-PROHIBITED'
              "</plus:DataMining></rdf:Description></rdf:RDF>".encode())  # fmt: skip
    path = tmp_path / "a.jpg"
    path.write_bytes(image_with_xmp("jpeg", two))
    record = one([Item(key="a.jpg", path=str(path))], Policy(keep_absent=True, keep_declared_allowed=True))
    assert codes(record) == ["declared-opt-out"]
    assert ("plus:DataMining", PLUS + "DMI-PROHIBITED") in declared(record)


def test_only_rightsmarks_own_mirror_is_discounted_beside_a_valid_manifest() -> None:
    """A signed manifest's metadata repeating an opt-out does not make the opt-out disappear: only the
    DataMining code rightsmark writes for the signed permissions, and statements that restrict nothing, go."""
    from rightsmark.rights import signals
    from rightsmark.rights.signals_xmp import unmirrored

    def xmp_signal(name: str, value: str) -> DeclaredSignal:
        return signals.declare(name, value, SignalSource.XMP, "the XMP packet")

    mirror = PLUS + "DMI-ALLOWED"
    own = xmp_signal("plus:DataMining", mirror)
    reserved = xmp_signal("tdm:reservation", "1")
    prohibited = xmp_signal("plus:DataMining", PLUS + "DMI-PROHIBITED")
    license_ = xmp_signal("cc:license", "https://creativecommons.org/licenses/by/4.0/")
    assert unmirrored((own, reserved, prohibited, license_), mirror) == (reserved, prohibited)


def _png_with_itxt_xmp(text: bytes, *, compressed: bool) -> bytes:
    """A PNG whose XMP iTXt chunk holds ``text`` as given (zlib data when ``compressed``), before IEND."""
    import struct
    import zlib

    base = image_with_xmp("png", None)
    body = b"XML:com.adobe.xmp\x00" + bytes([1 if compressed else 0, 0]) + b"\x00\x00" + text
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    end = base.rindex(b"IEND") - 4
    return base[:end] + chunk + base[end:]


def test_an_xmp_packet_that_cannot_be_read_opts_out_of_every_use(tmp_path: Path) -> None:
    """A PNG whose XMP chunk is there but cannot be read (its compressed text does not inflate, or inflates
    past 16 MiB, or is cut short) declares an opt-out of every use, as an unreadable sidecar does: it is
    dropped even under a policy that keeps files without a manifest. A readable compressed packet is read,
    and a PNG without one is kept."""
    import zlib

    opt_out = packet(f"<plus:DataMining>{PLUS}DMI-PROHIBITED</plus:DataMining>")
    cases = {
        "garbled.png": _png_with_itxt_xmp(b"\x78\x9c not zlib at all", compressed=True),
        "bomb.png": _png_with_itxt_xmp(zlib.compress(b" " * (17 << 20), 9), compressed=True),
        "cut.png": _png_with_itxt_xmp(zlib.compress(opt_out)[:-12], compressed=True),
        "readable.png": _png_with_itxt_xmp(zlib.compress(opt_out), compressed=True),
        "none.png": image_with_xmp("png", None),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    items = [Item(key=name, path=str(tmp_path / name)) for name in cases]
    records = {r.path: r for r in verify_items(items, KEEP_UNSIGNED, jobs=1)}
    for name in ("garbled.png", "bomb.png", "cut.png"):
        record = records[name]
        assert record.decision is Decision.DROP, name
        assert [r.code for r in record.reasons] == ["declared-opt-out"], name
        assert {d.value for d in record.declared} == {"(unreadable)"}, name
        assert all("cannot be read" in d.where for d in record.declared), name
    assert records["readable.png"].decision is Decision.DROP
    assert [d.value for d in records["readable.png"].declared] == [f"{PLUS}DMI-PROHIBITED"]
    assert records["none.png"].decision is Decision.KEEP and records["none.png"].declared == ()
