"""Chains of custody built for the audit tests: real images, real keys, the real engine.

``build_chain`` makes four generations of one picture in ``DIR/dataset``:

- gen1: signed by ``first`` with the consent of subject-1 (release MR-2026-0042), every AI use not
  allowed, author Jane Doe, CC-BY-NC-4.0;
- gen2: an edit of gen1 (re-encoded with Pillow, a patch of pixels changed), signed by ``first`` with
  gen1 as its parentOf ingredient, same rights;
- gen3: an edit of gen2 signed by ``second`` (another party) with gen2 as parent: ai_training widened
  to allowed, consent dropped (no identifiable people), author Max Mustermann, license CC0-1.0;
- gen4: an edit of gen3 signed by ``first`` again with gen3 as parent, keeping gen3's rights: the
  other party's manifest is now an ancestor.

The unsigned intermediate edits live in ``DIR/work``, so ``DIR/dataset`` holds the four signed files only.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rightsmark.models import Training, Use
from rightsmark.rights.consent import ConsentDeclaration, load_consent_file
from rightsmark.rights.licenses import parse_license
from rightsmark.rights.manifest import Rights
from rightsmark.sign.signer import Signer

from .conftest import EXAMPLE_IMAGES

RELEASE = "MR-2026-0042"
NOTHING_ALLOWED = Training(Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED)
TRAINING_ALLOWED = Training(Use.ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED, Use.NOT_ALLOWED)


def consent_file(path: Path, *, expires: dt.date | None, granted: dt.date | None = None) -> ConsentDeclaration:
    """Write a consent input file for subject-1 and load it as rightsmark does for ``--consent``."""
    granted = granted or dt.date(2026, 1, 1)
    subject: dict[str, object] = {
        "ref": "subject-1",
        "release_id": RELEASE,
        "purposes": {"ai_training": "notAllowed", "ai_inference": "allowed"},
        "commercial": False,
        "granted": granted.isoformat(),
    }
    if expires is not None:
        subject["expires"] = expires.isoformat()
    path.write_text(json.dumps({"subjects": [subject]}), encoding="utf-8")
    return load_consent_file(path)


def edit(source: Path, dest: Path, step: int) -> Path:
    """An edited copy: decoded, a patch of pixels painted, re-encoded as JPEG (no manifest survives)."""
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    x = 10 + 30 * step
    rgb.paste((200, 30 + 40 * step, 60), (x, x, x + 24, x + 24))
    dest.parent.mkdir(parents=True, exist_ok=True)
    rgb.save(dest, "JPEG", quality=90)
    return dest


def people_rights(consent: ConsentDeclaration, **overrides: object) -> Rights:
    base: dict[str, object] = {
        "consent": consent,
        "authors": ("Jane Doe",),
        "license": parse_license("CC-BY-NC-4.0"),
        "training": NOTHING_ALLOWED,
    }
    base.update(overrides)
    return Rights(**base)  # type: ignore[arg-type]


def widened_rights() -> Rights:
    return Rights(
        consent=ConsentDeclaration.no_people(),
        authors=("Max Mustermann",),
        license=parse_license("CC0-1.0"),
        training=TRAINING_ALLOWED,
    )


@dataclass(frozen=True)
class Chain:
    dataset: Path
    gen1: Path
    gen2: Path
    gen3: Path
    gen4: Path


def build_chain(root: Path, first: Signer, second: Signer, *, expires: dt.date | None = None) -> Chain:
    work, dataset = root / "work", root / "dataset"
    work.mkdir(parents=True)
    dataset.mkdir(parents=True)
    consent = consent_file(root / "consent.json", expires=expires or dt.date(2031, 1, 1))
    rights = people_rights(consent)
    original = work / "gen1.jpg"
    shutil.copyfile(EXAMPLE_IMAGES / "harbour.jpg", original)
    gen1, gen2, gen3, gen4 = (dataset / f"gen{i}.jpg" for i in range(1, 5))
    first.sign_file(original, gen1, rights)
    first.sign_file(edit(gen1, work / "gen2.jpg", 1), gen2, rights, parent=gen1)
    second.sign_file(edit(gen2, work / "gen3.jpg", 2), gen3, widened_rights(), parent=gen2)
    first.sign_file(edit(gen3, work / "gen4.jpg", 3), gen4, widened_rights(), parent=gen3)
    return Chain(dataset, gen1, gen2, gen3, gen4)
