"""Lexical helpers shared by the SIP header parsers (RFC 3261 section 25.1).

Splitting on separators that may sit inside quoted strings or angle
brackets, generic-param lists and quoting. Pure string functions; they know
nothing of particular headers. `RecentlyParsed` is the bounded memo the
header parsers keep their recent results in.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from .errors import RemoteProtocolError

# RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")

# Parameter values may also be IPv6 references or quoted strings; host-ish
# values are checked by their consumers.
_WORD_CHARS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+\Z")


# Strings already found to be tokens. Header and parameter names, methods and
# schemes repeat message after message, so most checks are one set lookup.
_KNOWN_TOKENS: set[str] = set()
_KNOWN_TOKENS_LIMIT = 4096


def is_token(text: str) -> bool:
    if text in _KNOWN_TOKENS:
        return True
    if TOKEN.match(text) is None:
        return False
    if len(_KNOWN_TOKENS) < _KNOWN_TOKENS_LIMIT and len(text) <= 32:
        _KNOWN_TOKENS.add(text)
    return True


class RecentlyParsed(OrderedDict):
    """Values parsed from header text, by that text, forgetting the oldest beyond `limit`.

    A call's From, To, Via and URIs come back in every message of its
    transactions and dialog, and URIs without tags (a phone's Contact, the
    Request-URI of an extension) in every call. Only frozen Structs go in,
    whose params dicts nobody changes in place (a change is a `replace`), so
    sharing one between messages is safe; failures are never kept, so a bad
    value raises its error every time. Long texts are not kept, so the
    memory held stays below `limit` times `longest`.
    """

    __slots__ = ("limit", "longest")

    def __init__(self, limit: int, longest: int = 512) -> None:
        super().__init__()
        self.limit = limit
        self.longest = longest

    def parse(self, kind: type, cls: type, text: str):
        """``cls._parse(text)``, remembered by its text when ``cls`` is ``kind`` itself (a
        subclass's parse is its own, and not kept)."""
        if cls is not kind:
            return cls._parse(text)
        value = self.get(text)
        if value is None:
            value = cls._parse(text)
            self.remember(text, value)
        return value

    def remember(self, text: str, value: object) -> None:
        if len(text) > self.longest:
            return
        if len(self) >= self.limit:
            self.popitem(last=False)  # the oldest; a plain dict's next(iter()) walks its deleted slots
        self[text] = value


def lowered(text: str) -> str:
    """`text` in lower case, the same object when it already is: a key kept for a call's life
    (a dialog's tags, a transaction's branch) then shares the string the message holds."""
    lower = text.lower()
    return text if lower == text else lower


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split `text` on `separator`, ignoring separators inside "..." and <...>.

    RFC 3261 7.3.1: a comma-separated list may hold quoted strings and
    name-addrs whose URIs contain commas.
    """
    if '"' not in text and "<" not in text:
        return text.split(separator)  # the common case, at C speed
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    escaped = -1  # index of a character escaped by a quoted-pair
    # Only the characters that change the state matter; the regex finds them at C speed.
    for found in _specials(separator).finditer(text):
        index = found.start()
        if index == escaped:
            continue
        char = text[index]
        if in_quotes:
            if char == "\\":
                escaped = index + 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == separator and not in_angle:
            parts.append(text[start:index])
            start = index + 1
    if in_quotes:
        raise RemoteProtocolError(f"unterminated quoted string in {text!r}")
    parts.append(text[start:])
    return parts


_SPECIALS: dict[str, re.Pattern[str]] = {}


def _specials(separator: str) -> re.Pattern[str]:
    pattern = _SPECIALS.get(separator)
    if pattern is None:
        pattern = _SPECIALS[separator] = re.compile("[" + re.escape('\\"<>' + separator) + "]")
    return pattern


def split_list(value: str) -> list[str]:
    """The elements of a comma-separated header value, stripped, empties dropped."""
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    return [part.strip() for part in split_outside_quotes(value, ",") if part.strip()]


def unquote(text: str) -> str:
    """RFC 3261 25.1 quoted-string to its content (quoted-pair unescaped)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        return re.sub(r"\\(.)", r"\1", inner)
    return text


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str, where: str) -> dict[str, str | None]:
    """`;name=value;flag` into an ordered dict with lower-case names.

    RFC 3261 25.1: generic-param = token [ EQUAL gen-value ] with
    gen-value = token / host / quoted-string. Quoted values keep their
    quotes so that serialization gives back what the peer sent.
    """
    params: dict[str, str | None] = {}
    if not text or not text.strip():
        return params
    known = _KNOWN_TOKENS
    for piece in split_outside_quotes(text, ";"):
        piece = piece.strip()
        if not piece:
            # RFC 3261 25.1: *( SEMI generic-param ); RFC 4475 3.1.2.1 (badinv01) wants a 400.
            raise RemoteProtocolError(f"empty parameter (';;') in {where}")
        name, equals, value = piece.partition("=")
        name = name.strip()
        if name not in known and not is_token(name):
            raise RemoteProtocolError(f"bad parameter name {name!r} in {where}")
        if equals:
            value = value.strip()
            if not value:
                raise RemoteProtocolError(f"parameter {name!r} in {where} has no value")
            if value[0] != '"' and not _WORD_CHARS.match(value):
                raise RemoteProtocolError(f"bad value {value!r} for parameter {name!r} in {where}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params.items())
