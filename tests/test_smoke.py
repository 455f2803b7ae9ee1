from pathlib import Path

from rightsmark.verify.verifier import Verifier


def test_signed_jpeg_verifies_trusted_and_kept(signed_jpeg: Path, keys) -> None:
    with Verifier([keys.ca]) as v:
        record = v.verify_file(signed_jpeg)
    assert record.integrity.value == "valid"
    assert record.trust.value == "trusted"
    assert record.decision.value == "keep", record.reasons
