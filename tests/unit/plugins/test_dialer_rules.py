"""The dialer's pure rules: calling windows across time zones and DST, retries, max attempts, the
72 h no-redial, the explanation naming the rule for each held lead, and the lead CSV's errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from plugins.dialer.config import CampaignSpec, Config, Retry, Window, parse_duration
from plugins.dialer.leads import Lead, read_leads, read_numbers
from plugins.dialer.rules import CONTACT, Facts, after_attempt, explain
from plugins.dialer.windows import is_open, opens_at
from sdk import PluginConfigError, decode_plugin_config
import plugins.dialer as dialer

WEEKDAYS = Window(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="20:00")
SPEC = CampaignSpec(id="spring", queue="sales", connect_to="700", windows=[WEEKDAYS], max_attempts=3,
                    retry={"busy": Retry(after="10m", times=2), "no-answer": Retry(after="2h", times=1)})


def at(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def lead(**fields) -> Lead:
    return Lead(**{"campaign": "spring", "id": "l1", "phone": "+48600100200", "time_zones": ["Europe/Warsaw"],
                   "zone_source": "file", **fields})


def test_a_window_is_the_lead_s_local_time_not_the_pbx_s():
    # 08:30 UTC on a Monday in January: 09:30 in Warsaw (open), 03:30 in New York (closed).
    now = at("2027-01-18T08:30", "UTC")
    assert is_open([WEEKDAYS], ["Europe/Warsaw"], now)
    assert not is_open([WEEKDAYS], ["America/New_York"], now)
    assert opens_at([WEEKDAYS], ["America/New_York"], now) == at("2027-01-18T09:00", "America/New_York")


def test_windows_follow_daylight_saving_time():
    # Warsaw moves to summer time on 2027-03-28 (a Sunday): 09:00 local is 08:00 UTC before, 07:00 after.
    before, after = at("2027-03-26T08:30", "UTC"), at("2027-03-29T07:30", "UTC")
    assert is_open([WEEKDAYS], ["Europe/Warsaw"], before)  # Friday 09:30 CET
    assert is_open([WEEKDAYS], ["Europe/Warsaw"], after)  # Monday 09:30 CEST
    assert not is_open([WEEKDAYS], ["Europe/Warsaw"], at("2027-03-29T06:30", "UTC"))  # 08:30 CEST
    # Friday evening 20:00 CET closes; the next opening is Monday 09:00 CEST, across the change.
    assert opens_at([WEEKDAYS], ["Europe/Warsaw"], at("2027-03-26T19:30", "UTC")) == at("2027-03-29T07:00", "UTC")


def test_a_lead_in_several_zones_is_called_only_when_all_are_open():
    zones = ["America/New_York", "America/Los_Angeles"]
    ten_in_new_york = at("2027-01-18T10:00", "America/New_York")  # 07:00 in Los Angeles
    assert not is_open([WEEKDAYS], zones, ten_in_new_york)
    assert opens_at([WEEKDAYS], zones, ten_in_new_york) == at("2027-01-18T09:00", "America/Los_Angeles")


def test_the_explanation_names_the_rule_that_holds_each_lead():
    now = at("2027-01-18T10:00", "Europe/Warsaw")  # Monday, open
    def rule(held: Lead, **facts) -> tuple[str, float | None]:
        verdict = explain(held, SPEC, Facts(**facts), now)
        assert verdict.dialable == (verdict.rule == "ready")
        return verdict.rule, verdict.until

    assert rule(lead()) == ("ready", None)
    assert rule(lead(), dnc="global") == ("dnc", None)
    assert rule(lead(), campaign_state="paused") == ("campaign-paused", None)
    assert rule(lead(), campaign_state="stopped") == ("campaign-stopped", None)
    assert rule(lead(status="dialing")) == ("in-progress", None)
    assert rule(lead(status="done", last_outcome=CONTACT)) == ("finished", None)
    assert rule(lead(attempts=3)) == ("max-attempts", None)
    assert rule(lead(abandoned_at=now - 3600)) == ("abandoned-72h", now - 3600 + 72 * 3600)
    assert rule(lead(callback_at=now + 600)) == ("callback-later", now + 600)
    assert rule(lead(next_at=now + 60, last_outcome="busy")) == ("retry-delay", now + 60)
    saturday = at("2027-01-23T10:00", "Europe/Warsaw")
    verdict = explain(lead(), SPEC, Facts(), saturday)
    assert (verdict.rule, verdict.until) == ("outside-window", at("2027-01-25T09:00", "Europe/Warsaw"))
    assert "Sat 10:00 Europe/Warsaw" in verdict.message
    assert rule(lead(), cap_reached="4 abandoned of 100") == ("abandonment-cap", None)


def test_retries_follow_the_rule_of_each_outcome_then_the_lead_is_finished():
    now = 1_800_000_000.0
    first = after_attempt(lead(attempts=1), "busy", SPEC, now)
    assert (first.status, first.next_at, first.outcome_counts) == ("pending", now + 600, {"busy": 1})
    second = after_attempt(msgspec.structs.replace(first, attempts=2), "busy", SPEC, now + 700)
    assert (second.status, second.next_at) == ("pending", now + 1300)
    third = after_attempt(msgspec.structs.replace(second, attempts=3), "busy", SPEC, now + 1400)
    assert third.status == "done"  # three busies: the rule allows two retries (and max_attempts is 3)
    no_answer = after_attempt(lead(attempts=1), "no-answer", SPEC, now)
    assert no_answer.next_at == now + 7200
    assert after_attempt(no_answer, "no-answer", SPEC, now + 7200).status == "done"  # times: 1
    assert after_attempt(lead(attempts=1), CONTACT, SPEC, now).status == "done"
    # max_attempts ends the lead whatever its retry rule says
    assert after_attempt(lead(attempts=3), "failed", SPEC, now).status == "done"


def test_an_abandoned_call_is_never_retried_within_72_hours():
    spec = msgspec.structs.replace(SPEC, retry={"abandoned": Retry(after="1h", times=3)})
    now = 1_800_000_000.0
    abandoned = after_attempt(lead(attempts=1), "abandoned", spec, now)
    assert abandoned.abandoned_at == now and abandoned.next_at == now + 72 * 3600
    monday = at("2027-01-18T10:00", "Europe/Warsaw")
    verdict = explain(msgspec.structs.replace(abandoned, next_at=None, abandoned_at=monday - 71 * 3600), spec,
                      Facts(), monday)
    assert verdict.rule == "abandoned-72h"


def test_the_config_refuses_a_ring_under_15_seconds_and_bad_windows():
    with pytest.raises(PluginConfigError, match="ring_timeout 10 s is under the 15 s minimum ring"):
        decode_plugin_config(dialer, {"campaigns": [{"id": "x", "connect_to": "700", "ring_timeout": 10}]},
                             where="plugins.dialer")
    with pytest.raises(PluginConfigError, match="start must be before end"):
        decode_plugin_config(dialer, {"campaigns": [{"id": "x", "connect_to": "700", "windows": [
            {"start": "20:00", "end": "09:00"}]}]}, where="plugins.dialer")
    with pytest.raises(PluginConfigError, match="needs `queue:`"):
        decode_plugin_config(dialer, {"campaigns": [{"id": "x", "connect_to": "700", "mode": "predictive"}]},
                             where="plugins.dialer")
    with pytest.raises(PluginConfigError, match=r"unknown field `retyr`"):
        decode_plugin_config(dialer, {"campaigns": [{"id": "x", "connect_to": "700", "retyr": {}}]},
                             where="plugins.dialer")
    config = decode_plugin_config(dialer, {"campaigns": [{"id": "x", "connect_to": "700"}]}, where="plugins.dialer")
    assert isinstance(config, Config) and config.campaigns[0].ring_timeout == 20
    assert parse_duration("1h30m") == 5400 and parse_duration(90) == 90


def test_lead_csv_keeps_custom_fields_derives_time_zones_and_reports_bad_lines():
    text = ("phone,id,time_zone,priority,name,plan\n"
            "+48 600-100-200,a,,,Anna,gold\n"            # line 2: zone from +48
            "+1 212 555 0100,b,America/New_York,5,Bob,\n"  # line 3: zone from the file
            "+1 415 555 0100,c,,,Cy,\n"                  # line 4: +1 spans zones: all of them
            "600100200,d,,,Dee,\n"                       # line 5: no country code
            "+48600100201,e,Mars/Olympus,,Eve,\n"        # line 6: unknown zone
            "+999123456789,f,,,Fay,\n"                   # line 7: country code not in the table
            "+48600100200,g,,,Anna again,\n"             # line 8: duplicate phone
            "+48600100202,a,,,dup id,\n"                 # line 9: duplicate id
            "+48600100203,h,,high,,\n")                  # line 10: bad priority
    result = read_leads("spring", text, now=5.0)
    assert [item.id for item in result.leads] == ["a", "b", "c"]
    anna, bob, cy = result.leads
    assert (anna.phone, anna.time_zones, anna.zone_source) == ("+48600100200", ["Europe/Warsaw"], "country code +48")
    assert anna.fields == {"name": "Anna", "plan": "gold"}
    assert (bob.time_zones, bob.zone_source, bob.priority) == (["America/New_York"], "file", 5)
    assert "America/Los_Angeles" in cy.time_zones and cy.zone_source == "country code +1"
    assert [(error.line, error.message.split(" ")[0]) for error in result.errors] == [
        (5, "phone"), (6, "time_zone"), (7, "no"), (8, "phone"), (9, "id"), (10, "priority")]
    assert result.errors[0].where("leads.csv").startswith("leads.csv:5: phone '600100200' has no country code")
    assert read_leads("spring", "name\nAnna\n", now=0).errors[0].message.startswith("the header has no `phone`")


def test_dnc_csv_numbers_are_normalised_with_line_errors():
    numbers, errors = read_numbers("phone\n+48 600 100 200\n0048600100201\nnonsense\n")
    assert numbers == ["+48600100200", "+48600100201"]
    assert [(error.line, "E.164" in error.message or "country code" in error.message) for error in errors] == [(4, True)]
