"""Click to call as a scenario: a phone the PBX rang and that answered is connected to an extension
by the IVR's own `dial` (ringback while it rings, the bridge when it answers, a spoken apology
when it does not). `api.originate(number, connect_to=<extension>)` runs it.
"""

from __future__ import annotations

from ivr_dsl.compiler import compile_scenario
from ivr_dsl.parser import parse_dsl

from .library import ScenarioVersion

CLICK_TO_CALL = """\
scenario "Click to call"
end

block start
  dial "{number}" timeout 30s
  on failure
    say "The number you called is not available."
  end
end
"""


def click_to_call(number: str) -> ScenarioVersion:
    """The scenario a call placed for a plugin runs to connect its phone to extension `number`."""
    scenario, _ = parse_dsl(CLICK_TO_CALL.format(number=number), "<click to call>")
    return ScenarioVersion(name="click-to-call", title="Click to call", path="<built-in>", version=1, digest="",
                           program=compile_scenario(scenario), language="en", prompts=None)
