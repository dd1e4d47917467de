"""The .ivr parser: the examples, each construct's tree, positions and plain-words errors."""

from pathlib import Path

import pytest

from ivr_dsl import ScenarioError, ast, load_scenario, parse_dsl, parse_expression
from ivr_dsl.ast import Position

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
HEADER = 'scenario "Test"\n  language en\nend\n'


def block(*lines: str) -> list[ast.Stmt]:
    """The body of `block start` holding `lines`."""
    text = HEADER + "block start\n" + "".join(f"  {line}\n" for line in lines) + "end\n"
    scenario, _ = parse_dsl(text)
    return scenario.sections[0].body


@pytest.mark.parametrize("name", ["support", "bank", "multilanguage", "survey"])
def test_every_example_parses(name):
    scenario, source_map = load_scenario(EXAMPLES / f"{name}.ivr")
    assert scenario.sections
    assert source_map.find(("sections", 0)) is not None


def test_header_settings():
    text = ('scenario "Support"\n  language pl\n  languages pl, en\n  prompts "../p"\n  start main\n'
            '  variable tries = 0\n  variable greeting = "hi"\n  variable vip = true\nend\n'
            'block main\n  hangup\nend\n')
    scenario, _ = parse_dsl(text)
    assert scenario.name == "Support" and scenario.language == "pl" and scenario.languages == ["pl", "en"]
    assert scenario.prompts == "../p" and scenario.start == "main"
    assert scenario.variables == {"tries": 0, "greeting": "hi", "vip": True}


def test_calendar():
    text = HEADER + (
        'calendar hours "Europe/Warsaw"\n  mon-fri 08:00-12:00, 13:00-18:00\n  sat, sun 10:00-12:00\n'
        '  holiday 2026-12-25 "Christmas"\n  holiday 01-01\n  override 2026-12-24 08:00-14:00 "Eve"\n'
        '  override 2026-12-31 closed\nend\nblock start\n  hangup\nend\n')
    (calendar,), _ = parse_dsl(text)[0].calendars, None
    assert calendar == ast.Calendar(
        "hours", "Europe/Warsaw",
        weekly=[ast.WeeklyHours(["mon", "tue", "wed", "thu", "fri"], [ast.TimeRange("08:00", "12:00"), ast.TimeRange("13:00", "18:00")]),
                ast.WeeklyHours(["sat", "sun"], [ast.TimeRange("10:00", "12:00")])],
        holidays=[ast.Holiday("2026-12-25", "Christmas"), ast.Holiday("01-01")],
        overrides=[ast.Override("2026-12-24", [ast.TimeRange("08:00", "14:00")], "Eve"), ast.Override("2026-12-31")],
    )


def test_day_ranges_wrap_over_the_weekend():
    text = HEADER + 'calendar c "UTC"\n  fri-mon 10:00-11:00\nend\nblock start\n  hangup\nend\n'
    assert parse_dsl(text)[0].calendars[0].weekly[0].days == ["fri", "sat", "sun", "mon"]


def test_prompts_and_say_forms():
    assert block('play "welcome"') == [ast.Play([ast.PromptFile("welcome")])]
    assert block('play "a", "b" no barge-in') == [ast.Play([ast.PromptFile("a"), ast.PromptFile("b")], barge_in=False)]
    assert block('say "Hello {caller}!" in pl voice anna') == [ast.Play([ast.Speak(
        ast.Concat([ast.Value("Hello "), ast.Var("caller"), ast.Value("!")]), "pl", "anna")])]
    assert block('say "{{literal}}"') == [ast.Play([ast.Speak(ast.Value("{literal}"))])]
    assert block("say digits account") == [ast.Play([ast.SayDigits(ast.Var("account"))])]
    assert block("say number result.balance") == [ast.Play([ast.SayNumber(ast.Var("result.balance"))])]
    assert block("say date now") == [ast.Play([ast.SayDate(ast.Var("now"))])]
    assert block('say "You pressed", say digits key, silence 500ms') == [ast.Play([
        ast.Speak(ast.Value("You pressed")), ast.SayDigits(ast.Var("key")), ast.Silence(0.5)])]


def test_simple_statements():
    assert block("answer", "pause 1.5s", "pause 2m", "hangup busy", "hangup") == [
        ast.Answer(), ast.Pause(1.5), ast.Pause(120.0), ast.Hangup("busy"), ast.Hangup()]
    assert block("set tries = 3", "language pl", "set language = caller_language") == [
        ast.Set("tries", ast.Value(3)), ast.SetLanguage(ast.Value("pl")), ast.SetLanguage(ast.Var("caller_language"))]
    assert block("goto main", "call helper", "return", 'disposition "sold"') == [
        ast.Goto("main"), ast.Gosub("helper"), ast.Return(), ast.Disposition("sold")]


def test_numbers_to_call_are_text():
    assert block("dial 1001", "transfer +48221234567", "voicemail 0048", "dial header.X-Target") == [
        ast.Dial(ast.Value("1001")), ast.Transfer(ast.Value("+48221234567")),
        ast.Voicemail(ast.Value("0048")), ast.Dial(ast.Var("header.X-Target"))]


def test_if_elif_else():
    (statement,) = block('if caller == "100"', "  hangup", "elif not open(hours)", "  hangup busy", "else", "  answer", "end")
    assert statement == ast.If(
        [ast.Branch(ast.Compare("==", ast.Var("caller"), ast.Value("100")), [ast.Hangup()]),
         ast.Branch(ast.Not(ast.IsOpen("hours")), [ast.Hangup("busy")])],
        [ast.Answer()])


def test_collect_with_options_on_lines_and_failure():
    (statement,) = block("collect account digits 6..10", '  terminator "*"', "  timeout 7s", "  inter-digit timeout 3s",
                         "  retries 2", '  pattern "^\\d+$"', "  sensitive", '  prompt "enter"', '  invalid say "No."',
                         "on failure", "  hangup", "end")
    assert statement == ast.Collect(
        "account", [ast.PromptFile("enter")], 6, 10, "*", 7.0, 3.0, 2, r"^\d+$",
        [ast.Speak(ast.Value("No."))], True, [ast.Hangup()])
    (terminated,) = block("collect pin digits 4 terminator none")
    assert terminated.min_digits == terminated.max_digits == 4 and terminated.terminator is None


def test_queue_dial_invoke():
    assert block("queue support priority 5 skills billing, polish timeout 5m") == [
        ast.Queue("support", 5, ["billing", "polish"], 300.0)]
    assert block("dial 1001 timeout 20s caller id caller", "on failure", "  voicemail 1001", "end") == [
        ast.Dial(ast.Value("1001"), 20.0, ast.Var("caller"), [ast.Voicemail(ast.Value("1001"))])]
    assert block("invoke crm.lookup(account = account, tier = \"gold\") into customer timeout 3s",
                 "on error", "  hangup", "end") == [
        ast.Invoke("crm.lookup", {"account": ast.Var("account"), "tier": ast.Value("gold")}, "customer", 3.0, [ast.Hangup()])]
    assert block("invoke audit.ping()") == [ast.Invoke("audit.ping")]


def test_menu():
    text = HEADER + (
        'menu main\n  greeting "long"\n  short greeting "short"\n  reprompt "r1"\n  reprompt "r2", "r3"\n'
        '  invalid "invalid"\n  timeout prompt "no-input"\n  timeout 4s\n  inter-digit timeout 1500ms\n'
        '  max failures 2: hangup\n  max timeouts 4\n    queue support\n  end\n'
        '  key 1: goto billing\n  key "#"\n    back\n  end\n  key *: top\n  key 11: hangup\nend\n')
    (menu,) = parse_dsl(text)[0].sections
    assert menu == ast.Menu(
        "main", [ast.PromptFile("long")],
        [ast.MenuOption("1", [ast.Goto("billing")]), ast.MenuOption("#", [ast.Back()]),
         ast.MenuOption("*", [ast.Top()]), ast.MenuOption("11", [ast.Hangup()])],
        short_greeting=[ast.PromptFile("short")], reprompts=[[ast.PromptFile("r1")], [ast.PromptFile("r2"), ast.PromptFile("r3")]],
        invalid=[ast.PromptFile("invalid")], timeout_prompt=[ast.PromptFile("no-input")], timeout=4.0,
        inter_digit_timeout=1.5, max_failures=2, max_timeouts=4, on_max_failures=[ast.Hangup()],
        on_max_timeouts=[ast.Queue("support")])


def test_max_failures_without_body_is_a_setting():
    text = HEADER + 'menu main\n  greeting "g"\n  max failures 5\n  key 1: hangup\nend\n'
    (menu,) = parse_dsl(text)[0].sections
    assert menu.max_failures == 5 and menu.on_max_failures == []


def test_expressions():
    assert parse_expression('caller in ["100", "200"] and not called == "300" or closed(hours)') == ast.Or([
        ast.And([ast.In(ast.Var("caller"), [ast.Value("100"), ast.Value("200")]),
                 ast.Not(ast.Compare("==", ast.Var("called"), ast.Value("300")))]),
        ast.Not(ast.IsOpen("hours"))])
    assert parse_expression('header.X-Customer-Id matches "^[0-9]+$"') == ast.Matches(ast.Var("header.X-Customer-Id"), "^[0-9]+$")
    assert parse_expression("(a or b) and c") == ast.And([ast.Or([ast.Var("a"), ast.Var("b")]), ast.Var("c")])
    assert parse_expression("a and b and c") == ast.And([ast.Var("a"), ast.Var("b"), ast.Var("c")])
    assert parse_expression("balance >= 1000.5") == ast.Compare(">=", ast.Var("balance"), ast.Value(1000.5))
    assert parse_expression("x in []") == ast.In(ast.Var("x"), [])


def test_keywords_are_still_variable_names_in_expressions():
    assert parse_expression('language == "pl"') == ast.Compare("==", ast.Var("language"), ast.Value("pl"))
    assert block("say number number") == [ast.Play([ast.SayNumber(ast.Var("number"))])]


def test_comments_blank_lines_tabs_and_no_final_newline():
    text = '# a comment\n\nscenario "T"   # trailing\n\tlanguage en\nend\n\n# between\nblock start\n\t\tanswer # hi\n  say "a # is not a comment"\nend'
    scenario, _ = parse_dsl(text)
    assert scenario.sections[0].body == [ast.Answer(), ast.Play([ast.Speak(ast.Value("a # is not a comment"))])]


def test_string_escapes():
    assert block('say "She said \\"hi\\" \\\\ done"') == [ast.Play([ast.Speak(ast.Value('She said "hi" \\ done'))])]


def test_source_map_points_at_each_node_and_named_field():
    text = HEADER + "block start\n  answer\n  if closed(hours)\n    goto main\n  end\nend\n"
    _, source_map = parse_dsl(text, "t.ivr")
    assert source_map.file == "t.ivr"
    assert source_map.positions[("sections", 0)] == Position(4, 1)
    assert source_map.positions[("sections", 0, "name")] == Position(4, 7)
    assert source_map.positions[("sections", 0, "body", 1)] == Position(6, 3)
    assert source_map.positions[("sections", 0, "body", 1, "branches", 0, "condition", "item", "calendar")] == Position(6, 13)
    assert source_map.positions[("sections", 0, "body", 1, "branches", 0, "body", 0, "target")] == Position(7, 10)


def test_variable_inside_text_has_its_own_column():
    _, source_map = parse_dsl(HEADER + 'block start\n  say "Hi {caller}"\nend\n')
    assert source_map.positions[("sections", 0, "body", 0, "prompts", 0, "text", "parts", 1)] == Position(5, 12)


def test_syntax_error_names_file_line_column_and_shows_a_caret():
    with pytest.raises(ScenarioError) as caught:
        parse_dsl(HEADER + "block start\n  paly \"x\"\nend\n", "s.ivr")
    assert str(caught.value) == (
        "s.ivr:5:3: error: unknown statement 'paly'\n"
        "    5 |   paly \"x\"\n"
        "      |   ^\n"
        "  hint: did you mean 'play'?"
    )


def test_a_keyword_never_matches_the_start_of_a_longer_word():
    with pytest.raises(ScenarioError, match="found 'into'"):
        parse_dsl(HEADER + "block start\n  invoke f(a = b into c\nend\n")


def test_load_scenario_refuses_other_extensions(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("scenario")
    with pytest.raises(ScenarioError, match="unknown scenario file type '.txt'"):
        load_scenario(path)


def test_load_scenario_reports_a_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "nope.ivr")


def test_a_thousand_menus_parse_quickly():
    import time as clock  # measuring the test itself, not the parser's business

    text = HEADER + "".join(f'menu m{i}\n  greeting "g"\n  key 1: goto m{i + 1}\n  key 2: hangup\nend\n' for i in range(1000))
    started = clock.perf_counter()
    scenario, _ = parse_dsl(text)
    assert len(scenario.sections) == 1000
    assert clock.perf_counter() - started < 2.0
