"""The IVR scenario language (DSL and YAML forms). Arrives with its own issue; depends on nothing in pbx."""

from ivr_dsl.checker import CheckContext, check  # noqa: F401
from ivr_dsl.errors import Diagnostic, ScenarioError  # noqa: F401
from ivr_dsl.parser import load_scenario, parse_dsl, parse_expression  # noqa: F401
from ivr_dsl.printer import to_dsl, to_yaml  # noqa: F401
from ivr_dsl.yaml_form import parse_yaml  # noqa: F401
from ivr_dsl.compiler import CompileError, compile_scenario  # noqa: F401
from ivr_dsl.interpreter import Interpreter  # noqa: F401
from ivr_dsl.program import Program  # noqa: F401
from ivr_dsl.simulate import Simulation, simulate  # noqa: F401
