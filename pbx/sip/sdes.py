"""SDES: SRTP master keys carried in SDP a=crypto lines (RFC 4568).

`CryptoAttribute.parse` reads the value of one ``a=crypto`` line::

    <tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>][;inline:...] [<session-params>]

and `str()` writes it back. `choose` picks the first offered line we can use,
`fresh_crypto` makes the answerer's own key with the same tag and suite
(RFC 4568 7.1.2). Only the two AES counter-mode suites libsrtp shares with
every SIP phone are usable: AES_CM_128_HMAC_SHA1_80 and _32 (RFC 4568 6.2).

It deliberately does not do the SRTP transform (pbx/media/srtp.py, via
libsrtp), MKI on the wire, several keys per line, or session parameters that
change the transform (UNENCRYPTED_SRTP, KDR, ...): lines that ask for them
are readable but not usable, so `choose` passes over them.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

import msgspec

from .sdp import SdpError

__all__ = ["SUITES", "CryptoAttribute", "KeyParameter", "SdesError", "Suite", "choose", "fresh_crypto"]


class SdesError(SdpError):
    """A peer's a=crypto line is malformed (RFC 4568 9.1 grammar); names the part that is wrong."""


class Suite(msgspec.Struct, frozen=True):
    """A crypto-suite (RFC 4568 6.2): master key and salt lengths in bytes, SRTP auth tag in bits."""

    name: str
    key_length: int
    salt_length: int
    tag_bits: int


SUITES: dict[str, Suite] = {
    "AES_CM_128_HMAC_SHA1_80": Suite("AES_CM_128_HMAC_SHA1_80", 16, 14, 80),  # RFC 4568 6.2.1
    "AES_CM_128_HMAC_SHA1_32": Suite("AES_CM_128_HMAC_SHA1_32", 16, 14, 32),  # RFC 4568 6.2.2
}
# RFC 4568 6.3.7: a session parameter starting with "-" may be ignored by one who does not know it.
_IGNORABLE_PREFIX = "-"


class KeyParameter(msgspec.Struct, frozen=True):
    """One ``inline:`` key-param (RFC 4568 6.1): master key and salt, lifetime in packets, MKI."""

    key: bytes
    salt: bytes
    lifetime: int | None = None
    mki: tuple[int, int] | None = None  # (value, length in bytes)

    def __str__(self) -> str:
        text = "inline:" + base64.b64encode(self.key + self.salt).decode("ascii")
        if self.lifetime is not None:
            exponent = self.lifetime.bit_length() - 1
            is_power = self.lifetime == 1 << exponent
            text += f"|2^{exponent}" if is_power else f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return text


class CryptoAttribute(msgspec.Struct, frozen=True):
    """The value of one a=crypto line (RFC 4568 9.1)."""

    tag: int
    suite: str
    keys: list[KeyParameter]
    session_parameters: list[str] = []

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        parts = value.split()
        if len(parts) < 3:
            raise SdesError(f"a=crypto:{value[:60]} needs '<tag> <crypto-suite> inline:<key||salt>' "
                            "(RFC 4568 9.1)")
        tag_text, suite_name, key_text, *session = parts
        # RFC 4568 9.1: tag = 1*9DIGIT
        if not (tag_text.isascii() and tag_text.isdigit()) or len(tag_text) > 9:
            raise SdesError(f"a=crypto tag {tag_text[:20]!r} is not 1 to 9 digits (RFC 4568 9.1)")
        suite = SUITES.get(suite_name)
        keys = [_parse_key(text, suite) for text in key_text.split(";")]
        return cls(int(tag_text), suite_name, keys, session)

    def __str__(self) -> str:
        keys = ";".join(str(key) for key in self.keys)
        return " ".join([str(self.tag), self.suite, keys, *self.session_parameters])

    @property
    def unusable_because(self) -> str | None:
        """Why we cannot use this line, or None when we can."""
        if self.suite not in SUITES:
            return f"crypto-suite {self.suite} is not one of {', '.join(SUITES)}"
        if len(self.keys) != 1 or self.keys[0].mki is not None:
            return "several keys or an MKI (RFC 4568 6.1) are not supported"
        needed = [p for p in self.session_parameters if not p.startswith(_IGNORABLE_PREFIX)]
        if needed:
            return f"session parameter {needed[0]} is not supported"
        return None

    @property
    def key_and_salt(self) -> bytes:
        """The concatenated master key and salt, as libsrtp takes them."""
        return self.keys[0].key + self.keys[0].salt


def choose(offered: list[str]) -> CryptoAttribute | None:
    """The first a=crypto value we can use, in the offerer's order of preference (RFC 4568 7.1.2);
    lines that are malformed or ask for what we do not support are passed over."""
    for value in offered:
        try:
            crypto = CryptoAttribute.parse(value)
        except SdesError:
            continue
        if crypto.unusable_because is None:
            return crypto
    return None


def fresh_crypto(tag: int, suite: str, random_bytes: Callable[[int], bytes] = os.urandom) -> CryptoAttribute:
    """Our own master key and salt for `suite` under `tag`: a new one for each offer or answer,
    never the peer's (RFC 4568 6.1: each direction has its own key)."""
    known = SUITES.get(suite)
    if known is None:
        raise ValueError(f"unknown crypto-suite {suite!r}; known: {', '.join(SUITES)}")
    material = random_bytes(known.key_length + known.salt_length)
    return CryptoAttribute(tag, suite, [KeyParameter(material[:known.key_length], material[known.key_length:])])


def _parse_key(text: str, suite: Suite | None) -> KeyParameter:
    method, colon, info = text.partition(":")
    if not colon or method != "inline":
        raise SdesError(f"a=crypto key {text[:20]!r} must start 'inline:' (RFC 4568 6.1)")
    material_text, *extras = info.split("|")
    try:
        material = base64.b64decode(material_text, validate=True)
    except (binascii.Error, ValueError):
        raise SdesError(f"a=crypto key {material_text[:40]!r} is not valid base64 (RFC 4568 6.1)") from None
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    for extra in extras:
        if ":" in extra:  # RFC 4568 9.1: mki = mki-value ":" mki-length
            value, _, length = extra.partition(":")
            if not (value.isdigit() and length.isdigit() and 1 <= int(length) <= 128):
                raise SdesError(f"a=crypto MKI {extra!r} must be '<value>:<length 1-128>' (RFC 4568 6.1)")
            mki = (int(value), int(length))
        elif extra.startswith("2^") and extra[2:].isdigit() and int(extra[2:]) <= 64:
            lifetime = 1 << int(extra[2:])
        elif extra.isdigit() and len(extra) <= 20:
            lifetime = int(extra)
        else:
            raise SdesError(f"a=crypto lifetime {extra[:20]!r} must be a number or 2^<n> (RFC 4568 6.1)")
    if suite is not None and len(material) != suite.key_length + suite.salt_length:
        raise SdesError(f"{suite.name} needs a {suite.key_length}-byte key and {suite.salt_length}-byte salt "
                        f"({suite.key_length + suite.salt_length} bytes), got {len(material)} (RFC 4568 6.2)")
    split = suite.key_length if suite is not None else len(material)
    return KeyParameter(material[:split], material[split:], lifetime, mki)
