"""HTTP Structured Fields (RFC 9651): the Dictionary parser the ``Content-Usage`` header needs.

Hand-written, because no library in the dependencies parses Structured Fields and the grammar is short;
it follows RFC 9651 section 4.2 (Parsing Structured Fields) step by step: every item type is checked, so a
header that is not a valid Dictionary is refused as a whole (:class:`FieldsError`), as the AI-preferences
draft requires. Only what a reader of preferences needs comes out: each member's key and, when its value is
a Token, the token; every member, in order, even a repeated key (RFC 9651 keeps the last; a reader that
fails closed wants to see them all).
"""

from __future__ import annotations

import string

_LCALPHA = frozenset(string.ascii_lowercase)
_DIGIT = frozenset(string.digits)
_ALPHA = frozenset(string.ascii_letters)
_KEY_FIRST = _LCALPHA | {"*"}
_KEY = _LCALPHA | _DIGIT | frozenset("_-.*")
_TCHAR = _ALPHA | _DIGIT | frozenset("!#$%&'*+-.^_`|~")
_TOKEN = _TCHAR | frozenset(":/")
_BASE64 = _ALPHA | _DIGIT | frozenset("+/=")
_LCHEX = _DIGIT | frozenset("abcdef")
_OWS = " \t"


class FieldsError(ValueError):
    """The text is not a valid Structured Fields Dictionary (the message says where)."""


class _Input:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise FieldsError("ends too early")
        self.at += 1
        return char

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.at += 1

    def fail(self, what: str) -> FieldsError:
        return FieldsError(f"{what} at character {self.at + 1}")


def _key(src: _Input) -> str:
    if src.peek() not in _KEY_FIRST:
        raise src.fail("a key must start with a lower-case letter or '*'")
    start = src.at
    while src.peek() in _KEY:
        src.at += 1
    return src.text[start : src.at]


def _number(src: _Input) -> None:
    if src.peek() == "-":
        src.take()
    if src.peek() not in _DIGIT:
        raise src.fail("a number needs a digit")
    digits, decimal, fraction = 0, False, 0
    while src.peek() in _DIGIT or (src.peek() == "." and not decimal):
        if src.take() == ".":
            if digits > 12:
                raise src.fail("a decimal has at most 12 integer digits")
            decimal = True
        elif decimal:
            fraction += 1
        else:
            digits += 1
    if (not decimal and digits > 15) or (decimal and (fraction == 0 or fraction > 3)):
        raise src.fail("a number out of range")


def _quoted(src: _Input, display: bool = False) -> None:
    src.take()  # the opening quote
    while True:
        char = src.take()
        if ord(char) < 0x20 or ord(char) >= 0x7F:
            raise src.fail("a character a string cannot hold")
        if char == '"':
            return
        if char == "\\" and not display and src.take() not in '"\\':
            raise src.fail("a bad escape in a string")
        if char == "%" and display and (src.take() not in _LCHEX or src.take() not in _LCHEX):
            raise src.fail("a bad percent-escape in a display string")


def _bare_item(src: _Input) -> str | None:
    """Parse one bare item; the token when it is a Token, else None."""
    char = src.peek()
    if char == "-" or char in _DIGIT:
        _number(src)
    elif char == '"':
        _quoted(src)
    elif char in _ALPHA or char == "*":
        start = src.at
        while src.peek() in _TOKEN:
            src.at += 1
        return src.text[start : src.at]
    elif char == ":":
        src.take()
        while src.peek() in _BASE64:
            src.at += 1
        if src.take() != ":":
            raise src.fail("a byte sequence must end with ':'")
    elif char == "?":
        src.take()
        if src.take() not in "01":
            raise src.fail("a boolean is ?0 or ?1")
    elif char == "@":
        src.take()
        start = src.at
        _number(src)
        if "." in src.text[start : src.at]:
            raise src.fail("a date is an integer")
    elif char == "%":
        src.take()
        if src.peek() != '"':
            raise src.fail('a display string starts with %"')
        _quoted(src, display=True)
    else:
        raise src.fail("not an item")
    return None


def _parameters(src: _Input) -> None:
    while src.peek() == ";":
        src.take()
        src.skip(" ")
        _key(src)
        if src.peek() == "=":
            src.take()
            _bare_item(src)


def _item_or_inner_list(src: _Input) -> str | None:
    if src.peek() != "(":
        token = _bare_item(src)
        _parameters(src)
        return token
    src.take()
    while True:
        src.skip(" ")
        if src.peek() == ")":
            src.take()
            _parameters(src)
            return None
        _bare_item(src)
        _parameters(src)
        if src.peek() not in (" ", ")"):
            raise src.fail("an inner list's items are separated by spaces and end with ')'")


def dictionary_members(text: str) -> list[tuple[str, str | None]]:
    """Each member of the Structured Fields Dictionary ``text`` as ``(key, token)`` (``token`` None when the
    value is not a Token: a string, a number, a boolean, an inner list ...); raises :class:`FieldsError`."""
    src = _Input(text)
    src.skip(" ")
    members: list[tuple[str, str | None]] = []
    while src.peek():
        key = _key(src)
        if src.peek() == "=":
            src.take()
            token = _item_or_inner_list(src)
        else:
            token = None  # a bare key is the Boolean true
            _parameters(src)
        members.append((key, token))
        src.skip(_OWS)
        if not src.peek():
            return members
        if src.take() != ",":
            raise src.fail("members are separated by ','")
        src.skip(_OWS)
        if not src.peek():
            raise src.fail("a trailing ','")
    return members
