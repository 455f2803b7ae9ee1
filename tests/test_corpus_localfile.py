"""Every real C2PA file of ../shared/corpus judged where it lies (the engine reading the file itself, Python
only a JPEG's header) gets exactly the facts its bytes get, with and without trust anchors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rightsmark.engine.reading import LocalFile
from rightsmark.media.formats import jpeg_scan_start, sniff
from rightsmark.models import Integrity
from rightsmark.trust.sources import TrustSources, resolve
from rightsmark.verify.localfile import read_local
from rightsmark.verify.reader import FactReader

pytestmark = pytest.mark.corpus


def _anchors(corpus: Path, tmp_path: Path) -> TrustSources:
    """The fixtures' own roots (c2pa-rs test roots, c2pa-python test anchors): some corpus files are trusted."""
    settings = json.loads((corpus / "trust" / "c2pa-python_trust_config_test_settings.json").read_text())
    pem = (corpus / "trust" / "c2pa-rs_test_cert_root_bundle.pem").read_text() + settings["trust"]["trust_anchors"]
    (tmp_path / "anchors.pem").write_text(pem)
    return resolve([], anchors=[tmp_path / "anchors.pem"])


@pytest.mark.parametrize("trusting", [False, True], ids=["no-anchors", "fixture-anchors"])
def test_every_corpus_file_read_in_place_gives_the_facts_of_its_bytes(
    corpus: Path, tmp_path: Path, trusting: bool
) -> None:
    files = sorted(p for p in (corpus / "files").rglob("*") if p.is_file())
    assert len(files) == 118
    reader = FactReader(_anchors(corpus, tmp_path) if trusting else None, fingerprints=trusting)
    engine_read = 0
    outcomes = set()
    try:
        for path in files:
            name = str(path.relative_to(corpus / "files"))
            data = path.read_bytes()
            expected = reader.read(data, name)
            outcomes.add((expected.integrity, expected.trusted))
            assert read_local(reader, name, str(path), whole_bytes=0) == expected, name
            assert read_local(reader, name, str(path)) == expected, name
            fmt = sniff(data[:64], name)
            start = jpeg_scan_start(data) if fmt is not None and fmt.name == "jpeg" else None
            if isinstance(start, int):  # the engine path itself, given no more than the header
                fd = os.open(path, os.O_RDONLY)
                try:
                    in_place = reader.examine_local(LocalFile(fd, len(data)), data[:start], name)[0]
                finally:
                    os.close(fd)
                assert in_place == reader.examine(data, name)[0], name
                engine_read += 1
    finally:
        reader.close()
    assert engine_read >= 80  # the corpus is mostly JPEG
    assert {Integrity.VALID, Integrity.INVALID, Integrity.ABSENT, Integrity.ERROR} <= {i for i, _ in outcomes}
    assert ((Integrity.VALID, True) in outcomes) is trusting
