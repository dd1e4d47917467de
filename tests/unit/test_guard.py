"""The source guard with a fake clock: bans after N failures and lifts them, token buckets, and
the endpoint dropping banned sources and answering floods with 503 and Retry-After."""

from __future__ import annotations

from ipaddress import ip_network

from pbx.sip.endpoint import Publish
from pbx.sip.guard import GuardSettings, RateLimit, SourceGuard
from pbx.sip.transaction import Peer
from sdk.events import AuthenticationFailed, SourceBanned, SourceUnbanned
from tests.unit.sipkit import PHONE, authorization, challenge_params, make_endpoint, only_response, register, wire

NOW = 1_000_000.0
NO_LIMIT = RateLimit(invite=0, register=0, burst=1)


def test_the_nth_failure_within_the_window_bans_until_the_ban_expires():
    guard = SourceGuard(GuardSettings(ban_after=3, ban_window=10, ban_seconds=60))
    assert guard.authentication_failed("192.0.2.7", NOW) == []
    assert guard.authentication_failed("192.0.2.7", NOW + 1) == []
    assert guard.authentication_failed("198.51.100.1", NOW + 1) == []  # another address counts apart
    [banned] = guard.authentication_failed("192.0.2.7", NOW + 2)
    assert banned == SourceBanned(at=NOW + 2, source="192.0.2.7", reason="3 authentication failures within 10s",
                                  until=NOW + 62)  # fmt: skip
    assert guard.is_banned("192.0.2.7", NOW + 61.9) and not guard.is_banned("198.51.100.1", NOW + 3)
    assert guard.authentication_failed("192.0.2.7", NOW + 3) == []  # already banned: no second event
    assert guard.next_deadline() == NOW + 62
    assert guard.expire(NOW + 61) == []
    assert guard.expire(NOW + 62) == [SourceUnbanned(at=NOW + 62, source="192.0.2.7")]
    assert not guard.is_banned("192.0.2.7", NOW + 62) and guard.next_deadline() is None


def test_failures_older_than_the_window_do_not_count():
    guard = SourceGuard(GuardSettings(ban_after=3, ban_window=10))
    for offset in (0, 5, 10.5, 16, 21):  # never three within 10 s
        assert guard.authentication_failed("192.0.2.7", NOW + offset) == []
    assert not guard.is_banned("192.0.2.7", NOW + 21)


def test_ban_after_zero_never_bans():
    guard = SourceGuard(GuardSettings(ban_after=0))
    assert all(guard.authentication_failed("192.0.2.7", NOW) == [] for _ in range(100))


def test_trusted_networks_are_never_banned_nor_limited_per_source_but_their_users_are():
    trusted = (ip_network("203.0.113.0/24"), ip_network("2001:db8::/32"))
    limit = RateLimit(invite=1, register=1, burst=1)
    guard = SourceGuard(GuardSettings(ban_after=1, per_source=limit, per_user=limit, trusted=trusted))
    for source in ("203.0.113.9", "2001:db8::7"):
        assert guard.authentication_failed(source, NOW) == [] and not guard.is_banned(source, NOW)
        assert [guard.admit_source(source, "INVITE", NOW) for _ in range(3)] == [None, None, None]
    assert guard.admit_user("1001", "INVITE", NOW) is None and guard.admit_user("1001", "INVITE", NOW) == 1
    [banned] = guard.authentication_failed("203.0.114.1", NOW)  # just outside the /24
    assert banned.source == "203.0.114.1"
    assert guard.admit_source("not-an-address", "INVITE", NOW) is None  # bucketed like any source
    assert guard.admit_source("not-an-address", "INVITE", NOW) == 1


def test_source_bucket_admits_a_burst_then_refills_at_the_rate():
    guard = SourceGuard(GuardSettings(per_source=RateLimit(invite=2, register=0, burst=4)))
    assert [guard.admit_source("192.0.2.7", "INVITE", NOW) for _ in range(5)] == [None, None, None, None, 1]
    assert guard.admit_source("192.0.2.7", "REGISTER", NOW) is None  # 0: no limit for REGISTER
    assert guard.admit_source("192.0.2.7", "OPTIONS", NOW) is None  # only INVITE and REGISTER are rated
    assert guard.admit_source("198.51.100.1", "INVITE", NOW) is None  # another address has its own bucket
    assert guard.admit_source("192.0.2.7", "INVITE", NOW + 0.5) is None  # one token back after 1/rate
    assert guard.admit_source("192.0.2.7", "INVITE", NOW + 0.5) == 1
    assert guard.stats["refused"] == 2


def test_retry_after_is_whole_seconds_until_the_next_token():
    guard = SourceGuard(GuardSettings(per_user=RateLimit(invite=0.1, register=0.25, burst=1)))
    assert guard.admit_user("1001", "INVITE", NOW) is None
    assert guard.admit_user("1001", "INVITE", NOW + 1) == 9  # 10 s per token, 1 s gone
    assert guard.admit_user("1001", "REGISTER", NOW) is None
    assert guard.admit_user("1001", "REGISTER", NOW + 0.5) == 4  # 3.5 s rounds up
    assert guard.admit_user("1002", "INVITE", NOW) is None


def test_idle_buckets_are_forgotten_so_a_spoofed_flood_costs_bounded_memory():
    guard = SourceGuard(GuardSettings(per_source=RateLimit(invite=10, register=10, burst=5)))
    for n in range(5000):
        host = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        assert guard.admit_source(host, "INVITE", NOW + n * 0.01) is None
    # Each bucket is full again one burst/rate (0.5 s) after its only request: swept as the table grew.
    assert len(guard) < 1100


# The endpoint with a guard ---------------------------------------------------------------------------

ATTACKER = Peer("udp", "192.0.2.66", 5070)


def guarded_endpoint(**settings):
    endpoint = make_endpoint()
    endpoint.guard = SourceGuard(GuardSettings(**settings))
    return endpoint


def wrong_password(endpoint, peer, n, now):
    first = only_response(endpoint.receive(wire(register(call_id=f"guess-{n}")), peer, now))
    assert first.status == 401
    extra = authorization(challenge_params(first), "1001", f"guess{n}")
    return endpoint.receive(wire(register(call_id=f"guess-{n}", cseq=2, extra=extra)), peer, now)


def test_endpoint_bans_a_guesser_then_drops_it_silently_until_the_ban_ends():
    endpoint = guarded_endpoint(ban_after=3, ban_seconds=600, per_source=NO_LIMIT, per_user=NO_LIMIT)
    for n in range(2):
        actions = wrong_password(endpoint, ATTACKER, n, NOW + n)
        assert only_response(actions).status == 403
    actions = wrong_password(endpoint, ATTACKER, 2, NOW + 2)
    assert only_response(actions).status == 403  # the failure that bans is still answered
    published = [action.event for action in actions if isinstance(action, Publish)]
    assert [type(event) for event in published] == [AuthenticationFailed, SourceBanned]
    assert (published[1].source, published[1].until) == ("192.0.2.66", NOW + 602)

    assert endpoint.receive(wire(register(call_id="after-ban")), ATTACKER, NOW + 3) == []  # no answer at all
    assert endpoint.stats["banned"] == 1
    assert only_response(endpoint.receive(wire(register(call_id="phone")), PHONE, NOW + 3)).status == 401

    assert endpoint.next_deadline() <= NOW + 602
    unbanned = [action.event for action in endpoint.handle_timer(NOW + 602) if isinstance(action, Publish)]
    assert unbanned == [SourceUnbanned(at=NOW + 602, source="192.0.2.66")]
    assert only_response(endpoint.receive(wire(register(call_id="later")), ATTACKER, NOW + 603)).status == 401


def test_endpoint_answers_a_register_flood_with_503_and_retry_after():
    endpoint = guarded_endpoint(per_source=RateLimit(invite=0, register=1, burst=2))
    statuses = [only_response(endpoint.receive(wire(register(call_id=f"flood-{n}")), ATTACKER, NOW)).status
                for n in range(4)]  # fmt: skip
    assert statuses == [401, 401, 503, 503]
    refused = only_response(endpoint.receive(wire(register(call_id="flood-5")), ATTACKER, NOW))
    assert (refused.status, refused.headers.get("Retry-After")) == (503, "1")
    # A refusal keeps no transaction (a flood must not grow memory): a retransmission is weighed
    # again and refused again, statelessly; the two admitted REGISTERs were challenged
    # statelessly too (RFC 3261 8.2.7), so no transaction is held at all.
    again = only_response(endpoint.receive(wire(register(call_id="flood-5")), ATTACKER, NOW))
    assert again.status == 503 and endpoint.stats["refused"] == 4 and endpoint.stats["sent_stateless"] == 6
    assert len(endpoint.transactions) == 0
    assert only_response(endpoint.receive(wire(register(call_id="ok")), ATTACKER, NOW + 1)).status == 401


def test_endpoint_limits_an_authenticated_user_after_the_source():
    endpoint = guarded_endpoint(per_source=NO_LIMIT, per_user=RateLimit(invite=0, register=0.5, burst=1))
    statuses = []
    for n in range(2):
        first = only_response(endpoint.receive(wire(register(call_id=f"user-{n}")), PHONE, NOW))
        extra = authorization(challenge_params(first), "1001", "secret1001")
        second = only_response(endpoint.receive(wire(register(call_id=f"user-{n}", cseq=2, extra=extra)), PHONE, NOW))
        statuses.append((first.status, second.status, second.headers.get("Retry-After")))
    assert statuses == [(401, 200, None), (401, 503, "2")]
