"""Every example in docs/ivr-language.md parses: the manual cannot drift from the grammar.

DSL snippets that are only statements are wrapped in a block, and sections get a header;
the YAML snippet parses as it is. Error-message samples are skipped.
"""

import re
from pathlib import Path

import pytest

from ivr_dsl import parse_dsl, parse_yaml

DOC = Path(__file__).resolve().parents[3] / "docs" / "ivr-language.md"
FENCES = re.findall(r"```(\w*)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
HEADER = 'scenario "Doc"\nend\n'


def as_scenario(snippet: str) -> str:
    first = snippet.lstrip().split(None, 1)[0]
    if first == "scenario":
        return snippet
    if first in ("block", "menu", "calendar"):
        return HEADER + snippet
    return HEADER + "block start\n" + snippet + "end\n"


SNIPPETS = [(kind, text) for kind, text in FENCES if not re.match(r"\S+\.(ivr|yaml):\d", text)]


def test_the_manual_has_examples():
    assert len(SNIPPETS) >= 15


@pytest.mark.parametrize(("kind", "text"), SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_every_example_in_the_manual_parses(kind, text):
    if kind == "yaml":
        parse_yaml(text, "doc.yaml")
    else:
        parse_dsl(as_scenario(text), "doc.ivr")
