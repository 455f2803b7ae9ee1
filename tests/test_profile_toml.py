"""Signing profiles written by ``rightsmark init`` read back through ``tomllib`` whatever their values hold.

The writer is tomli-w: control characters (U+0000..U+001F, U+007F), quotes, backslashes, newlines,
characters outside the BMP and very long strings come back exactly, in the file and through
:func:`load_profile`; a value that is not Unicode at all is refused with one line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rightsmark.errors import ProfileError
from rightsmark.models import Use
from rightsmark.rights.profile import Profile, load_profile, profile_from_dict, profile_toml, write_profile

from .conftest import one_error_line

Cli = Callable[..., Any]

#: Text that a hand-written TOML writer gets wrong; none holds U+0000, which no command line can carry.
HOSTILE = {
    "delete": "Jane\x7fDoe",
    "C0 controls": "".join(chr(c) for c in range(1, 0x20)),
    "quotes and backslashes": 'Jane "J" O\'Doe \\ C:\\new\\table \\u0041 \\"',
    "newlines": "line one\nline two\r\nline three\r",
    "TOML syntax": 'x"\n[signing]\nkey = "/tmp/evil.key"\n# "',
    "non-BMP": "Jane \U0001f4f7 \U0001d4d0\U00010348 \u200b\u2028\u2029\ufeff",
    "long": '\x7f\U0001f600"\\\n' * 5000,
}


@pytest.mark.parametrize("value", [*HOSTILE.values(), "\x00NUL\x00"], ids=[*HOSTILE, "NUL"])
def test_every_string_field_reads_back_as_written(value: str, tmp_path: Path) -> None:
    component = value.replace("/", "_").replace("\x00", "_")[:200]  # one file name (no path holds NUL)
    profile = Profile(
        name=value,
        authors=(value, "Second"),
        copyright=value,
        license=value,
        constraint_info=value,
        source_type=value,
        consent=tmp_path / component,
        consent_map=Path("/elsewhere") / component,
        key=f"pkcs11:token={value}",
        pkcs11_module=value,
        naming=value,
        no_people=True,
        thumbnail=False,
        xmp=True,
        ai_training=Use.NOT_ALLOWED,
    )
    text = profile_toml(profile, relative_to=tmp_path)
    data = tomllib.loads(text)
    assert data["name"] == value
    assert data["author"] == {"names": [value, "Second"], "copyright": value}
    assert data["rights"] == {
        "license": value,
        "ai_training": "notAllowed",
        "constraint_info": value,
        "source_type": value,
    }
    assert data["people"] == {
        "no_people": True,
        "consent": component,  # below the profile's folder: relative
        "consent_map": str(Path("/elsewhere") / component),
    }
    assert data["signing"] == {"key": f"pkcs11:token={value}", "pkcs11_module": value, "thumbnail": False}
    assert data["output"] == {"naming": value, "xmp": True}
    assert text.startswith("# rightsmark signing profile")
    # and the profile read from it is the one written (templates aside: they are checked, not stored)
    loaded = profile_from_dict({k: v for k, v in data.items() if k != "output"}, base_dir=tmp_path)
    assert (loaded.name, loaded.authors, loaded.license, loaded.pkcs11_module) == (
        value,
        (value, "Second"),
        value,
        value,
    )
    assert loaded.consent == profile.consent


def test_the_layout_keeps_the_header_and_one_table_per_section() -> None:
    text = profile_toml(Profile(name="Studio", authors=("Jane",), no_people=True, tsa="http://tsa.example/"))
    assert text.splitlines() == [
        "# rightsmark signing profile (schemas/profile.schema.json); command-line flags override it",
        'name = "Studio"',
        "",
        "[author]",
        "names = [",
        '    "Jane",',
        "]",
        "",
        "[people]",
        "no_people = true",
        "",
        "[signing]",
        'tsa = "http://tsa.example/"',
    ]
    assert profile_toml(Profile()).splitlines() == [
        "# rightsmark signing profile (schemas/profile.schema.json); command-line flags override it"
    ]


def test_a_value_that_is_not_unicode_is_refused() -> None:
    with pytest.raises(ProfileError) as caught:
        profile_toml(Profile(authors=("Jane", os.fsdecode(b"J\xffne"))))
    assert "author.names is not valid Unicode" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_init_writes_hostile_answers_that_load_back(kind: str, cli: Cli, tmp_path: Path) -> None:
    """Through the real CLI: name, authors, copyright and the development-keys folder (so the key and
    certificate paths) hold the hostile text; the file parses with tomllib and loads as written."""
    value = HOSTILE[kind]
    folder = "keys " + value.replace("/", "_")[:100]  # a file name stays below NAME_MAX
    result = cli(
        "init", "--no-interactive", "--no-people", "--name", value, "--author", value, "--author", "Second",
        "--copyright", value, "--dev-keys", folder, "-o", "studio.toml",
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)
    data = tomllib.loads((tmp_path / "studio.toml").read_text(encoding="utf-8"))
    assert (data["name"], data["author"]["names"], data["author"]["copyright"]) == (value, [value, "Second"], value)
    assert data["signing"] == {"key": f"{folder}/signer.key", "cert": f"{folder}/signer.pem"}
    profile = load_profile(tmp_path / "studio.toml")
    assert (profile.name, profile.authors, profile.copyright) == (value, (value, "Second"), value)
    assert profile.key == str(tmp_path / folder / "signer.key") and Path(profile.key).is_file()


def test_init_refuses_an_undecodable_answer_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("init", "--no-interactive", "--no-people", "--author", os.fsdecode(b"J\xffne"))
    one_error_line(result, "not valid Unicode", "author.names")
    assert not (tmp_path / "rightsmark.toml").exists()
    assert not list(tmp_path.glob("*.part"))


def test_write_profile_refuses_what_would_not_load_back_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "studio" / "rightsmark.toml"
    key = tmp_path / "studio" / "keys" / "signer.key"
    write_profile(path, Profile(authors=("Jane",), no_people=True, key=str(key)))
    written = path.read_bytes()
    loaded = load_profile(path)
    assert loaded.authors == ("Jane",) and loaded.key == str(key)
    assert b'key = "keys/signer.key"' in written  # paths below the profile's folder are written relative to it
    for bad in (Profile(authors=("",)), Profile(copyright=""), Profile(naming="{stem}/{suffix}")):
        with pytest.raises(ProfileError) as caught:
            write_profile(path, bad)
        assert caught.value.path == str(path)
        assert path.read_bytes() == written
