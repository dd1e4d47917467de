"""plugins/dialer/store.py on both backends (the `database` fixture: SQLite and PostgreSQL):
campaigns, leads with their due times, DNC scopes and the attempt log, and a report folded from it."""

from __future__ import annotations

import msgspec

from plugins.dialer.config import CampaignSpec
from plugins.dialer.leads import read_leads
from plugins.dialer.report import build_report
from plugins.dialer.store import GLOBAL, Attempt, DialerStore

NOW = 1_800_000_000.0


async def test_the_store_keeps_campaigns_leads_dnc_and_attempts(database):
    store = DialerStore(database)
    assert await store.migrate() == 1
    spec = CampaignSpec(id="spring", queue="sales", connect_to="700", priority=3)
    await store.save_campaign(spec, "paused", "api", NOW)
    assert await store.campaigns() == [(spec, "paused", "api")]

    leads = read_leads("spring", "phone,id,priority,plan\n+48600100200,a,1,gold\n+48600100201,b,5,\n"
                       "+48600100202,c,,\n", now=NOW).leads
    assert await store.add_leads(leads) == 3
    assert await store.add_leads(leads[:1]) == 0  # already there: left as it is
    assert [lead.id for lead in await store.due_leads("spring", NOW, 10)] == ["b", "a", "c"]
    retried = msgspec.structs.replace(leads[1], next_at=NOW + 600, attempts=1, last_outcome="busy")
    await store.save_lead(retried)
    assert [lead.id for lead in await store.due_leads("spring", NOW, 10)] == ["a", "c"]
    assert await store.lead("spring", "b") == retried
    assert (await store.lead("spring", "a")).fields == {"plan": "gold"}
    await store.save_lead(leads[2], due=NOW + 3600)  # a closed window: not a candidate before it opens
    assert [lead.id for lead in await store.due_leads("spring", NOW + 601, 10)] == ["b", "a"]
    assert await store.lead_counts("spring") == {"pending": 3}

    await store.add_dnc(["+48600100200"], GLOBAL, NOW)
    await store.add_dnc(["+48600100201", "+48600100201"], "spring", NOW)
    assert await store.dnc_scope("+48600100200", "spring") == "global"
    assert await store.dnc_scope("+48600100201", "spring") == "campaign"
    assert await store.dnc_scope("+48600100201", "autumn") is None
    assert await store.remove_dnc("+48600100201", "spring") and await store.dnc_numbers("spring") == []

    await store.save_attempt(Attempt(call_id="c1", campaign="spring", lead="a", phone="+48600100200", started_at=NOW))
    assert await store.set_disposition("c1", "sale")
    await store.save_attempt(Attempt(call_id="c1", campaign="spring", lead="a", phone="+48600100200", started_at=NOW,
                                     answered_at=NOW + 5, ended_at=NOW + 95, outcome="contact", agent="1001",
                                     talk_seconds=90.0))
    await store.save_attempt(Attempt(call_id="c2", campaign="spring", lead="b", phone="+48600100201",
                                     started_at=NOW + 3600, answered_at=NOW + 3605, ended_at=NOW + 3615,
                                     outcome="abandoned", abandoned=True))
    await store.save_attempt(Attempt(call_id="c3", campaign="spring", lead="c", phone="+48600100202",
                                     started_at=NOW + 3700, ended_at=NOW + 3703, outcome="busy"))
    attempts = await store.attempts("spring", NOW, NOW + 7200)
    assert [(a.call_id, a.outcome, a.disposition, a.abandoned) for a in attempts] == [
        ("c1", "contact", "sale", False), ("c2", "abandoned", None, True), ("c3", "busy", None, False)]
    report = build_report(attempts, campaign="spring", since=NOW, until=NOW + 7200, right_party=spec.right_party,
                          conversion=spec.conversion, time_zone="Europe/Warsaw")
    total = report.total
    assert (total.attempts, total.live_answers, total.contacts, total.right_party_contacts, total.conversions,
            total.abandoned, total.busy, total.abandonment_rate, total.conversion_rate) == (3, 2, 1, 1, 1, 1, 1, 0.5, 1.0)
    assert [row.key for row in report.hours] == ["2027-01-15 09:00", "2027-01-15 10:00"]
    assert [(row.key, row.figures.contacts) for row in report.agents] == [("1001", 1)]
