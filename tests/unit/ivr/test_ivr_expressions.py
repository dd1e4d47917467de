"""Expressions: variables, numeric text, missing names, patterns, calendars and clock variables."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr_dsl.ast import (
    And,
    Calendar,
    Compare,
    Concat,
    In,
    IsOpen,
    Matches,
    Not,
    Or,
    TimeRange,
    Value,
    Var,
    WeeklyHours,
)
from ivr_dsl.expressions import Scope, compare, evaluate, text_of

NOW = datetime(2026, 12, 24, 18, 5, tzinfo=UTC)  # Thursday 19:05 in Warsaw
HOURS = Calendar("hours", "Europe/Warsaw", weekly=[WeeklyHours(["thu"], [TimeRange("08:00", "19:00")])])


def scope(**variables: object) -> Scope:
    return Scope(variables, {"hours": HOURS}, NOW, ZoneInfo("Europe/Warsaw"))


@pytest.mark.parametrize(("op", "left", "right", "expected"), [
    ("==", "5", 5, True),
    ("<", "10", 9, False),  # numeric, not text order
    (">=", "10", 9.5, True),
    ("==", 3, "3.0", True),
    ("==", "007", "7", False),  # two texts compare as text
    ("<", "09:30", "18:00", True),
    ("==", "abc", 5, False),
    ("<", "abc", 5, False),  # no order between them: false, not an exception
    ("<", None, 5, False),
    ("==", None, None, True),
    ("!=", None, "x", True),
    ("==", True, True, True),
])
def test_comparisons(op, left, right, expected):
    assert compare(op, left, right) is expected


def test_missing_variables_and_fields_are_none():
    assert evaluate(Var("nothing"), scope()) is None
    assert evaluate(Var("account.balance"), scope(account={"balance": 12})) == 12
    assert evaluate(Var("account.owner.name"), scope(account={"owner": "x"})) is None
    assert evaluate(Var("account.balance"), scope()) is None
    assert evaluate(Compare(">", Var("missing"), Value(3)), scope()) is False


def test_exact_dotted_names_win():
    assert evaluate(Var("header.X-Tier"), scope(**{"header.X-Tier": "gold"})) == "gold"
    assert evaluate(Var("header.X-Tier"), scope(header={"X-Tier": "silver"})) == "silver"


def test_boolean_operators_and_in():
    assert evaluate(And([Value(True), Compare("==", Var("n"), Value(2))]), scope(n="2")) is True
    assert evaluate(Or([Value(None), Value("")]), scope()) is False
    assert evaluate(Not(Var("missing")), scope()) is True
    assert evaluate(In(Var("nps"), [Value("9"), Value(10)]), scope(nps="10")) is True
    assert evaluate(In(Var("nps"), [Value("9"), Value(10)]), scope(nps="8")) is False


def test_matches_is_a_full_match_and_never_raises():
    assert evaluate(Matches(Var("lang"), "pl.*"), scope(lang="pl-PL,en")) is True
    assert evaluate(Matches(Var("lang"), "pl"), scope(lang="pl-PL")) is False
    assert evaluate(Matches(Var("missing"), ""), scope()) is True
    assert evaluate(Matches(Value("x"), "("), scope()) is False


def test_concat_interpolates():
    expr = Concat([Value("Hello "), Var("name"), Value(", you owe "), Var("amount"), Value(" "), Var("gone"), Var("flag")])
    assert evaluate(expr, scope(name="Ada", amount=12.5, flag=True)) == "Hello Ada, you owe 12.5 true"
    assert text_of(None) == "" and text_of(False) == "false" and text_of(3) == "3"


def test_calendars_and_clock_variables():
    assert evaluate(IsOpen("hours"), scope()) is False  # 19:05 local, closes at 19:00
    assert evaluate(IsOpen("no-such-calendar"), scope()) is False
    values = {name: evaluate(Var(name), scope()) for name in ("now", "date", "time", "weekday")}
    assert values == {"now": "2026-12-24T19:05:00+01:00", "date": "2026-12-24", "time": "19:05", "weekday": "thu"}
    assert evaluate(Compare("<", Var("time"), Value("19:00")), scope()) is False


def test_clock_variables_use_nows_zone_without_a_calendar_zone():
    plain = Scope({}, {}, NOW)
    assert evaluate(Var("time"), plain) == "18:05"
    assert evaluate(Var("time"), Scope({"time": "set"}, {}, NOW)) == "set"


def test_naive_now_is_our_own_mistake():
    with pytest.raises(ValueError, match="aware"):
        Scope({}, {}, datetime(2026, 1, 1))
