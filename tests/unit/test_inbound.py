"""Inbound routes: exact numbers, Asterisk-style patterns, order, the default route, bad patterns."""

import pytest

from pbx.calls.inbound import Destination, InboundRoutes, compile_match
from pbx.config import ConfigError, parse_config


@pytest.mark.parametrize(("match", "number", "fits"), [
    ("800", "800", True), ("800", "8000", False), ("_8XX", "812", True), ("_8XX", "81", False),
    ("_NXX", "199", False), ("_NXX", "299", True), ("_Z!", "1", True), ("_Z!", "0", False),
    ("_9.", "9", False), ("_9.", "90048", True), ("_[1-3]5", "25", True), ("_[1-3]5", "45", False),
    ("_00[48]X", "0058", False), ("_00[48]X", "0042", True), ("_+48X.", "+48123", True),
])  # fmt: skip
def test_patterns(match, number, fits):
    assert bool(compile_match(match).match(number)) is fits


def test_first_match_wins_then_the_default():
    routes = InboundRoutes([("800", "scenario", "support"), ("_8XX", "queue", "sales")], default=("scenario", "main"))
    assert routes.match("800") == Destination("scenario", "support", "800")
    assert routes.match("801") == Destination("queue", "sales", "_8XX")
    assert routes.match("5555") == Destination("scenario", "main", "default")
    assert InboundRoutes([]).match("800") is None


@pytest.mark.parametrize(("routes", "message"), [
    ('[{match: "800", scenario: a, queue: b}]', "exactly one of scenario, queue or extension"),
    ('[{match: "800"}]', "exactly one of scenario, queue or extension"),
    ('[{match: "_9[a-z]", scenario: a}]', "must list digits or ranges"),
    ('[{match: "_9[1", scenario: a}]', "never closed"),
    ('[{match: "800", scenario: a, ring: 5}]', "unknown field `ring`"),
])  # fmt: skip
def test_bad_routes_name_the_line_and_the_fault(routes, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_config(f"realm: pbx.test\nroutes: {routes}\n", "pbx.yaml")
    assert str(error.value).startswith("pbx.yaml:2")
