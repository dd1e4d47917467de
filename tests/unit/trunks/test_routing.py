"""Identifying providers, outbound patterns and rewriting, channel limits, permissions, and the
config's errors with their file lines."""

from __future__ import annotations

import pytest

from pbx.config import ConfigError, parse_config
from pbx.sip.message import parse_message
from pbx.sip.transaction import Peer
from pbx.trunks import (
    Channels,
    OutboundRouteConfig,
    OutboundRoutes,
    Permissions,
    Placement,
    TrunkConfig,
    TrunkIdentifier,
    number_forms,
)
from tests.unit.sipkit import wire


def invite(uri: str, to: str, source: Peer):
    request = parse_message(wire("\n".join([
        f"INVITE {uri} SIP/2.0", "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1", "Max-Forwards: 70",
        "From: <sip:+33999@provider>;tag=p", f"To: <{to}>", "Call-ID: c1", "CSeq: 1 INVITE",
    ])))
    request.source = source
    return request


def test_a_provider_is_known_by_address_cidr_or_address_and_port():
    identify = TrunkIdentifier({"acme": ["203.0.113.0/28"], "local": ["127.0.0.1:5099"]}, {"acmeuser": "acme"})
    did = "sip:+33123456789@pbx.example"
    assert identify.trunk_of(invite(did, did, Peer("udp", "203.0.113.5", 5060))) == "acme"
    assert identify.trunk_of(invite(did, did, Peer("udp", "203.0.113.17", 5060))) is None
    assert identify.trunk_of(invite(did, did, Peer("udp", "127.0.0.1", 5099))) == "local"
    # Same address, another port: one of our phones, not the provider.
    assert identify.trunk_of(invite(did, did, Peer("udp", "127.0.0.1", 5062))) is None
    # At the contact we registered: the provider puts the DID in To.
    at_contact = invite("sip:acmeuser@192.0.2.10:5060", "sip:+33-1-23.45.67.89@pbx.example",
                        Peer("udp", "198.51.100.9", 5060))
    assert identify.trunk_of(at_contact) == "acme"
    assert identify.called_number(at_contact) == "+33123456789"
    assert identify.called_number(invite(did, "sip:x@y", Peer("udp", "203.0.113.5", 5060))) == "+33123456789"


def test_e164_numbers_match_with_or_without_plus():
    assert number_forms("+33123") == ["+33123", "33123"]
    assert number_forms("33123") == ["33123", "+33123"]
    assert number_forms("sales") == ["sales"]


TRUNKS = {"acme": TrunkConfig(host="198.51.100.1:5060", caller_id="+33100000000", channels=2),
          "backup": TrunkConfig(host="198.51.100.2:5060")}


def test_first_matching_route_rewrites_the_number_for_each_trunk_in_order():
    routes = OutboundRoutes([
        OutboundRouteConfig(name="emergency", match="112", trunks=["backup"]),
        OutboundRouteConfig(name="international", match="_00X.", trunks=["acme", "backup"], strip=2, prepend="+",
                            caller_id="+33199999999"),
        OutboundRouteConfig(name="national", match="_0[1-9]XXXXXXXX", trunks=["acme"], strip=1, prepend="+33"),
    ], TRUNKS)
    international = routes.match("0033123456789")
    assert international is not None and international.name == "international"
    assert routes.placements(international, "0033123456789") == [
        Placement("international", "acme", "0033123456789", "+33123456789", "+33199999999"),
        Placement("international", "backup", "0033123456789", "+33123456789", "+33199999999"),
    ]
    national = routes.match("0123456789")
    assert routes.placements(national, "0123456789") == [
        Placement("national", "acme", "0123456789", "+33123456789", "+33100000000")]  # the trunk's caller id
    assert routes.match("012345678") is None and routes.match("1001") is None
    assert routes.match("112").name == "emergency"


class FakeLeg:
    def __init__(self) -> None:
        self.is_ended = False


def test_channels_are_counted_by_live_legs_and_full_trunks_are_skipped():
    channels = Channels({"acme": 2, "backup": None})
    first, second = FakeLeg(), FakeLeg()
    channels.take("acme", first)
    channels.take("acme", second)
    placements = [Placement("r", "acme", "1", "1", None), Placement("r", "backup", "1", "1", None)]
    assert channels.is_full("acme") and channels.first_free(placements).trunk == "backup"
    first.is_ended = True  # the call ended: its channel is free again, nobody had to say so
    assert not channels.is_full("acme") and channels.first_free(placements).trunk == "acme"
    assert channels.usage() == {"acme": 1, "backup": 0}


def test_permissions_by_route_or_class_and_nothing_by_default():
    permissions = Permissions({"1001": ["world"], "1002": ["national"]}, {"world": ["national", "international"]})
    assert permissions.check("1001", "international").allowed
    assert permissions.check("1002", "national").allowed
    refused = permissions.check("1002", "international")
    assert not refused.allowed and refused.reason == "extension 1002 may not use outbound route international"
    assert permissions.check("1003", "national").reason == "extension 1003 may not call out"
    assert not permissions.check(None, "national").allowed


CONFIG = """\
realm: pbx.test
extensions:
  1001: {password: x, outbound: [world]}
trunks:
  acme:
    register: {servers: ["198.51.100.1:5060"], username: acme, password: s3cret, expires: 300}
    channels: 30
    caller_id: "+33100000000"
outbound_routes:
  - {name: international, match: "_00X.", trunks: [acme], strip: 2, prepend: "+"}
outbound_classes:
  world: [international]
"""


def test_the_config_decodes_trunks_routes_and_permissions():
    config = parse_config(CONFIG, "pbx.yaml")
    assert config.trunks["acme"].register.expires == 300 and config.trunks["acme"].target == "198.51.100.1:5060"
    assert config.extensions["1001"].outbound == ["world"]
    assert config.outbound_routes[0].prepend == "+"


@pytest.mark.parametrize("change, where, words", [
    (("trunks: [acme]", "trunks: [acme, nobody]"), "pbx.yaml:10:", "no trunk 'nobody'"),
    (("outbound: [world]", "outbound: [moon]"), "pbx.yaml:3:", "'moon' is neither"),
    (("world: [international]", "world: [national]"), "pbx.yaml:12:", "no outbound route 'national'"),
    (('"_00X."', '"_00[X."'), "pbx.yaml:10:", "never closed"),
    (("channels: 30", "channels: 0"), "pbx.yaml:4:", "channels must be at least 1"),
    (('servers: ["198.51.100.1:5060"], ', ""), "pbx.yaml:4:", "register needs"),
])
def test_config_mistakes_name_the_line_and_why(change, where, words):
    with pytest.raises(ConfigError) as error:
        parse_config(CONFIG.replace(*change), "pbx.yaml")
    message = str(error.value)
    assert message.startswith(where) and words in message, message
