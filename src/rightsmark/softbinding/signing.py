"""The soft bindings a file gets at signing: an optional watermark first, then the fingerprint.

The watermark changes the pixels, so it is applied before anything else and the fingerprint is computed on
the marked image; the manifest's hard binding then covers the marked bytes. A watermark the user asked for
and that cannot be applied fails the file (one line, as any signing error); a fingerprint that cannot be
computed (a format decoded nowhere here, such as SVG) is left out with a note, since a soft binding only
ever helps find a manifest again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rightsmark.errors import InputError
from rightsmark.softbinding.model import SoftBinding

#: what ``--soft-binding`` accepts: the fingerprint to record
FINGERPRINTS = ("iscc", "none")


@dataclass(frozen=True)
class Bound:
    """The bytes to sign (marked when a watermark was applied), the bindings to record, and notes."""

    data: bytes
    bindings: tuple[SoftBinding, ...]
    notes: tuple[str, ...] = ()


def bind(data: bytes, fmt_name: str, path: Path, *, fingerprint: bool, watermark: bool) -> Bound:
    """Apply the watermark (``watermark``) and compute the fingerprint (``fingerprint``) of ``data``."""
    bindings: list[SoftBinding] = []
    notes: list[str] = []
    if watermark:
        from rightsmark.softbinding import watermark as marking

        ident = marking.new_ident()
        try:
            data = marking.embed(data, fmt_name, ident)
        except ValueError as exc:
            hint = "sign it without --watermark"
            raise InputError(f"cannot watermark this image: {exc}", path=path, hint=hint) from None
        bindings.append(marking.binding(ident))
    if fingerprint:
        from rightsmark.softbinding.iscc import fingerprint as iscc_fingerprint
        from rightsmark.softbinding.pixels import PixelsError

        try:
            bindings.append(iscc_fingerprint(data))
        except PixelsError as exc:
            notes.append(f"no soft binding recorded ({exc})")
    return Bound(data, tuple(bindings), tuple(notes))
