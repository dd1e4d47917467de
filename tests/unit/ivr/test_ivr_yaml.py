"""The YAML form: same tree as the DSL, scalars read as written, errors at line:col."""

from pathlib import Path

import pytest

from ivr_dsl import ScenarioError, ast, load_scenario, parse_yaml
from ivr_dsl.ast import Position

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


def steps(yaml_steps: str) -> list[ast.Stmt]:
    """The body of a block whose `do:` list is `yaml_steps` (already indented by 2)."""
    scenario, _ = parse_yaml("scenario: T\nsections:\n- block: start\n  do:\n" + yaml_steps)
    return scenario.sections[0].body


@pytest.mark.parametrize("name", ["support", "bank", "multilanguage", "survey"])
def test_yaml_and_dsl_forms_of_each_example_are_identical(name):
    from_dsl, _ = load_scenario(EXAMPLES / f"{name}.ivr")
    from_yaml, source_map = load_scenario(EXAMPLES / f"{name}.yaml")
    assert from_yaml == from_dsl
    assert source_map.find(("sections", 0, "name")) is not None


def test_scalars_are_read_as_written():
    text = ("scenario: T\nvariables: {code: 0048, count: 3, ratio: 1.5, on: yes, flag: true, none: null}\n"
            "calendars:\n  hours:\n    timezone: Europe/Warsaw\n    hours: [mon-fri 08:00-18:00]\n"
            "    holidays: {2026-12-25: Christmas, 01-01: }\n    overrides:\n      2026-12-24: 08:00-12:00\n"
            "      2026-12-31: {hours: closed, name: Eve}\n"
            "sections:\n- block: start\n  do: [hangup]\n")
    with pytest.raises(ScenarioError):  # a variable default must have a value
        parse_yaml(text)
    scenario, _ = parse_yaml(text.replace(", none: null", ""))
    assert scenario.variables == {"code": "0048", "count": 3, "ratio": 1.5, "on": "yes", "flag": True}
    (calendar,) = scenario.calendars
    assert calendar.weekly == [ast.WeeklyHours(["mon", "tue", "wed", "thu", "fri"], [ast.TimeRange("08:00", "18:00")])]
    assert calendar.holidays == [ast.Holiday("2026-12-25", "Christmas"), ast.Holiday("01-01")]
    assert calendar.overrides == [ast.Override("2026-12-24", [ast.TimeRange("08:00", "12:00")]),
                                  ast.Override("2026-12-31", [], "Eve")]


def test_statement_shapes():
    assert steps(
        "  - answer\n  - play: welcome\n  - play: [a, {say: 'Hi {caller}', language: pl}]\n    barge_in: false\n"
        "  - say: Hello\n  - say_digits: account\n  - pause: 500ms\n  - hangup: busy\n  - set: {tries: 1}\n"
        "  - language: pl\n  - set: {language: chosen}\n  - goto: main\n  - call: helper\n  - return\n"
        "  - disposition: sold\n  - transfer: 1001\n  - voicemail: '\"0048\"'\n"
    ) == [
        ast.Answer(), ast.Play([ast.PromptFile("welcome")]),
        ast.Play([ast.PromptFile("a"), ast.Speak(ast.Concat([ast.Value("Hi "), ast.Var("caller")]), "pl")], False),
        ast.Play([ast.Speak(ast.Value("Hello"))]), ast.Play([ast.SayDigits(ast.Var("account"))]), ast.Pause(0.5),
        ast.Hangup("busy"), ast.Set("tries", ast.Value(1)), ast.SetLanguage(ast.Value("pl")),
        ast.SetLanguage(ast.Var("chosen")), ast.Goto("main"), ast.Gosub("helper"), ast.Return(),
        ast.Disposition("sold"), ast.Transfer(ast.Value("1001")), ast.Voicemail(ast.Value("0048")),
    ]


def test_if_collect_queue_dial_invoke():
    assert steps(
        "  - if: closed(hours) or caller in [\"100\"]\n    then: [hangup]\n    elif:\n    - if: x == 1\n      then: [answer]\n"
        "    else: [{goto: main}]\n"
        "  - collect: pin\n    prompt: enter-pin\n    min_digits: 4\n    max_digits: 4\n    terminator: null\n"
        "    sensitive: true\n    pattern: ^[0-9]+$\n    on_failure: [hangup]\n"
        "  - queue: support\n    priority: 5\n    skills: billing, polish\n    timeout: 5m\n"
        "  - dial: 1001\n    timeout: 20s\n    caller_id: caller\n"
        "  - invoke: crm.lookup\n    args: {account: pin}\n    result: customer\n    timeout: 3s\n    on_error: [hangup]\n"
    ) == [
        ast.If([ast.Branch(ast.Or([ast.Not(ast.IsOpen("hours")), ast.In(ast.Var("caller"), [ast.Value("100")])]), [ast.Hangup()]),
                ast.Branch(ast.Compare("==", ast.Var("x"), ast.Value(1)), [ast.Answer()])], [ast.Goto("main")]),
        ast.Collect("pin", [ast.PromptFile("enter-pin")], 4, 4, None, pattern="^[0-9]+$", sensitive=True, on_failure=[ast.Hangup()]),
        ast.Queue("support", 5, ["billing", "polish"], 300.0),
        ast.Dial(ast.Value("1001"), 20.0, ast.Var("caller")),
        ast.Invoke("crm.lookup", {"account": ast.Var("pin")}, "customer", 3.0, [ast.Hangup()]),
    ]


def test_positions_follow_the_ast_paths():
    _, source_map = parse_yaml("scenario: T\nsections:\n- block: start\n  do:\n  - answer\n  - goto: main\n", "t.yaml")
    assert source_map.positions[("sections", 0, "body", 1)] == Position(6, 5)
    assert source_map.positions[("sections", 0, "body", 1, "target")] == Position(6, 11)


def test_type_errors_point_at_the_value():
    with pytest.raises(ScenarioError) as caught:
        parse_yaml("scenario: T\nsections:\n- block: start\n  do:\n  - queue: support\n    priority: high\n", "t.yaml")
    assert caught.value.diagnostics[0].headline() == "t.yaml:6:15: error: 'priority': expected a whole number, found text"


def test_unknown_fields_are_refused_with_a_suggestion():
    with pytest.raises(ScenarioError) as caught:
        parse_yaml("scenario: T\nlangauge: en\nsections: []\n", "t.yaml")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.headline() == "t.yaml:2:1: error: unknown field 'langauge' in the scenario"
    assert diagnostic.hint == "did you mean 'language'?"


def test_duplicate_keys_are_refused():
    with pytest.raises(ScenarioError, match="'language' is given twice"):
        parse_yaml("scenario: T\nlanguage: en\nlanguage: pl\nsections: []\n")


def test_bad_expression_points_into_the_yaml_line():
    with pytest.raises(ScenarioError) as caught:
        parse_yaml('scenario: T\nsections:\n- block: start\n  do:\n  - if: "caller =="\n    then: [hangup]\n', "t.yaml")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (5, 19)
    assert diagnostic.source_line == '  - if: "caller =="'


def test_empty_and_invalid_yaml():
    with pytest.raises(ScenarioError, match="the file is empty"):
        parse_yaml("")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_yaml("scenario: [unclosed\n")
