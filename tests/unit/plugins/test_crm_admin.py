"""The CRM plugin's admin endpoints, served by the admin API's gate under /api/plugins/crm
(tests/unit/plugins/admin_app.py), over the real contact store in the harness's database:
a contact shown, changed and forgotten (supervisors and admins only, audited), a lookup through
the connectors, numbers and bodies refused with a 400 naming the field."""

from __future__ import annotations

from plugins import crm
from plugins.crm.contacts import Contact, ContactStore
from tests.unit.plugins.admin_app import serving

CARLA = {"number": "1008", "customer_id": None, "name": "Carla", "tier": "silver", "language": None, "vip": False,
         "preferred_agent": None, "fields": {}}


async def test_a_contact_is_shown_changed_looked_up_and_forgotten(pbx_harness):
    async with pbx_harness(crm, config={"contacts": {"enabled": True}}) as pbx:
        store = ContactStore(pbx.api().database)
        await store.put_many([Contact(number="1008", name="Carla", tier="silver")])
        async with serving("crm", crm.pbx_admin_routes(pbx.api())) as api:
            assert await (await api.get("/contacts/1008")).json() == CARLA
            assert await (await api.get("/contacts/(10) 08", role="supervisor")).json() == CARLA  # one number
            missing = await api.get("/contacts/1009")
            assert missing.status == 404 and await missing.json() == {
                "code": "not_found", "message": "no contact with number 1009", "field": "number"}

            change = {"name": "Carla Vance", "tier": "gold", "vip": True, "language": "fr",
                      "fields": {"account_manager": "Bob"}}
            refused = await api.put("/contacts/1008", role="read-only", json=change)
            assert refused.status == 403
            changed = await api.put("/contacts/+48 600-100-200", role="supervisor", json=change)
            assert changed.status == 200 and (await changed.json())["number"] == "+48600100200"
            stored = await store.get("+48600100200")
            assert (stored.name, stored.tier, stored.vip, stored.fields) == ("Carla Vance", "gold", True,
                                                                            {"account_manager": "Bob"})
            found = await (await api.get("/lookup/+48600100200?callee=800")).json()
            assert (found["source"], found["name"], found["vip"]) == ("contacts", "Carla Vance", True)
            assert found["priority"] > 0  # a VIP is served first
            assert (await api.get("/lookup/555")).status == 404

            forgotten = await api.delete("/contacts/1008", role="supervisor")
            assert forgotten.status == 200 and (await forgotten.json())["name"] == "Carla"
            assert await store.get("1008") is None
            assert (await api.delete("/contacts/1008")).status == 404
            assert [(record.actor, record.action.split()[0], record.target, record.status)
                    for record in api.audit.records] == [
                ("rita", "PUT", "/api/plugins/crm/contacts/1008", 403),
                ("sue", "PUT", "contact +48600100200", 200),
                ("sue", "DELETE", "contact 1008", 200), ("ada", "DELETE", "contact 1008", 404)]


async def test_bad_numbers_and_bodies_are_a_400_naming_the_field(pbx_harness):
    async with pbx_harness(crm, config={"contacts": {"enabled": True}}) as pbx:
        async with serving("crm", crm.pbx_admin_routes(pbx.api())) as api:
            for path in ("/contacts/%20-.()", "/contacts/" + "9" * 65, "/lookup/%01"):
                answer = await api.get(path)
                assert answer.status == 400 and (await answer.json())["field"] == "number", path
            for body, field in [({"vip": "yes"}, "body.vip"), ({"nickname": "C"}, "body.nickname"),
                                ({"language": "fr FR"}, "body.language"), ({"name": "\x00"}, "body.name")]:
                answer = await api.put("/contacts/1008", json=body)
                assert answer.status == 400 and (await answer.json())["field"] == field, body
            assert (await api.get("/lookup/1008?colour=red")).status == 400


async def test_with_the_contact_store_off_the_contact_endpoints_say_so(pbx_harness):
    async with pbx_harness(crm, config={"contacts": {"enabled": False}}) as pbx:
        async with serving("crm", crm.pbx_admin_routes(pbx.api())) as api:
            answer = await api.get("/contacts/1008")
            assert answer.status == 404 and "contact store is off" in (await answer.json())["message"]
            assert (await api.put("/contacts/1008", json={"name": "X"})).status == 404
