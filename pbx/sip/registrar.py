"""The registrar and location service (RFC 3261 section 10.3, RFC 5626 instance ids).

Pure: `register()` takes an authenticated REGISTER and `now` and returns the
response to send plus the binding changes as events; `expire(now)` removes
bindings whose time ran out. Several bindings per address of record are
kept, each with its Contact text and parameters (+sip.instance, reg-id, q)
exactly as the phone sent them, so that calls can be routed to the
registered Contact URI (baresip registers `1001-0x...@host:port`).

What it does not do: authenticate (digest.py), persist bindings (pbx/store does, from the
events, and hands them back to `restore` at start-up), or decide which extensions exist
(the caller passes an `extension` it has checked).
"""

from __future__ import annotations

import heapq

import msgspec

from sdk.events import Event, RegistrationAdded, RegistrationExpired, RegistrationRefreshed, RegistrationRemoved

from .errors import RemoteProtocolError
from .message import Request
from .syntax import unquote
from .transaction import Peer
from .uri import NameAddress, Uri


class RegistrarSettings(msgspec.Struct, frozen=True):
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    max_bindings: int = 10


class Binding(msgspec.Struct, kw_only=True):
    aor: str
    extension: str
    contact: NameAddress
    call_id: str
    cseq: int
    expires_at: float
    registered_at: float
    source: Peer
    user_agent: str | None

    @property
    def uri(self) -> Uri:
        return self.contact.uri

    @property
    def instance(self) -> str | None:
        value = self.contact.params.get("+sip.instance")
        return unquote(value) if value else None

    @property
    def q(self) -> float:
        try:
            return float(self.contact.params.get("q") or 1.0)
        except ValueError:
            return 1.0

    def expires_in(self, now: float) -> int:
        return max(0, round(self.expires_at - now))

    def contact_for_response(self, now: float) -> str:
        """The Contact value of a 200 OK: the phone's text with the granted expires (10.3 step 8)."""
        params = {name: value for name, value in self.contact.params.items() if name != "expires"}
        params["expires"] = str(self.expires_in(now))
        return str(self.contact.replace(params=params))


class RegisterOutcome(msgspec.Struct, frozen=True):
    status: int
    reason: str
    contacts: list[str] = []
    extra_headers: list[tuple[str, str]] = []
    events: list[Event] = []


class Registrar:
    def __init__(self, settings: RegistrarSettings, domain: str) -> None:
        self.settings = settings
        self.domain = domain
        self._bindings: dict[str, list[Binding]] = {}
        self._expiry_heap: list[tuple[float, str]] = []

    def aor_of(self, extension: str) -> str:
        return f"sip:{extension}@{self.domain}"

    def register(self, request: Request, extension: str, source: Peer, now: float) -> RegisterOutcome:
        """Apply a REGISTER for `extension` (already authenticated and authorized)."""
        try:
            return self._register(request, extension, source, now)
        except RemoteProtocolError as error:
            return RegisterOutcome(error.status, error.reason)

    def _register(self, request: Request, extension: str, source: Peer, now: float) -> RegisterOutcome:
        aor = self.aor_of(extension)
        contacts = request.contacts
        header_expires = request.int_header("Expires")
        call_id, cseq = request.call_id, request.cseq.number
        current = self._bindings.get(aor, [])
        if not contacts:
            # RFC 3261 10.3 step 8: a REGISTER without Contact is a query.
            return self._ok(aor, now, [])
        if any(contact.uri.scheme == "*" for contact in contacts):
            # RFC 3261 10.3 step 6: "*" only alone and with Expires: 0.
            if len(contacts) != 1 or header_expires != 0:
                return RegisterOutcome(400, "Contact '*' needs Expires: 0 and no other Contact")
            if any(binding.call_id == call_id and cseq <= binding.cseq for binding in current):
                return RegisterOutcome(500, "CSeq not higher than the binding's")
            events: list[Event] = [self._removed(binding, "unregistered", now) for binding in current]
            self._bindings.pop(aor, None)
            return self._ok(aor, now, events)
        events = []
        updated = list(current)
        for contact in contacts:
            expires = self._requested_expires(contact, header_expires)
            if 0 < expires < self.settings.min_expires:
                # RFC 3261 10.3 step 7: 423 with Min-Expires.
                return RegisterOutcome(
                    423, "Interval Too Brief", extra_headers=[("Min-Expires", str(self.settings.min_expires))]
                )
            expires = min(expires, self.settings.max_expires)
            existing = self._find(updated, contact)
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                return RegisterOutcome(500, "CSeq not higher than the binding's")
            if expires == 0:
                if existing is not None:
                    updated.remove(existing)
                    events.append(self._removed(existing, "unregistered", now))
                continue
            binding = Binding(
                aor=aor,
                extension=extension,
                contact=contact,
                call_id=call_id,
                cseq=cseq,
                expires_at=now + expires,
                registered_at=existing.registered_at if existing else now,
                source=source,
                user_agent=request.headers.get("User-Agent"),
            )
            if existing is not None:
                updated[updated.index(existing)] = binding
                if existing.uri.equals(binding.uri):
                    events.append(RegistrationRefreshed(
                        at=now, aor=aor, extension=extension, contact=str(contact), expires=expires
                    ))
                else:
                    # RFC 5626 6: same +sip.instance, new Contact: the new binding replaces it.
                    events.append(self._removed(existing, "replaced", now))
                    events.append(self._added(binding, expires, now))
            else:
                if len(updated) >= self.settings.max_bindings:
                    return RegisterOutcome(403, f"At most {self.settings.max_bindings} contacts per extension")
                updated.append(binding)
                events.append(self._added(binding, expires, now))
            heapq.heappush(self._expiry_heap, (binding.expires_at, aor))
        if updated:
            self._bindings[aor] = updated
        else:
            self._bindings.pop(aor, None)
        return self._ok(aor, now, events)

    def _requested_expires(self, contact: NameAddress, header_expires: int | None) -> int:
        # RFC 3261 10.3 step 6: the Contact's expires parameter, else Expires, else our default.
        value = contact.params.get("expires")
        if value is not None:
            if not value.isdigit():
                raise RemoteProtocolError(f"bad expires parameter {value!r} in Contact")
            return int(value)
        if header_expires is not None:
            return header_expires
        return self.settings.default_expires

    @staticmethod
    def _find(bindings: list[Binding], contact: NameAddress) -> Binding | None:
        instance = contact.params.get("+sip.instance")
        for binding in bindings:
            if instance and binding.contact.params.get("+sip.instance") == instance:
                return binding
            if binding.uri.equals(contact.uri):
                return binding
        return None

    def _ok(self, aor: str, now: float, events: list[Event]) -> RegisterOutcome:
        contacts = [binding.contact_for_response(now) for binding in self._bindings.get(aor, [])]
        return RegisterOutcome(200, "OK", contacts, events=events)

    def _added(self, binding: Binding, expires: int, now: float) -> RegistrationAdded:
        return RegistrationAdded(
            at=now,
            aor=binding.aor,
            extension=binding.extension,
            contact=str(binding.contact),
            instance=binding.instance,
            expires=expires,
            transport=binding.source.transport,
            source=f"{binding.source.host}:{binding.source.port}",
            user_agent=binding.user_agent,
        )

    @staticmethod
    def _removed(binding: Binding, reason: str, now: float) -> RegistrationRemoved:
        return RegistrationRemoved(
            at=now, aor=binding.aor, extension=binding.extension, contact=str(binding.contact), reason=reason
        )

    def expire(self, now: float) -> list[Event]:
        """Drop bindings whose expiry has passed (RFC 3261 10.3 step 7)."""
        events: list[Event] = []
        while self._expiry_heap and self._expiry_heap[0][0] <= now:
            _, aor = heapq.heappop(self._expiry_heap)
            bindings = self._bindings.get(aor)
            if not bindings:
                continue
            alive = [binding for binding in bindings if binding.expires_at > now]
            for binding in bindings:
                if binding.expires_at <= now:
                    events.append(RegistrationExpired(
                        at=now, aor=aor, extension=binding.extension, contact=str(binding.contact)
                    ))
            if alive:
                self._bindings[aor] = alive
            else:
                del self._bindings[aor]
        return events

    def restore(self, binding: Binding, now: float) -> bool:
        """Put back a binding kept across a restart; False (ignored) when it has expired or
        its address of record already has it."""
        if binding.expires_at <= now:
            return False
        bindings = self._bindings.setdefault(binding.aor, [])
        if self._find(bindings, binding.contact) is not None or len(bindings) >= self.settings.max_bindings:
            return False
        bindings.append(binding)
        heapq.heappush(self._expiry_heap, (binding.expires_at, binding.aor))
        return True

    def bindings_of(self, aor: str) -> list[Binding]:
        """An address of record's bindings as stored (expired ones not yet swept included)."""
        return list(self._bindings.get(aor, []))

    def adopt(self, aor: str, bindings: list[Binding], now: float) -> list[Event]:
        """Take another worker's bindings of `aor` (after a REGISTER there) as ours, and say
        what changed: the events our own REGISTER would have given."""
        old = self._bindings.get(aor, [])
        events: list[Event] = []
        for binding in bindings:
            existing = self._find(old, binding.contact)
            if existing is None:
                events.append(self._added(binding, binding.expires_in(now), now))
            elif existing.expires_at != binding.expires_at or existing.cseq != binding.cseq:
                events.append(RegistrationRefreshed(at=now, aor=aor, extension=binding.extension,
                                                    contact=str(binding.contact), expires=binding.expires_in(now)))
            heapq.heappush(self._expiry_heap, (binding.expires_at, aor))
        events += [self._removed(binding, "unregistered", now) for binding in old
                   if self._find(bindings, binding.contact) is None]
        if bindings:
            self._bindings[aor] = list(bindings)
        else:
            self._bindings.pop(aor, None)
        return events

    def next_expiry(self) -> float | None:
        return self._expiry_heap[0][0] if self._expiry_heap else None

    def lookup(self, extension: str, now: float) -> list[Binding]:
        """Live bindings of an extension, highest q first (RFC 3261 16.6)."""
        bindings = [b for b in self._bindings.get(self.aor_of(extension), []) if b.expires_at > now]
        return sorted(bindings, key=lambda binding: -binding.q)

    def all_bindings(self, now: float) -> list[Binding]:
        return [b for bindings in self._bindings.values() for b in bindings if b.expires_at > now]

    def __len__(self) -> int:
        return sum(len(bindings) for bindings in self._bindings.values())
