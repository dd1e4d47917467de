"""The CRM plugin's endpoints, served by the PBX under /api/plugins/crm on the admin port.

    GET    /contacts/{number}   the contact store's entry (404 when there is none)
    PUT    /contacts/{number}   add or replace it (a supervisor correcting a name or a VIP flag)
    DELETE /contacts/{number}   forget it (a GDPR request)
    GET    /lookup/{number}     who a call from that number would be found to be: the same
                                connectors in the same order as a call (cached answers included)

Reads are for READERS (admin, supervisor, read-only); changes for SUPERVISORS (admin,
supervisor), and the admin API's audit log records them. Bulk loads stay with `pbx crm import`.
With the contact store off (`contacts.enabled: false`) the contact endpoints answer 404 saying so.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from sdk import CallerInfo
from sdk.admin import READERS, SUPERVISORS, ApiRequest, Endpoint, bad_input, endpoint, not_found

from .contacts import Contact, normalize_number
from .service import CrmService

__all__ = ["ContactChange", "LookupQuery", "endpoints"]

TAGS = ("crm",)
Text = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
MAX_NUMBER = 64


class ContactChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A contact's details as they should be (fields left out are cleared, as a CSV row would)."""

    customer_id: Text | None = None
    name: Text | None = None
    tier: Text | None = None
    language: Annotated[str, Meta(max_length=35, pattern=r"^[A-Za-z0-9-]*$")] | None = None  # BCP 47: fr, en-GB
    vip: bool = False
    preferred_agent: Text | None = None
    fields: Annotated[dict[Annotated[str, Meta(min_length=1, max_length=64)], Text], Meta(max_length=100)] = {}


class LookupQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The number called, for connectors whose answer depends on it (a URL with {callee})."""

    callee: Annotated[Text, Meta(description="the number the caller dialled")] = ""


def _number(request: ApiRequest) -> str:
    number = normalize_number(request.path["number"])
    if not number or len(number) > MAX_NUMBER or not number.isprintable():
        raise bad_input(f"a number is 1 to {MAX_NUMBER} printable characters (spaces, dashes, dots and brackets "
                        "are left out)", "number")
    return number


def endpoints(service: CrmService) -> list[Endpoint]:
    def store_on() -> None:
        if not service.config.contacts.enabled:
            raise not_found("the contact store is off (plugins.crm.config.contacts.enabled: false)")

    @endpoint("GET", "/contacts/{number}", summary="A contact in the contact store", roles=READERS,
              response=Contact, tags=TAGS)
    async def contact(request: ApiRequest) -> Contact:
        """The contact store's entry for a number ("+48 600-100-200" and "+48600100200" are one)."""
        number = _number(request)
        store_on()
        found = await service.contacts.get(number)
        if found is None:
            raise not_found(f"no contact with number {number}", "number")
        return found

    @endpoint("PUT", "/contacts/{number}", summary="Add or replace a contact", roles=SUPERVISORS,
              body=ContactChange, response=Contact, tags=TAGS)
    async def change(request: ApiRequest) -> Contact:
        """The next call from this number finds these details (the IVR's `customer.*`, the VIP
        priority, the preferred agent)."""
        number = _number(request)
        store_on()
        body: ContactChange = request.body
        request.audit(f"contact {number}", vip=body.vip)
        updated = Contact(number=number, **msgspec.structs.asdict(body))
        await service.contacts.put_many([updated])
        return updated

    @endpoint("DELETE", "/contacts/{number}", summary="Forget a contact", roles=SUPERVISORS, response=Contact,
              tags=TAGS)
    async def forget(request: ApiRequest) -> Contact:
        """Removes the number from the contact store; answers what was removed."""
        number = _number(request)
        store_on()
        request.audit(f"contact {number}")
        found = await service.contacts.get(number)
        if found is None or not await service.contacts.delete(number):
            raise not_found(f"no contact with number {number}", "number")
        return found

    @endpoint("GET", "/lookup/{number}", summary="Who a caller would be found to be", roles=READERS,
              query=LookupQuery, response=CallerInfo, tags=TAGS)
    async def lookup(request: ApiRequest) -> CallerInfo:
        """Asks the connectors in the configured order, as a call from this number would."""
        number = _number(request)
        found = await service.find(number, request.query.callee)
        if found is None:
            raise not_found(f"{number} is not known to {[c.name for c in service.connectors]}", "number")
        return found

    return [contact, change, forget, lookup]
