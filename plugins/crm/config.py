"""The CRM plugin's configuration: `plugins: {crm: {config: ...}}` in config.yaml, typed.

Every section is a frozen msgspec Struct with `forbid_unknown_fields`, so a typo is an error
naming its `$.path` (and the PBX turns that into file:line). URL templates are checked here,
at start-up: only the placeholders a template may use are accepted, each is URL-quoted when the
template is filled in (`fill`). This module reads no files and opens no connections.
"""

from __future__ import annotations

import string
from typing import Literal
from urllib.parse import quote, urlsplit

import msgspec

__all__ = [
    "AuthHeader", "BreakerConfig", "CacheConfig", "Config", "ContactsConfig", "FieldMapping", "RestConfig",
    "WritebackConfig", "fill",
]  # fmt: skip

LOOKUP_PLACEHOLDERS = frozenset({"caller", "callee"})
WRITEBACK_PLACEHOLDERS = frozenset({"call_id", "caller", "callee", "customer_id"})


def _check_template(template: str, allowed: frozenset[str]) -> None:
    parts = urlsplit(template.replace("{", "").replace("}", ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url {template!r} must start with http:// or https:// and name a host")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ValueError(f"url {template!r}: {error}") from None
    unknown = sorted(names - allowed)
    if unknown:
        raise ValueError(f"url {template!r}: unknown placeholder {{{unknown[0]}}}; "
                         f"use {', '.join('{' + name + '}' for name in sorted(allowed))}")


def fill(template: str, **values: str | None) -> str:
    """The template with each placeholder replaced by its URL-quoted value ("" for None):
    `+48 600` becomes `%2B48%20600`, so a number can never change the URL's shape."""
    return template.format_map({name: quote(value or "", safe="") for name, value in values.items()})


class AuthHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A header sent with every request to the CRM: `{header: Authorization, value: "Bearer ..."}`."""

    value: str
    header: str = "Authorization"


class FieldMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where each CallerInfo field is in the CRM's JSON answer: a key, or a dotted path into nested
    objects (`account.manager`). None leaves that field out. `extra` maps field names of our own
    (they become `customer.<name>` in scenarios and screen pops) to paths in the answer."""

    customer_id: str | None = "id"
    name: str | None = "name"
    tier: str | None = "tier"
    language: str | None = "language"
    vip: str | None = "vip"
    preferred_agent: str | None = "preferred_agent"
    extra: dict[str, str] = {}


class CacheConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Answers (found and unknown alike) are kept `ttl` seconds, at most `size` of them; 0 turns it off."""

    ttl: float = 60.0
    size: int = 10_000

    def __post_init__(self) -> None:
        if self.ttl < 0 or self.size < 0:
            raise ValueError("ttl and size must not be negative")


class BreakerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """After `failures` failed requests in a row the CRM is left alone for `open_seconds`; then one
    trial request decides whether it is back."""

    failures: int = 5
    open_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError("failures must be at least 1")
        if self.open_seconds <= 0:
            raise ValueError("open_seconds must be positive")


class RestConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The CRM's lookup endpoint: GET `url` with {caller} and {callee} filled in. 200 with a JSON
    object (or a list: its first item) is a customer, 404 (or an empty list) an unknown caller,
    anything else a failure. `timeout` should stay below the plugin's own timeout (2 s by
    default) so that a slow CRM counts as a failure here rather than being cut off by the PBX."""

    url: str
    auth: AuthHeader | None = None
    fields: FieldMapping = msgspec.field(default_factory=FieldMapping)
    timeout: float = 1.0
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)

    def __post_init__(self) -> None:
        _check_template(self.url, LOOKUP_PLACEHOLDERS)
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


class ContactsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The built-in contact store (table `crm_contacts` in the PBX database; `pbx crm import`)."""

    enabled: bool = False


class WritebackConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """POST each call's result (JSON, see calls.CallResult) to `url` when the call ends. Without
    its own `auth` it sends the `rest:` one (the same CRM), and its failures count toward the
    same circuit breaker."""

    url: str
    auth: AuthHeader | None = None
    timeout: float = 2.0
    only_identified: bool = False  # true: only calls whose caller was found

    def __post_init__(self) -> None:
        _check_template(self.url, WRITEBACK_PLACEHOLDERS)
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`order` names the connectors asked in turn (registry names: connectors.CONNECTORS); the
    first that knows the caller wins. `vip_priority` is the queue priority a VIP caller gets."""

    rest: RestConfig | None = None
    contacts: ContactsConfig = msgspec.field(default_factory=ContactsConfig)
    order: tuple[Literal["contacts", "rest"], ...] = ("contacts", "rest")
    vip_priority: int = 10
    writeback: WritebackConfig | None = None
    screen_pop: bool = True
