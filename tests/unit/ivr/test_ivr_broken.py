"""Golden broken scenarios: each file in broken/ gives the message in its NAME.expected.

The expected line is exact, `file:line:col: severity: message`; the test runs the parser and,
when the file parses, the checker with a context that knows some queues, functions and a
prompt directory (broken/prompts holds en/welcome.wav only).
"""

from pathlib import Path

import pytest

from ivr_dsl import CheckContext, ScenarioError, check, parse_dsl, parse_yaml

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(path for path in BROKEN.iterdir() if path.suffix in (".ivr", ".yaml"))
CONTEXT = CheckContext(queues={"support", "billing"}, functions={"crm.lookup"}, prompt_root=str(BROKEN / "prompts"))


def diagnostics_of(path: Path):
    text = path.read_text(encoding="utf-8")
    parse = parse_dsl if path.suffix == ".ivr" else parse_yaml
    try:
        scenario, source_map = parse(text, path.name)
    except ScenarioError as error:
        return error.diagnostics
    return check(scenario, source_map, CONTEXT)


def test_there_are_enough_cases():
    assert len(CASES) >= 45


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.name)
def test_broken_scenario_gives_the_expected_message(path):
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").strip()
    diagnostics = diagnostics_of(path)
    assert expected in [diagnostic.headline() for diagnostic in diagnostics]
    shown = next(diagnostic for diagnostic in diagnostics if diagnostic.headline() == expected)
    if shown.line <= len(path.read_text(encoding="utf-8").splitlines()):
        # The formatted diagnostic shows the source line with a caret under the column.
        lines = shown.format().splitlines()
        assert lines[1].split("| ", 1)[1] == shown.source_line.rstrip()
        assert lines[2].index("^") == lines[1].index("| ") + 2 + shown.column - 1
