"""The printer: to_dsl and to_yaml are exact inverses of the parsers."""

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr_dsl import ast, load_scenario, parse_dsl, parse_expression, parse_yaml, to_dsl, to_yaml
from ivr_dsl.printer import format_duration, format_expression

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


@pytest.mark.parametrize("name", ["support", "bank", "multilanguage", "survey"])
def test_examples_round_trip_through_both_forms(name):
    scenario, _ = load_scenario(EXAMPLES / f"{name}.ivr")
    assert parse_dsl(to_dsl(scenario))[0] == scenario
    assert parse_yaml(to_yaml(scenario))[0] == scenario
    assert parse_yaml(to_yaml(parse_dsl(to_dsl(scenario))[0]))[0] == scenario


@pytest.mark.parametrize(("seconds", "text"), [
    (5.0, "5s"), (0.5, "500ms"), (120.0, "2m"), (3600.0, "1h"), (90.0, "90s"), (1.25, "1250ms"), (0.1, "100ms"),
])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_defaults_are_left_out():
    scenario, _ = parse_dsl('scenario "T"\nend\nmenu main\n  greeting "g"\n  timeout 5s\n  key 1: hangup\nend\n')
    assert "timeout" not in to_dsl(scenario)
    assert "timeout" not in to_yaml(scenario)


def test_key_and_prompt_layout():
    text = ('scenario "T"\n  language en\nend\n\nmenu main\n  greeting "g"\n  key "#": hangup\n  key 1\n'
            '    answer\n    hangup\n  end\nend\n')
    assert to_dsl(parse_dsl(text)[0]) == text


# --- Property: any tree the printer writes reads back the same ---------------------------------

names = st.sampled_from(["caller", "account", "result.balance", "header.X-Id", "tries", "x_1"])
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
values = st.one_of(
    texts.map(ast.Value), st.integers(-10**6, 10**6).map(ast.Value), st.booleans().map(ast.Value),
    st.decimals(0, 1000, places=2, allow_nan=False).map(lambda number: ast.Value(float(number))),
)
atoms = st.one_of(values, names.map(ast.Var), st.sampled_from(["hours", "support"]).map(ast.IsOpen))


def _compound(children):
    two_or_more = st.lists(children, min_size=2, max_size=3)
    return st.one_of(
        two_or_more.map(ast.And), two_or_more.map(ast.Or), children.map(ast.Not),
        st.builds(ast.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), children, children),
        st.builds(ast.Matches, children, texts),
        st.builds(ast.In, children, st.lists(children, max_size=3)),
    )


expressions = st.recursive(atoms, _compound, max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(expressions)
def test_expressions_round_trip(expr):
    assert parse_expression(format_expression(expr)) == expr


spoken = st.lists(st.one_of(texts.filter(bool).map(ast.Value), names.map(ast.Var)), min_size=2, max_size=4).filter(
    lambda parts: all(not (isinstance(a, ast.Value) and isinstance(b, ast.Value)) for a, b in pairwise(parts))
).map(ast.Concat)
prompts = st.one_of(
    st.sampled_from(["welcome", "goodbye", "digit-1"]).map(ast.PromptFile),
    st.builds(ast.Speak, st.one_of(texts.map(ast.Value), spoken), st.sampled_from([None, "pl"]), st.sampled_from([None, "anna"])),
    st.builds(ast.SayDigits, names.map(ast.Var)), st.builds(ast.SayNumber, expressions),
    st.builds(ast.Silence, st.sampled_from([0.5, 1.0, 2.0])),
)
durations = st.sampled_from([0.25, 1.0, 3.0, 7.5, 60.0, 300.0])
simple_statements = st.one_of(
    st.just(ast.Answer()), st.builds(ast.Play, st.lists(prompts, min_size=1, max_size=3), st.booleans()),
    st.builds(ast.Pause, durations), st.builds(ast.Hangup, st.sampled_from(["normal", "busy", "failure"])),
    st.builds(ast.Set, names.filter(lambda name: "." not in name), expressions),
    st.builds(ast.SetLanguage, st.one_of(st.sampled_from(["en", "pl"]).map(ast.Value), names.map(ast.Var))),
    st.builds(ast.Goto, st.just("start")), st.just(ast.Return()),
    st.builds(ast.Transfer, st.one_of(st.sampled_from(["1001", "+4822", "0048"]).map(ast.Value), names.map(ast.Var))),
    st.builds(ast.Disposition, texts),
)


def _with_bodies(children):
    bodies = st.lists(children, max_size=2)
    return st.one_of(
        st.builds(ast.If, st.lists(st.builds(ast.Branch, expressions, bodies), min_size=1, max_size=2), bodies),
        st.builds(ast.Collect, names.filter(lambda name: "." not in name), st.lists(prompts, max_size=2),
                  st.integers(1, 4), st.integers(4, 12), st.sampled_from(["#", "*", None]), durations, durations,
                  st.integers(0, 5), st.sampled_from([None, "^[0-9]+$", r"^\d{4}$"]), st.lists(prompts, max_size=1),
                  st.booleans(), bodies),
        st.builds(ast.Queue, st.just("support"), st.integers(0, 9), st.lists(st.sampled_from(["billing", "pl"]), max_size=2),
                  st.sampled_from([None, 60.0]), bodies),
        st.builds(ast.Dial, st.sampled_from(["1001", "+48221"]).map(ast.Value), durations,
                  st.one_of(st.none(), names.map(ast.Var)), bodies),
        st.builds(ast.Invoke, st.just("crm.lookup"), st.dictionaries(st.sampled_from(["a", "b"]), expressions, max_size=2),
                  st.sampled_from([None, "customer"]), durations, bodies),
    )


statements = st.recursive(simple_statements, _with_bodies, max_leaves=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(statements, max_size=5), st.lists(st.builds(ast.MenuOption, st.sampled_from(["1", "2", "#", "*", "10"]),
                                                             st.lists(statements, max_size=2)),
                                                  max_size=3, unique_by=lambda option: option.key))
def test_scenarios_round_trip_through_both_forms(body, options):
    # Keys are unique: a YAML mapping cannot hold a key twice (the checker refuses it anyway).
    menu = ast.Menu("main", [ast.PromptFile("welcome")], options, max_failures=2, on_max_timeouts=[ast.Hangup()])
    scenario = ast.Scenario("Generated", [ast.Block("start", body), menu], languages=["en", "pl"], variables={"v": 1})
    assert parse_dsl(to_dsl(scenario))[0] == scenario
    assert parse_yaml(to_yaml(scenario))[0] == scenario
