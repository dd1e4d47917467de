"""Inbound routing: which called numbers run a scenario, join a queue or ring an extension.

Routes come from the config in order; the first whose `match` fits the called number wins.
A match is an exact number ("800"), or an Asterisk-style pattern after an underscore:
X is any digit, Z 1-9, N 2-9, [1-5] a set or range, "." one or more characters and "!" zero
or more ("_0048XXXXXXXXX", "_9."). Extensions and the test extensions route themselves
before these routes are looked at; a `default` route takes numbers nothing else matched.

Pure: strings in, a `Destination` out.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

Kind = Literal["scenario", "queue", "extension"]


class Destination(msgspec.Struct, frozen=True):
    kind: Kind
    name: str
    route: str  # the route's match, for logs and events


_PATTERN_PARTS = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


def compile_match(match: str) -> re.Pattern[str]:
    """A route's match as a regular expression; ValueError names what is wrong with it."""
    if not match.startswith("_"):
        return re.compile(re.escape(match) + r"\Z")
    out = []
    body = match[1:]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "[":
            end = body.find("]", index)
            if end < 0:
                raise ValueError(f"pattern {match!r}: '[' at position {index + 2} is never closed")
            members = body[index + 1 : end]
            if not re.fullmatch(r"(?:[0-9*#](?:-[0-9])?)+", members):
                raise ValueError(f"pattern {match!r}: [{members}] must list digits or ranges like [1-5]")
            out.append(f"[{re.escape(members).replace(chr(92) + '-', '-')}]")
            index = end + 1
            continue
        out.append(_PATTERN_PARTS.get(char.upper(), re.escape(char)))
        index += 1
    return re.compile("".join(out) + r"\Z")


class InboundRoutes:
    def __init__(self, routes: list[tuple[str, Kind, str]], default: tuple[Kind, str] | None = None) -> None:
        self._routes = [(compile_match(match), match, kind, name) for match, kind, name in routes]
        self.default = default

    def __len__(self) -> int:
        return len(self._routes)

    def match(self, number: str) -> Destination | None:
        for pattern, match, kind, name in self._routes:
            if pattern.match(number):
                return Destination(kind, name, match)
        if self.default is not None:
            return Destination(self.default[0], self.default[1], "default")
        return None
