"""From what a CRM knows of a caller (a JSON document, a contact row) to an `sdk.CallerInfo`.

Pure: values in, a CallerInfo (or an error saying which field is wrong and why) out. The CRM
is a peer: a document of the wrong shape is its fault (`CrmAnswerError`), never a crash.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sdk import CallerInfo

from .config import FieldMapping

__all__ = ["CrmAnswerError", "as_flag", "caller_from_document", "caller_info", "screen_fields"]

_TRUE = {"true", "yes", "y", "1", "on", "vip"}
_FALSE = {"false", "no", "n", "0", "off", ""}


class CrmAnswerError(ValueError):
    """The CRM answered something we cannot read (its fault, not ours); the message says what."""


def as_flag(value: Any, what: str = "vip") -> bool:
    """true/false from JSON booleans, 0/1, or words (yes, no, true, false); None is false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise CrmAnswerError(f"{what}: expected true or false, got {value!r}")


def _text(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise CrmAnswerError(f"{what}: expected text, got {type(value).__name__} {value!r}")


def _find(document: Any, path: str) -> Any:
    """The value at a dotted path (`account.manager`), or None when any step is missing."""
    value = document
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def caller_info(source: str, *, customer_id: Any = None, name: Any = None, tier: Any = None, language: Any = None,
                vip: Any = None, preferred_agent: Any = None, fields: dict[str, Any] | None = None,
                vip_priority: int = 0) -> CallerInfo:
    """A CallerInfo from raw values (text checked, vip read as a flag); a VIP gets `vip_priority`."""
    is_vip = as_flag(vip)
    return CallerInfo(
        source=source, customer_id=_text(customer_id, "customer_id"), name=_text(name, "name"),
        tier=_text(tier, "tier"), language=_text(language, "language"), vip=is_vip,
        priority=vip_priority if is_vip else 0, preferred_agent=_text(preferred_agent, "preferred_agent"),
        fields={key: value for key, value in (fields or {}).items() if value is not None},
    )  # fmt: skip


def caller_from_document(document: Any, mapping: FieldMapping, *, source: str = "rest",
                         vip_priority: int = 0) -> CallerInfo | None:
    """The caller a CRM's JSON answer describes: an object, or a list whose first item is one
    (an empty list: unknown caller, None)."""
    if isinstance(document, list):
        if not document:
            return None
        document = document[0]
    if not isinstance(document, dict):
        raise CrmAnswerError(f"expected a JSON object, got {type(document).__name__}")

    def at(path: str | None) -> Any:
        return None if path is None else _find(document, path)

    return caller_info(
        source, customer_id=at(mapping.customer_id), name=at(mapping.name), tier=at(mapping.tier),
        language=at(mapping.language), vip=at(mapping.vip), preferred_agent=at(mapping.preferred_agent),
        fields={name: at(path) for name, path in mapping.extra.items()}, vip_priority=vip_priority,
    )  # fmt: skip


def screen_fields(caller: CallerInfo | None) -> dict[str, str]:
    """What an agent's screen shows beside the name: tier, language, VIP, and every extra field,
    as text (ScreenPop.fields is text only). `found` says whether the caller is known."""
    if caller is None:
        return {"found": "false"}
    shown: dict[str, str] = {"found": "true", "source": caller.source, "vip": "true" if caller.vip else "false"}
    for key, value in (("tier", caller.tier), ("language", caller.language),
                       ("preferred_agent", caller.preferred_agent)):
        if value is not None:
            shown[key] = value
    for key, value in caller.fields.items():
        shown[key] = _shown(value)
    return shown


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, dict, list)) or value is None:
        return msgspec.json.encode(value).decode()  # true, {"a": 1}: as the CRM wrote them
    return str(value)
