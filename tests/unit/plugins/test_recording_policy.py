"""The recording plugin's policies and configuration, through the plugin harness.

Which call each kind of policy records and at which moment (the PBX asks at "answered" and at
"connected"), that a sample is a deterministic share of call ids, that the first policy in
order wins, and that a bad config is refused with the path of the key at fault.
"""

from __future__ import annotations

import pytest

import plugins.recording as recording
from plugins.recording import Config, Policy, choose, decide, parse_duration, sample_point
from sdk import CallInfo, PluginConfigError, RecordingDecision, decode_plugin_config

POLICIES = {
    "sweep_every": 60,
    "policies": [
        {"name": "payments", "record": "scenario", "match": ["pay"], "retention": "90d"},
        {"name": "support", "record": "queue", "match": ["support", "sales"], "layout": "mixed", "retention": "12h"},
        {"name": "vip-line", "record": "extension", "match": ["1009"], "retention": 3600},
        {"name": "quality", "record": "sample", "percent": 25, "retention": "7d"},
        {"name": "agents", "record": "on-demand", "retention": "30d"},
    ],
}


async def test_a_scenario_policy_records_calls_running_its_scenarios(pbx_harness):
    async with pbx_harness(recording, config=POLICIES) as pbx:
        paying = pbx.new_call(call_id="c-pay", scenario="pay")
        assert await pbx.recording_policy(paying, "answered") == RecordingDecision(policy="payments")
        other = pbx.new_call(call_id="c-menu", scenario="menu")
        assert await pbx.recording_policy(other, "answered") != RecordingDecision(policy="payments")
        assert not pbx.failures


async def test_a_queue_policy_records_when_an_agent_takes_the_call_from_its_queues(pbx_harness):
    async with pbx_harness(recording, config=POLICIES) as pbx:
        call = pbx.new_call(call_id="c-q-1")  # sample point 72.8: not in the 25 % sample
        assert sample_point("c-q-1") >= 25
        assert await pbx.recording_policy(call, "answered") is None  # no queue yet
        connected = pbx.update_call(call.call_id, queue="sales", agent="1001")
        assert await pbx.recording_policy(connected, "connected") == RecordingDecision(policy="support",
                                                                                       layout="mixed")
        elsewhere = pbx.update_call(call.call_id, queue="billing", agent="1002")
        assert await pbx.recording_policy(elsewhere, "connected") is None


async def test_an_extension_policy_records_calls_from_or_to_its_extensions(pbx_harness):
    async with pbx_harness(recording, config=POLICIES) as pbx:
        assert sample_point("c-x-1") >= 25 and sample_point("c-x-2") >= 25 and sample_point("c-x-4") >= 25
        from_it = pbx.new_call(call_id="c-x-1", caller="1009", callee="1002")
        to_it = pbx.new_call(call_id="c-x-2", caller="1002", callee="1009")
        neither = pbx.new_call(call_id="c-x-4", caller="1002", callee="1003")
        assert (await pbx.recording_policy(from_it)).policy == "vip-line"
        assert (await pbx.recording_policy(to_it)).policy == "vip-line"
        assert await pbx.recording_policy(neither) is None


async def test_all_records_every_call_and_on_demand_none(pbx_harness):
    config = {"policies": [{"name": "agents", "record": "on-demand"}, {"name": "everything", "record": "all"}]}
    async with pbx_harness(recording, config=config) as pbx:
        decision = await pbx.recording_policy(pbx.new_call(), "answered")
        assert decision == RecordingDecision(policy="everything")
    async with pbx_harness(recording, config={"policies": [{"name": "agents", "record": "on-demand"}]}) as pbx:
        assert await pbx.recording_policy(pbx.new_call(), "answered") is None
        assert await pbx.recording_policy(pbx.new_call(queue="support", agent="1001"), "connected") is None


async def test_the_first_matching_policy_in_order_wins(pbx_harness):
    async with pbx_harness(recording, config=POLICIES) as pbx:
        both = pbx.new_call(call_id="c-both", caller="1009", scenario="pay")
        assert (await pbx.recording_policy(both)).policy == "payments"
    # The pure function says the same, at either moment.
    config = decode_plugin_config(recording, POLICIES, "plugins.recording.config")
    call = CallInfo(call_id="c-both", caller="1009", callee="800", scenario="pay", queue="support")
    assert choose(config.policies, call, "connected").name == "payments"
    assert decide(config.policies, call, "connected") == RecordingDecision(policy="payments")
    queued = CallInfo(call_id="c-q-1", caller="1004", callee="700", queue="sales", agent="1001")
    assert decide(config.policies, queued, "connected") == RecordingDecision(policy="support", layout="mixed")
    assert decide(config.policies, CallInfo(call_id="c-q-1", caller="1004", callee="700"), "answered") is None


def test_a_sample_is_a_deterministic_share_of_call_ids():
    ids = [f"{index:016x}" for index in range(20_000)]
    points = [sample_point(call_id) for call_id in ids]
    assert points == [sample_point(call_id) for call_id in ids]  # the same call, the same answer
    assert all(0 <= point < 100 for point in points)
    policy = Policy(name="quality", record="sample", percent=10)
    taken = [call_id for call_id in ids if choose([policy], CallInfo(call_id=call_id, caller="1", callee="2"), "answered")]
    assert abs(len(taken) / len(ids) - 0.10) < 0.01, len(taken)
    # The hash is fixed (SHA-256 of the id): the same on every node and in every release.
    assert sample_point("abc") == int.from_bytes(bytes.fromhex("ba7816bf"), "big") / 2**32 * 100


async def test_a_sample_policy_records_the_calls_below_its_percent(pbx_harness):
    config = {"policies": [{"name": "quality", "record": "sample", "percent": 50}]}
    async with pbx_harness(recording, config=config) as pbx:
        for call_id in ("s-1", "s-2", "s-3", "s-4", "s-5", "s-6"):
            decision = await pbx.recording_policy(pbx.new_call(call_id=call_id))
            assert (decision is not None) == (sample_point(call_id) < 50), call_id


@pytest.mark.parametrize(("text", "seconds"), [
    ("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("5s", 5), ("1h30m", 5400), ("2w", 1209600),
    (" 1d 12h ", 129600), (7.5, 7.5), (3600, 3600), (None, None), ("0.5s", 0.5),
])  # fmt: skip
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "12", "d", "1h garbage", "-5s", "0s", 0, -1])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="duration|more than 0"):
        parse_duration(text)


@pytest.mark.parametrize(("config", "path", "message"), [
    ({"polices": []}, ["polices"], "unknown field"),
    ({"policies": [{"name": "a", "record": "everything"}]}, ["policies", 0, "record"], "Invalid enum value"),
    ({"policies": [{"name": "a", "record": "queue"}]}, ["policies", 0], "needs `match:`"),
    ({"policies": [{"name": "a", "record": "all", "match": ["x"]}]}, ["policies", 0], "takes no `match:`"),
    ({"policies": [{"name": "a", "record": "sample"}]}, ["policies", 0], "percent"),
    ({"policies": [{"name": "a", "record": "sample", "percent": 150}]}, ["policies", 0], "between 0 and 100"),
    ({"policies": [{"name": "a", "record": "all", "percent": 5}]}, ["policies", 0], "only for record sample"),
    ({"policies": [{"name": "a", "record": "all", "retention": "3x"}]}, ["policies", 0], "duration '3x'"),
    ({"policies": [{"name": "a", "record": "all", "layout": "quad"}]}, ["policies", 0, "layout"], "Invalid enum"),
    ({"policies": [{"name": "a", "record": "all", "colour": "red"}]}, ["policies", 0, "colour"], "unknown field"),
    ({"policies": [{"name": "config", "record": "all"}]}, ["policies", 0], "reserved"),
    ({"policies": [{"record": "all"}]}, ["policies", 0], "missing required field `name`"),
    ({"policies": [{"name": "a", "record": "all"}, {"name": "a", "record": "all"}]}, [], "named 'a'"),
    ({"sweep_every": 0}, [], "sweep_every"),
    ({"default_retention": "soon"}, [], "duration 'soon'"),
])  # fmt: skip
def test_a_bad_config_is_refused_with_the_path_at_fault(pbx_harness, config, path, message):
    with pytest.raises(PluginConfigError) as refused:
        pbx_harness(recording, config=config)
    assert refused.value.path == path and message in str(refused.value), (refused.value, refused.value.path)
    assert str(refused.value).startswith("plugins.recording:")


def test_retention_follows_the_policy_that_started_the_recording():
    config = decode_plugin_config(recording, {**POLICIES, "default_retention": "1d"}, "plugins.recording.config")
    assert isinstance(config, Config)
    assert config.retention_for("payments") == 90 * 86400
    assert config.retention_for("on-demand") == 30 * 86400  # the first on-demand policy
    assert config.retention_for("config") == 86400  # the PBX's own recording.calls: the default
    assert Config().retention_for("on-demand") is None  # no policy, no default: kept
