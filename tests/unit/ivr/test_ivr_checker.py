"""The checker: the examples are clean; each rule, with and without the PBX's knowledge."""

from pathlib import Path

import pytest

from ivr_dsl import CheckContext, check, load_scenario, parse_dsl, parse_yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "scenarios"
PROMPTS = Path(__file__).parent / "broken" / "prompts"  # holds en/welcome.wav
KNOWN = CheckContext(queues={"support", "billing", "advisers", "sales"},
                     functions={"bank.balance", "survey.record"}, prompt_root=str(PROMPTS))
HEADER = 'scenario "T"\n  language en\nend\n'


def problems(text: str, context: CheckContext | None = KNOWN, severity: str | None = None) -> list[str]:
    scenario, source_map = parse_dsl(text, "t.ivr")
    return [diagnostic.headline() for diagnostic in check(scenario, source_map, context)
            if severity is None or diagnostic.severity == severity]


@pytest.mark.parametrize("name", ["support", "bank", "multilanguage", "survey"])
@pytest.mark.parametrize("form", ["ivr", "yaml"])
def test_examples_have_no_errors(name, form):
    scenario, source_map = load_scenario(EXAMPLES / f"{name}.{form}")
    found = check(scenario, source_map)
    assert [item.format() for item in found if item.is_error] == []
    # Without the PBX config, the only warnings are the queues and functions it cannot know.
    assert all("without the PBX config" in item.message for item in found)
    with_config = check(scenario, source_map, CheckContext(KNOWN.queues, KNOWN.functions))
    assert [item.format() for item in with_config] == []


def test_unknown_queue_is_a_warning_without_config_and_an_error_with_it():
    text = HEADER + "block start\n  answer\n  queue sales\nend\n"
    assert problems(text, None) == ["t.ivr:6:9: warning: cannot tell whether queue 'sales' exists without the PBX config"]
    assert problems(text, CheckContext(queues={"support"})) == ["t.ivr:6:9: error: unknown queue 'sales': not in the PBX config"]


def test_variables_known_to_the_checker():
    text = HEADER.replace("end\n", '  variable greeting = "hi"\nend\n') + (
        'block start\n  answer\n  say "{caller} {called} {caller_name} {language} {now} {date} {time} {weekday} {call_id}"\n'
        '  say "{header.X-Anything} {greeting} {pin} {customer.name} {tries}"\n  collect pin\n'
        '  invoke crm.lookup(pin = pin) into customer\n  set tries = 1\n  hangup\nend\n')
    assert problems(text, CheckContext(functions={"crm.lookup"}), "error") == []


def test_return_inside_a_called_block_is_fine():
    text = HEADER + "block start\n  answer\n  call helper\n  hangup\nend\nblock helper\n  goto more\nend\nblock more\n  return\nend\n"
    assert problems(text) == []


def test_back_and_top_inside_a_menu_are_fine():
    text = HEADER + ('block start\n  answer\n  goto main\nend\nmenu main\n  greeting "welcome"\n  key 1: goto sub\nend\n'
                     'menu sub\n  greeting "welcome"\n  key 1: back\n  key 2: top\nend\n')
    assert problems(text) == []


def test_a_menu_whose_timeouts_hang_up_is_a_way_out():
    text = HEADER + 'block start\n  answer\n  goto main\nend\nmenu main\n  greeting "welcome"\n  max failures 3: goto main\n  key 1: goto main\nend\n'
    assert problems(text) == []  # max timeouts has no body: the call hangs up


def test_a_goto_to_a_missing_menu_is_reported_once():
    text = HEADER + "block start\n  answer\n  goto nowhere\nend\n"
    assert problems(text) == ["t.ivr:6:8: error: unknown block or menu 'nowhere'"]


def test_prompt_directory_from_the_scenario_file_gives_warnings(tmp_path):
    (tmp_path / "prompts" / "en").mkdir(parents=True)
    (tmp_path / "prompts" / "en" / "welcome.wav").write_bytes(b"")
    path = tmp_path / "s.yaml"
    path.write_text("scenario: T\nprompts: prompts\nsections:\n- block: start\n  do: [answer, {play: [welcome, nope]}]\n")
    scenario, source_map = load_scenario(path)
    (diagnostic,) = check(scenario, source_map)
    assert (diagnostic.severity, diagnostic.message, diagnostic.line) == ("warning", "prompt 'nope' has no recording for en", 5)


def test_calendar_edges_that_are_fine():
    text = HEADER + ('calendar c "America/New_York"\n  mon-sun 00:00-24:00\n  holiday 02-29 "Leap day"\n'
                     '  override 2026-07-04 closed\nend\nblock start\n  answer\n  if open(c)\n    hangup\n  end\nend\n')
    assert problems(text) == []


def test_diagnostics_come_in_file_order():
    text = HEADER + "block start\n  answer\n  goto b\n  goto a\nend\n"
    assert [line.split(":")[1] for line in problems(text)] == ["6", "7"]


def test_yaml_checker_positions():
    scenario, source_map = parse_yaml(
        "scenario: T\nsections:\n- block: start\n  do:\n  - answer\n  - if: closed(hours)\n    then: [hangup]\n", "t.yaml")
    assert [item.headline() for item in check(scenario, source_map, KNOWN)] == [
        "t.yaml:6:9: error: unknown calendar 'hours'"]
