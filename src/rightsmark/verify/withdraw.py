"""Withdrawing consent: create or extend a signed withdrawal list (``rightsmark consent withdraw``).

The party that holds the model releases writes the list; verifiers and auditors only read it
(:mod:`rightsmark.verify.withdrawals`, which defines the list and its detached signature).
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rightsmark import schemas
from rightsmark.verify.withdrawals import (
    SCHEMA_HINT,
    Withdrawal,
    WithdrawalList,
    WithdrawalListError,
    common_name,
    earlier,
    first_problem,
    format_time,
    parse_list,
    read_file,
    sign_detached,
    signature_path,
    verify_detached,
)

if TYPE_CHECKING:
    from rightsmark.keys.material import SigningMaterial


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place."""
    from rightsmark.files import write_atomic

    write_atomic(path, data, mode)


def _mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


def create_or_extend(
    list_path: str | Path,
    release_ids: Sequence[str],
    material: SigningMaterial,
    *,
    reason: str | None = None,
    when: dt.datetime | None = None,
    issuer: str | None = None,
) -> WithdrawalList:
    """Withdraw ``release_ids``: create the list at ``list_path`` or extend it, and (re-)sign it.

    An existing list must verify against the signer's own chain first: a list whose signature is
    broken, missing or someone else's is refused, never extended (re-signing it would launder an
    edit). Release ids already listed stay once, with the earliest withdrawal time. The list and
    then ``LIST.sig`` are each written atomically. ``issuer`` defaults to the existing list's, else
    the signing certificate's common name. The result's ``added`` names the ids that were new.
    """
    p = Path(list_path)
    wanted = list(dict.fromkeys(release_ids))
    if not wanted:
        raise WithdrawalListError("no release id to withdraw", path=p, hint="name at least one RELEASE_ID")
    for rid in wanted:
        if not rid or len(rid) > 200 or rid != rid.strip():
            raise WithdrawalListError(
                f"'{rid}' is not a release id", path=p, hint="1 to 200 characters, no surrounding spaces"
            )
    if reason is not None and len(reason) > 2000:
        raise WithdrawalListError("--reason is longer than 2000 characters", path=p)
    if p.is_dir():
        raise WithdrawalListError("is a directory, not a withdrawal list", path=p, hint="--list names the JSON file")
    stamp = format_time(when or dt.datetime.now(dt.UTC))

    existing: WithdrawalList | None = None
    if p.exists():
        data = read_file(p, "withdrawal list")
        refuse = "refusing to extend it"
        hint = "sign with the key that signed it, or check the list and move it away to start a new one"
        try:
            verify_detached(
                data, p, list(material.chain), check_certificate=False, anchors_are="the certificate chain given"
            )
            existing = parse_list(data, p)
        except WithdrawalListError as exc:
            raise WithdrawalListError(f"{exc.message}; {refuse}", path=p, hint=hint) from None

    entries = {e.release_id: e for e in existing.entries} if existing else {}
    added: list[str] = []
    for rid in wanted:
        old = entries.get(rid)
        if old is None:
            entries[rid] = Withdrawal(rid, stamp, reason)
            added.append(rid)
        else:
            entries[rid] = Withdrawal(rid, earlier(old.withdrawn_at, stamp), old.reason or reason)
    new_issuer = issuer or (existing.issuer if existing else common_name(material.leaf))
    new_entries = tuple(entries.values())
    if existing is not None and new_entries == existing.entries and new_issuer == existing.issuer:
        return replace(existing, added=())  # nothing changes: the list and its signature stay as they are
    result = WithdrawalList(issuer=new_issuer, updated=stamp, entries=new_entries, added=tuple(added))
    problems = schemas.errors(schemas.WITHDRAWALS, result.to_dict())
    if problems:  # e.g. an --issuer that is empty or too long
        raise WithdrawalListError(f"would not match the schema: {first_problem(problems)}", path=p, hint=SCHEMA_HINT)
    body = result.to_bytes()
    signature = (json.dumps(sign_detached(body, material), indent=2) + "\n").encode("ascii")
    sig_path = signature_path(p)
    try:
        _write_atomic(p, body, _mode(p))
        _write_atomic(sig_path, signature, _mode(sig_path))
    except OSError as exc:
        raise WithdrawalListError(f"cannot write: {exc.strerror or exc}", path=p) from None
    return result
