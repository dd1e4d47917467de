"""The admin API of the source guard (pbx/sip/guard.py): who is banned, and lifting a ban.

    GET    /api/security/bans            the banned addresses, each with when its ban ends
    DELETE /api/security/bans/{source}   lift one now (a customer's office locked out by a
                                         misconfigured phone): SourceUnbanned on the bus, audited

Bans themselves are made by the PBX (authentication failures), never by hand here.
"""

from __future__ import annotations

import msgspec

from sdk.admin import ADMINS, READERS, ApiRequest, Endpoint, endpoint, not_found

from .context import AdminContext

__all__ = ["security_endpoints"]


class Ban(msgspec.Struct, frozen=True):
    """An address whose requests get no answer until `until` (too many authentication failures)."""

    source: str
    until: float
    seconds_left: float


def security_endpoints(context: AdminContext) -> list[Endpoint]:
    def guard():
        app = context.app
        found = getattr(getattr(app, "endpoint", None), "guard", None)
        if found is None:
            raise not_found("this PBX runs no source guard")
        return found

    @endpoint("GET", "/api/security/bans", summary="The banned source addresses", roles=READERS,
              response=list[Ban], tags=("security",))
    async def bans(request: ApiRequest) -> list[Ban]:
        now = context.clock()
        return [Ban(source, until, round(until - now, 3))
                for source, until in sorted(guard().banned().items()) if until > now]

    @endpoint("DELETE", "/api/security/bans/{source}", summary="Lift a ban now", roles=ADMINS, response=Ban,
              tags=("security",))
    async def lift(request: ApiRequest) -> Ban:
        """The address is answered again at once and its past failures are forgotten."""
        source, now = request.path["source"], context.clock()
        current = guard().banned().get(source)
        request.audit(f"source {source}")
        if current is None or current <= now:
            raise not_found(f"{source} is not banned", "source")
        for event in guard().lift(source, now):
            context.app.bus.publish(event)
        return Ban(source, current, 0.0)

    return [bans, lift]
