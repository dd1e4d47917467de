"""Registrations and agent logins kept in a real SQLite file across two StateStores (a restart)."""

from __future__ import annotations

from pbx.sip.registrar import Binding, Registrar, RegistrarSettings
from pbx.sip.transaction import Peer
from pbx.sip.uri import NameAddress
from pbx.store import StateStore
from sdk.database import SqliteDatabase
from sdk.events import AgentStateChanged, RegistrationAdded, RegistrationExpired, RegistrationRefreshed

NOW = 1_800_000_000.0


def binding(extension: str, contact: str, expires_at: float) -> Binding:
    return Binding(aor=f"sip:{extension}@pbx.test", extension=extension, contact=NameAddress.parse(contact),
                   call_id=f"reg-{extension}", cseq=7, expires_at=expires_at, registered_at=NOW,
                   source=Peer("udp", "127.0.0.1", 5070), user_agent="baresip")


def added(b: Binding) -> RegistrationAdded:
    return RegistrationAdded(at=NOW, aor=b.aor, extension=b.extension, contact=str(b.contact), instance=None,
                             expires=int(b.expires_at - NOW), transport="udp", source="127.0.0.1:5070",
                             user_agent=b.user_agent)


async def test_bindings_and_agents_come_back_after_a_restart(tmp_path):
    path = tmp_path / "pbx.sqlite"
    first = Registrar(RegistrarSettings(), "pbx.test")
    store = StateStore(SqliteDatabase(path), first)
    await store.restore(NOW)
    kept_binding = binding("1001", '"Alice" <sip:1001@127.0.0.1:5070;transport=udp>;expires=600', NOW + 600)
    short_binding = binding("1002", "<sip:1002@127.0.0.1:5071>", NOW + 30)
    gone_binding = binding("1003", "<sip:1003@127.0.0.1:5072>", NOW + 600)
    for b in (kept_binding, short_binding, gone_binding):
        first.restore(b, NOW)
        store.on_event(added(b))
    store.on_event(RegistrationRefreshed(at=NOW, aor=kept_binding.aor, extension="1001",
                                         contact=str(kept_binding.contact), expires=600))
    store.on_event(RegistrationExpired(at=NOW, aor=gone_binding.aor, extension="1003",
                                       contact=str(gone_binding.contact)))
    store.on_event(AgentStateChanged(at=NOW, agent="alice", old="logged-out", new="available", reason="*45"))
    store.on_event(AgentStateChanged(at=NOW + 1, agent="alice", old="available", new="paused", reason="lunch"))
    store.on_event(AgentStateChanged(at=NOW, agent="bob", old="logged-out", new="available", reason="*45"))
    store.on_event(AgentStateChanged(at=NOW + 2, agent="bob", old="available", new="logged-out", reason="*46"))
    store.on_event(AgentStateChanged(at=NOW, agent="carol", old="logged-out", new="available", reason="*45"))
    await store.close()
    store.database.close()

    later = NOW + 60  # the 30 s binding has expired meanwhile
    second = Registrar(RegistrarSettings(), "pbx.test")
    store = StateStore(SqliteDatabase(path), second)
    kept = await store.restore(later)
    await store.close()
    store.database.close()

    [restored] = second.all_bindings(later)
    assert restored.contact == kept_binding.contact
    assert (restored.expires_at, restored.source, restored.call_id, restored.cseq) == (
        NOW + 600, Peer("udp", "127.0.0.1", 5070), "reg-1001", 7)
    assert second.next_expiry() == NOW + 600
    assert kept == {"alice": ("paused", "lunch"), "bob": ("logged-out", "*46"), "carol": ("available", "*45")}


async def test_a_stored_binding_that_no_longer_parses_is_skipped(tmp_path):
    path = tmp_path / "pbx.sqlite"
    database = SqliteDatabase(path)
    store = StateStore(database, Registrar(RegistrarSettings(), "pbx.test"))
    await store.restore(NOW)
    await store.close()
    await database.execute("INSERT INTO pbx_registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           ("sip:1001@pbx.test", "<<broken", "1001", "x", 1, NOW + 600, NOW, "udp", "h", 1, None))
    registrar = Registrar(RegistrarSettings(), "pbx.test")
    store = StateStore(database, registrar)
    await store.restore(NOW)
    await store.close()
    database.close()
    assert registrar.all_bindings(NOW) == []
