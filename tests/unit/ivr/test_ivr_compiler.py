"""The compiler: every example compiles, both forms give identical programs, programs round-trip."""

from pathlib import Path

import msgspec
import pytest

from ivr_dsl import ast
from ivr_dsl import program as ops
from ivr_dsl.compiler import CompileError, compile_scenario
from ivr_dsl.parser import load_scenario, parse_dsl

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
STEMS = sorted({path.stem for path in EXAMPLES.glob("*.ivr")})


def compiled(path: Path) -> ops.Program:
    scenario, _ = load_scenario(path)
    return compile_scenario(scenario)


def test_there_are_examples():
    assert len(STEMS) >= 4


@pytest.mark.parametrize("stem", STEMS)
def test_both_forms_compile_to_identical_programs(stem):
    from_dsl = compiled(EXAMPLES / f"{stem}.ivr")
    from_yaml = compiled(EXAMPLES / f"{stem}.yaml")
    assert from_dsl == from_yaml
    assert ops.encode(from_dsl) == ops.encode(from_yaml)


@pytest.mark.parametrize("stem", STEMS)
def test_programs_round_trip_through_json(stem):
    program = compiled(EXAMPLES / f"{stem}.ivr")
    assert ops.decode(ops.encode(program)) == program
    assert ops.decode(ops.encode(program).decode()) == program


def test_compiling_is_deterministic():
    scenario, _ = load_scenario(EXAMPLES / "support.ivr")
    assert ops.encode(compile_scenario(scenario)) == ops.encode(compile_scenario(scenario))


def test_argument_order_does_not_matter():
    def with_args(args):
        invoke = ast.Invoke("crm.lookup", args)
        return compile_scenario(ast.Scenario("s", [ast.Block("start", [invoke])]))

    first = with_args({"b": ast.Var("x"), "a": ast.Value(1)})
    second = with_args({"a": ast.Value(1), "b": ast.Var("x")})
    assert ops.encode(first) == ops.encode(second)
    assert [argument.name for argument in first.sections[0].code[0].args] == ["a", "b"]


def test_program_is_frozen():
    program = compiled(EXAMPLES / "support.ivr")
    with pytest.raises(AttributeError):
        program.start = "elsewhere"  # type: ignore[misc]


SMALL = """
scenario "small"
end

block start
  if vip == true
    goto menu
  elif caller == "1"
    hangup busy
  else
    play "x"
  end
  collect pin digits 4
  on failure
    hangup
  end
  goto menu
end

menu menu
  greeting "hello"
  invalid "bad"
  key 1: goto start
  key 22
    play "twenty-two"
  end
end
"""


def test_layout_of_a_block_and_a_menu():
    scenario, _ = parse_dsl(SMALL)
    program = compile_scenario(scenario)
    assert program.start == "start" and program.first_menu == "menu" and program.languages == ("en",)
    start = program.section("start")
    kinds = [type(step).__name__ for step in start.code]
    assert kinds == ["JumpUnless", "GoTo", "Jump", "JumpUnless", "Hangup", "Jump", "Play", "Collect", "Hangup",
                     "GoTo", "EndSection"]
    assert start.code[0].to == 3 and start.code[2].to == 7 and start.code[3].to == 6 and start.code[5].to == 7
    assert start.code[7].on_success == 9
    menu = program.section("menu")
    assert menu.kind == "menu"
    first = menu.code[0]
    assert isinstance(first, ops.Menu)
    assert first.max_digits == 2
    assert [(key.key, key.to) for key in first.keys] == [("1", 1), ("22", 3)]
    assert menu.code[2] == ops.GoTo("menu") and menu.code[4] == ops.GoTo("menu")
    # attempts used up: the last invalid prompt, then hang up (the body is empty)
    assert menu.code[first.on_max_failures:first.on_max_failures + 2] == (ops.Play((ast.PromptFile("bad"),), False),
                                                                         ops.Hangup("normal"))
    assert menu.code[first.on_max_timeouts] == ops.Hangup("normal")


@pytest.mark.parametrize(("scenario", "message"), [
    (ast.Scenario("s", []), "no blocks or menus"),
    (ast.Scenario("s", [ast.Block("a", [ast.Goto("nowhere")])]), "no block or menu is called 'nowhere'"),
    (ast.Scenario("s", [ast.Block("a", [ast.Gosub("nowhere")])]), "call nowhere"),
    (ast.Scenario("s", [ast.Block("a", [ast.Back()])]), "need a menu"),
    (ast.Scenario("s", [ast.Block("a", [])], start="b"), "start section 'b'"),
    (ast.Scenario("s", [ast.Block("a", []), ast.Block("a", [])]), "defined twice: a"),
    (ast.Scenario("s", [ast.Block("a", [])], calendars=[ast.Calendar("c", "Nowhere/Town")]), "unknown time zone"),
])
def test_unrunnable_scenarios_are_refused(scenario, message):
    with pytest.raises(CompileError, match=message):
        compile_scenario(scenario)


def test_program_json_is_plain_data():
    program = compiled(EXAMPLES / "bank.ivr")
    data = msgspec.json.decode(ops.encode(program))
    assert data["format"] == ops.FORMAT
    assert data["sections"][0]["code"][0] == {"op": "answer"}
