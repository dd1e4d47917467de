"""SIP header fields: an ordered, case-insensitive multimap, and their names.

RFC 3261 7.3 (header fields) and 20 (the fields we know): names compare
case-insensitively and compact forms (RFC 3261 7.3.3 and later RFCs) stand
for their long names; list headers (RFC 3261 7.3.1) split on commas when
asked. Values stay strings as the peer wrote them; typed views (Via, CSeq,
name-addrs) are message.py's.

What it does not do: parse header lines out of bytes (message.py does), or
check a value's grammar.
"""

from __future__ import annotations

from typing import Iterator

from .syntax import split_list

__all__ = ["CANONICAL", "COMPACT_FORMS", "LIST_HEADERS", "Headers", "canonical_name"]

# RFC 3261 7.3.3 plus the compact forms later RFCs registered (RFC 3265 o/u, RFC 3515 r,
# RFC 3892 b, RFC 4028 x, RFC 3841 a/j/d, RFC 4474 y/n).
COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "o": "Event", "u": "Allow-Events", "r": "Refer-To", "b": "Referred-By",
    "x": "Session-Expires", "a": "Accept-Contact", "j": "Reject-Contact",
    "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}  # fmt: skip

_CANONICAL_NAMES = [
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition",
    "Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date",
    "Error-Info", "Event", "Expires", "From", "In-Reply-To", "Max-Forwards", "Min-Expires",
    "MIME-Version", "Min-SE", "Organization", "P-Asserted-Identity", "Path", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route",
    "Refer-To", "Referred-By", "Replaces", "Reply-To", "Require", "Retry-After", "Route", "RSeq",
    "Server", "Service-Route", "Session-Expires", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]  # fmt: skip
CANONICAL = {name.lower(): name for name in _CANONICAL_NAMES}
CANONICAL.update(COMPACT_FORMS)

# RFC 3261 7.3.1: only headers whose grammar is a comma-separated list may be
# split on commas; WWW-Authenticate and friends have commas inside one value.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info", "In-Reply-To",
        "Path", "Proxy-Require", "Reason", "Record-Route", "Require", "Route", "Service-Route",
        "Supported", "Unsupported", "Via", "Warning", "P-Asserted-Identity",
    )
)  # fmt: skip


def canonical_name(name: str) -> str:
    return _name_key(name)[1]


# Header names as written -> (lower-case key, canonical name). Phones repeat the
# same few dozen names, so this saves a lower() and a lookup per header.
_NAME_CACHE: dict[str, tuple[str, str]] = {}


def _name_key(name: str) -> tuple[str, str]:
    cached = _NAME_CACHE.get(name)
    if cached is None:
        canonical = CANONICAL.get(name.lower(), name)
        cached = (canonical.lower(), canonical)
        if len(_NAME_CACHE) < 4096:
            _NAME_CACHE[name] = cached
    return cached


class Headers:
    """An ordered, case-insensitive multimap of header fields.

    Names are stored in their canonical form (compact forms expanded);
    values as the peer wrote them (folding joined by one space).
    """

    __slots__ = ("_fields", "version", "_index", "_views")

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        cache = _NAME_CACHE
        self._fields: list[tuple[str, str, str]] = (
            [(*(cache.get(name) or _name_key(name)), value) for name, value in fields] if fields else []
        )
        # Bumped by every change.
        self.version = 0
        # Lower-case name -> values, built on the first read and kept up to date after it.
        # Tuples, not lists: most names have one value, and a tuple of one is the smaller.
        self._index: dict[str, tuple[str, ...]] | None = None
        # Typed values parsed from one header each (Message._view), by that header's
        # lower-case name: a change to the header drops its value.
        self._views: dict[str, object] | None = None

    @classmethod
    def _of_fields(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """Headers from (lower-case key, canonical name, value) triples, as the parser makes them."""
        headers = cls.__new__(cls)
        headers._fields = fields
        headers.version = 0
        headers._index = headers._views = None
        return headers

    def _values(self) -> dict[str, tuple[str, ...]]:
        index: dict[str, tuple[str, ...]] = {}
        for key, _, value in self._fields:
            found = index.get(key)
            index[key] = (value,) if found is None else (*found, value)
        self._index = index
        return index

    def _changed(self, key: str) -> None:
        self.version += 1
        if self._views:
            self._views.pop(key, None)

    def add(self, name: str, value: str) -> None:
        key, name = _NAME_CACHE.get(name) or _name_key(name)
        self._fields.append((key, name, value))
        self.version += 1
        if self._views:
            self._views.pop(key, None)
        index = self._index
        if index is not None:
            found = index.get(key)
            index[key] = (value,) if found is None else (*found, value)

    def prepend(self, name: str, value: str) -> None:
        key, name = _name_key(name)
        self._fields.insert(0, (key, name, value))
        self._changed(key)
        if self._index is not None:
            self._index[key] = (value, *self._index.get(key, ()))

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one, kept where the first one was."""
        key, name = _NAME_CACHE.get(name) or _name_key(name)
        self._changed(key)
        if self._index is not None:
            self._index[key] = (value,)
        fields = self._fields
        for index, field in enumerate(fields):
            if field[0] == key:
                fields[index] = (key, name, value)
                if len(fields) - 1 > index and any(f[0] == key for f in fields[index + 1 :]):
                    self._fields = [f for i, f in enumerate(fields) if f[0] != key or i == index]
                return
        fields.append((key, name, value))

    def remove(self, name: str) -> None:
        key = _name_key(name)[0]
        self._fields = [field for field in self._fields if field[0] != key]
        self._changed(key)
        if self._index is not None:
            self._index.pop(key, None)

    def get(self, name: str) -> str | None:
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        return found[0] if found else None

    def lines(self, name: str) -> list[str]:
        """Each field line called `name`, unsplit."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        return list(found) if found else []

    def _lines(self, name: str) -> tuple[str, ...] | None:
        """`lines(name)` without the copy, None for none: for readers in this module."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        return (self._index or self._values()).get(key)

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, list headers split on commas (RFC 3261 7.3.1)."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        if not found:
            return []
        if key not in LIST_HEADERS:
            return list(found)
        values: list[str] = []
        for line in found:
            values.extend(split_list(line))
        return values

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((field[1], field[2]) for field in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def copy(self) -> Headers:
        copied = Headers()
        copied._fields = list(self._fields)
        if self._views:
            copied._views = dict(self._views)  # immutable values of the same fields
        return copied

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
