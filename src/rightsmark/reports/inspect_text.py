"""The text ``rightsmark inspect`` prints: every manifest of a file, its rights and its soft bindings."""

from __future__ import annotations

from typing import Any

from rightsmark.reports.formats import declared_text, safe_lines
from rightsmark.verify.recovered import how as matched


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items() if x is not None)
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return str(v)


def inspect_text(info: dict[str, Any]) -> str:
    lines = [
        f"{info['path']}",
        f"  integrity {info['integrity']} · trust {info['trust']} · decision {info['decision']}",
    ]
    for r in info["reasons"]:
        lines.append(f"  - {r['code']}: {r['message']}")
    if "trust_sources" in info:
        used = ", ".join(f"{t['name']} ({t['role']}, sha256 {t['sha256'][:12]})" for t in info["trust_sources"])
        lines.append(f"  trust rests on {used or 'nothing: no trust list and no anchors'}")
    if info.get("error"):
        lines.append(f"  error: {info['error']}")
    if info.get("remote_manifest"):
        lines.append(f"  remote manifest: {info['remote_manifest']} (not fetched)")
    for signal in info.get("declared") or ():
        lines.append(f"  declared {declared_text(signal)}")
    if not info["manifests"]:
        lines.append("  no manifest to show")
    for m in info["manifests"]:
        lines.append("")
        lines.extend(_manifest_lines(m, "active manifest" if m.get("active") else "manifest"))
    recovered = info.get("recovered")
    if recovered:
        lines.append("")
        lines.extend(_recovered_lines(recovered))
    return safe_lines(lines)


def _manifest_lines(m: dict[str, Any], tag: str) -> list[str]:
    """One manifest as ``inspect`` prints it: signer, tool, actions, rights, consent, soft bindings, ingredients."""
    from rightsmark.rights.consent import subject_entries

    lines = [f"  {tag} {m['label']}"]
    s = m.get("signer") or {}
    lines.append(f"    signed by     {s.get('common_name')} (issuer {s.get('issuer')}, {s.get('algorithm')})")
    lines.append(f"    signed at     {s.get('time') or 'no trusted time (not timestamped)'}")
    lines.append(f"    tool          {m.get('claim_generator') or 'unknown'}")
    if m.get("title"):
        lines.append(f"    title         {m['title']}")
    for a in m["actions"]:
        lines.append(
            f"    action        {a.get('action')}"
            + (f" ({a['digitalSourceType'].rsplit('/', 1)[-1]})" if a.get("digitalSourceType") else "")
        )
    lines.append(f"    author        {', '.join(m['author']) or 'not recorded'}")
    if m.get("copyright"):
        lines.append(f"    copyright     {m['copyright']}")
    lic = m.get("license")
    lic_text = " ".join(x for x in (lic.get("id"), lic.get("url")) if x) if lic else "not recorded"
    lines.append(f"    license       {lic_text}")
    for k, v in m["training"].items():
        lines.append(f"    {k:<24}{v}" if k != "constraint_info" else f"    constraints   {v}")
    consent = m.get("consent")
    if consent is None:
        lines.append("    consent       not recorded")
    elif isinstance(consent, dict) and not consent.get("identifiable_people"):
        lines.append("    consent       no identifiable people (declared by the signer)")
    elif subject_entries(consent) is None:
        lines.append("    consent       malformed (not a list of subjects): no consent can be read from it")
    else:
        for subj in subject_entries(consent) or ():
            purposes = _value(subj.get("purposes", {}))
            period = f"{subj.get('granted')} to {subj.get('expires') or 'no expiry'}"
            lines.append(
                f"    consent       {subj.get('ref')}: release {subj.get('release_id')}, {period}, {purposes},"
                f" commercial {subj.get('commercial')}"
            )
    for b in m.get("soft_bindings") or ():
        lines.append(f"    soft binding  {b['alg']} {b['display']}")
    for ing in m["ingredients"]:
        status = "valid" if not ing["validation_failures"] else "FAILS: " + ", ".join(ing["validation_failures"])
        lines.append(f"    ingredient    {ing.get('relationship')} {ing.get('title')} ({status})")
    return lines


def _recovered_lines(recovered: dict[str, Any]) -> list[str]:
    """What ``inspect --recover`` found: the problem, nothing, or each recovered manifest, marked as such."""
    where = recovered["repository"]
    if recovered.get("problem"):
        code, message = recovered["problem"]
        return [f"  RECOVERY FAILED ({code}) in {where}: {message}"]
    if not recovered["matches"]:
        return [f"  recovered: no manifest in {where} matches this file's soft bindings"]
    lines: list[str] = []
    for match in recovered["matches"]:
        how = matched(match["method"], match["distance"])
        lines.append(f"  RECOVERED through a soft binding, not embedded in this file: from {where} ({how})")
        lines.extend(_manifest_lines(match["manifest"], "recovered manifest"))
    return lines
