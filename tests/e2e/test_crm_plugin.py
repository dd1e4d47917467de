"""The CRM plugin on a real PBX: the example CRM (examples/crm_server.py) as a subprocess, Python
UAC callers (tests/e2e/acd/callers.py) dialling an IVR that greets them by name and queues them,
and a baresip agent (auto-answer), all on 127.0.0.1.

- A VIP (1007, Victoria Vance in examples/crm_customers.json) who calls while a known caller
  (1004) and an unknown one (1006) already wait joins the queue at position 1 with the VIP
  priority, gets the agent first (who gets a ScreenPop with her record), and hears "Hello
  Victoria Vance." (checked against espeak-ng's rendering of that phrase, made here, in the
  audio the caller received). The unknown caller routes normally: `customer.found` is false in
  the scenario, priority 0, served in turn. The CRM receives every call's result (writeback).
- The CRM frozen mid-test (SIGSTOP: it accepts connections and never answers): the next call
  waits no longer than the REST timeout, the circuit opens after two failures and is logged
  once, later calls route at once; the CRM thawed, a trial lookup closes the circuit again.
- Contacts imported with `pbx crm import` while the PBX runs (a bad row reported by line) are
  found before the CRM is asked, and shown on the admin API (/api/plugins/crm/contacts/...).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error

import pytest

from .acd import CallerThread, acd_pbx, agent_sequence, count_events, timed_events, wait_count
from .calls.audio import best_match
from .calls.fixtures import bus_events, call_pbx, phones, wait_bus_event, wait_idle  # noqa: F401 - fixtures
from .crm import CrmServer, heard, spoken
from .harness import REPO_ROOT

pytestmark = pytest.mark.e2e

TOKEN = "e2e-token"
VIP_PRIORITY = 10
GREETING = "Welcome to support."
LINE = f"""scenario "CRM line"
end

block start
  answer
  if customer.found
    disposition "known customer"
    say "Hello {{customer.name}}."
  else
    disposition "new caller"
    say "{GREETING}"
  end
  queue support
  on failure
    disposition "left the queue"
    hangup
  end
end
"""


@pytest.fixture
def crm_server(tmp_path, ports):
    server = CrmServer(tmp_path / "crm", ports.port(), token=TOKEN)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def crm_pbx(start, tmp_path, server: CrmServer, *, rest: dict | None = None, writeback: dict | None = None,
            contacts: bool = False, **queue):
    """A PBX (``start`` is the call_pbx fixture) with the crm plugin against ``server``, agent 1001 as
    the only member of queue support, and the LINE scenario on 800."""
    config = {
        "contacts": {"enabled": contacts},
        "rest": {"url": server.url + "/customers?phone={caller}", "auth": {"value": f"Bearer {TOKEN}"},
                 "fields": {"extra": {"manager": "account.manager"}}, **(rest or {})},
        "writeback": {"url": server.url + "/calls", **(writeback or {})},
        "vip_priority": VIP_PRIORITY,
    }

    def with_plugin(**overrides):
        return start(data_dir=str(tmp_path / "var"), plugins={"crm": {"timeout": 2, "config": config}},
                     **overrides)

    return acd_pbx(with_plugin, tmp_path, agents=("1001",), scenario=LINE, **queue)


def joined(pbx, caller_number: str) -> dict[str, str]:
    return wait_bus_event(pbx, "QueueJoined", timeout=10, caller_number=caller_number)


@pytest.mark.timeout(150)
def test_a_vip_jumps_the_queue_hears_their_name_and_the_agent_gets_their_record(
        tmp_path, call_pbx, phones, crm_server):  # noqa: F811
    pbx = crm_pbx(call_pbx, tmp_path, crm_server, wrap_up=0)  # 1001 is not logged in yet: callers wait
    with CallerThread(pbx.sip_address, "1004") as bob, CallerThread(pbx.sip_address, "1006") as stranger, \
            CallerThread(pbx.sip_address, "1007") as victoria:
        bob_call = bob.dial("800")
        bob_joined = joined(pbx, "1004")
        stranger_call = stranger.dial("800")
        stranger_joined = joined(pbx, "1006")
        victoria_call = victoria.dial("800")
        victoria_joined = joined(pbx, "1007")
        assert (bob_joined["position"], bob_joined["priority"]) == ("1", "0"), bob_joined
        assert (stranger_joined["position"], stranger_joined["priority"]) == ("2", "0"), stranger_joined
        # The host adds 1 for `vip` on top of CallerInfo.priority (pbx/plugin_host.py PluginHost.lookup).
        assert victoria_joined["position"] == "1" and int(victoria_joined["priority"]) >= VIP_PRIORITY, \
            victoria_joined
        identified = wait_bus_event(pbx, "CallerIdentified", timeout=5, call_id=victoria_joined["call_id"])
        assert (identified["source"], identified["customer_id"], identified["vip"]) == ("rest", "C-1007", "True")
        assert not [event for event in bus_events(pbx, "CallerIdentified") if event["caller"] == "1006"]

        agent = phones("agent1001", "1001", pbx)  # registering logs the static agent in
        first = wait_bus_event(pbx, "AgentConnected", timeout=10, agent="1001")
        assert first["call_id"] == victoria_joined["call_id"], (first, victoria_joined)
        pop = wait_bus_event(pbx, "ScreenPop", timeout=5, call_id=first["call_id"])
        assert (pop["agent"], pop["customer_id"], pop["name"], pop["caller"]) == \
            ("1001", "C-1007", "Victoria Vance", "1007"), pop
        heard_by = {"1007": heard(victoria, victoria_call), "1004": heard(bob, bob_call),
                    "1006": heard(stranger, stranger_call)}
        for caller, call in ((victoria, victoria_call), (bob, bob_call), (stranger, stranger_call)):
            before = len(bus_events(pbx, "AgentConnected"))
            caller.hangup(call)
            if before < 3:
                wait_count(pbx, "AgentConnected", before + 1, timeout=10)
        agent.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=10)

    assert agent_sequence(pbx) == ["1001"] * 3
    served = [event["call_id"] for event in bus_events(pbx, "AgentConnected")]
    assert served == [victoria_joined["call_id"], bob_joined["call_id"], stranger_joined["call_id"]]
    dispositions = {event["call_id"]: event["value"] for event in bus_events(pbx, "CallDisposition")}
    assert dispositions[stranger_joined["call_id"]] == "new caller"  # customer.found was false
    assert dispositions[victoria_joined["call_id"]] == "known customer"

    # What each caller heard: their own greeting, clearly, and not another caller's.
    phrases = {"1007": "Hello Victoria Vance.", "1004": "Hello Bob Brown.", "1006": GREETING}
    rendered = {number: spoken(tmp_path / "spoken", text) for number, text in phrases.items()}
    scores = {(listener, number): best_match(rendered[number], heard_by[listener])[0]
              for listener in phrases for number in phrases}
    print("greeting correlation (listener, phrase):", {key: round(value, 2) for key, value in scores.items()})
    for listener in phrases:
        own = scores[(listener, listener)]
        others = max(scores[(listener, number)] for number in phrases if number != listener)
        assert own > 0.8 and own > others + 0.2, (listener, scores)

    results = crm_server.wait_calls(3)
    by_call = {result["call_id"]: result for result in results}
    vip = by_call[victoria_joined["call_id"]]
    assert (vip["caller"], vip["found"], vip["customer_id"], vip["source"]) == ("1007", True, "C-1007", "rest")
    assert (vip["dispositions"], vip["agent"], vip["queue"], vip["answered"]) == \
        (["known customer"], "1001", "support", True)
    assert vip["agent_seconds"] > 0 and vip["talk_seconds"] > vip["agent_seconds"]
    unknown = by_call[stranger_joined["call_id"]]
    assert (unknown["found"], unknown["customer_id"], unknown["dispositions"]) == (False, None, ["new caller"])
    assert not bus_events(pbx, "PluginFailed")


OPEN_SECONDS = 8


@pytest.mark.timeout(150)
def test_a_frozen_crm_costs_one_timeout_then_the_circuit_opens_once_and_closes_when_it_is_back(
        tmp_path, call_pbx, phones, crm_server):  # noqa: F811
    rest = {"timeout": 0.5, "cache": {"ttl": 0}, "breaker": {"failures": 2, "open_seconds": OPEN_SECONDS}}
    pbx = crm_pbx(call_pbx, tmp_path, crm_server, rest=rest, writeback={"timeout": 0.5}, wrap_up=0)
    agent = phones("agent1001", "1001", pbx)
    wait_bus_event(pbx, "AgentStateChanged", timeout=8, agent="1001", new="available")

    def one_call(caller: CallerThread) -> str:
        """Dial the IVR, wait for the agent, hang up, wait until the agent is available; the call id."""
        connected_before = len(bus_events(pbx, "AgentConnected"))
        call = caller.dial("800")
        connected = wait_count(pbx, "AgentConnected", connected_before + 1, timeout=10)[connected_before]
        available = count_events(pbx, "AgentStateChanged", agent="1001", new="available")
        caller.hangup(call)
        wait_count(pbx, "AgentStateChanged", available + 1, timeout=10, agent="1001", new="available")
        return connected["call_id"]

    with CallerThread(pbx.sip_address, "1007") as victoria, CallerThread(pbx.sip_address, "1004") as bob:
        up = one_call(victoria)
        assert [result["call_id"] for result in crm_server.wait_calls(1)] == [up]  # its writeback is done
        crm_server.pause()
        frozen = one_call(bob)  # its lookup times out (failure 1), then its writeback (failure 2): open
        wait_bus_event(pbx, "crm_circuit_opened", timeout=5)
        while_open = [one_call(victoria), one_call(bob)]
        crm_server.resume()
        (opened_at, _), = timed_events(pbx, "crm_circuit_opened")
        time.sleep(max(0.0, opened_at + OPEN_SECONDS + 0.2 - time.time()))
        back = one_call(victoria)  # the trial lookup succeeds: closed
        wait_bus_event(pbx, "crm_circuit_closed", timeout=5)
    agent.quit()
    wait_idle(pbx, timeout=10)

    identified = {event["call_id"] for event in bus_events(pbx, "CallerIdentified")}
    assert up in identified and back in identified
    assert frozen not in identified and not identified & set(while_open)
    routed = {fields["call_id"]: at for at, fields in timed_events(pbx, "IvrStarted")}
    started = {fields["call_id"]: at for at, fields in timed_events(pbx, "CallStarted")}
    delay = {call_id: round(routed[call_id] - started[call_id], 3) for call_id in routed}
    print("from CallStarted to IvrStarted (s): up", delay[up], "frozen", delay[frozen], "open",
          [delay[call_id] for call_id in while_open], "back", delay[back])
    assert 0.45 <= delay[frozen] < 0.5 + 0.4, delay  # one REST timeout, no more
    assert all(delay[call_id] < 0.25 for call_id in while_open), delay  # open: the CRM is not asked
    assert len(bus_events(pbx, "crm_circuit_opened")) == 1
    [closed] = bus_events(pbx, "crm_circuit_closed")
    assert (closed["skipped_lookups"], closed["skipped_writebacks"]) == ("2", "2"), closed
    assert not bus_events(pbx, "PluginFailed")
    posted = {result["call_id"] for result in crm_server.wait_calls(2)}
    assert {up, back} <= posted


CONTACTS = """number,name,tier,vip,customer_id,note
1008,Carla Contact,gold,yes,K-1008,called about her invoice
1009,Dan Contact,bronze,perhaps,K-1009,
"""


@pytest.mark.timeout(90)
def test_contacts_imported_while_the_pbx_runs_are_found_first_and_shown_on_the_admin_api(
        tmp_path, call_pbx, crm_server):  # noqa: F811
    pbx = crm_pbx(call_pbx, tmp_path, crm_server, contacts=True)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(CONTACTS)
    imported = subprocess.run([sys.executable, "-m", "pbx", "crm", "import", str(contacts), "--config",
                               str(pbx.config_path)], capture_output=True, text=True, timeout=30, cwd=REPO_ROOT, check=False)
    assert imported.returncode == 1, imported  # one bad row
    assert imported.stdout.strip() == f"imported 1 contacts from {contacts}; 1 bad rows skipped", imported
    assert imported.stderr.strip() == f"{contacts}:3: vip must be yes/no/true/false/1/0, got 'perhaps'"

    with CallerThread(pbx.sip_address, "1008") as carla, CallerThread(pbx.sip_address, "1007") as victoria:
        carla_call = carla.dial("800")
        carla_joined = joined(pbx, "1008")
        victoria_call = victoria.dial("800")  # not a contact: the CRM is asked
        victoria_joined = joined(pbx, "1007")
        carla.hangup(carla_call)
        victoria.hangup(victoria_call)
    found = {event["caller"]: event for event in bus_events(pbx, "CallerIdentified")}
    assert (found["1008"]["source"], found["1008"]["name"], found["1008"]["vip"]) == ("contacts", "Carla Contact",
                                                                                       "True")
    assert found["1007"]["source"] == "rest"
    assert int(carla_joined["priority"]) >= VIP_PRIORITY and int(victoria_joined["priority"]) >= VIP_PRIORITY
    assert crm_server.get("/stats")["lookups"] == 1  # only 1007's

    assert pbx.api("/api/plugins/crm/contacts/1008") == {
        "number": "1008", "customer_id": "K-1008", "name": "Carla Contact", "tier": "gold", "language": None,
        "vip": True, "preferred_agent": None, "fields": {"note": "called about her invoice"}}
    assert pbx.api("/api/plugins/crm/lookup/1007")["name"] == "Victoria Vance"
    with pytest.raises(urllib.error.HTTPError) as missing:
        pbx.api("/api/plugins/crm/contacts/1009")
    assert missing.value.code == 404
    wait_idle(pbx, timeout=10)
