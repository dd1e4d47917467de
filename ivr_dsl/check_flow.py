"""The checker's flow rules: where a call can go, and where it gets stuck.

- a section nothing leads to is unreachable (warning);
- a loop with no exit: from a section, no path reaches a hangup, queue, dial, transfer,
  voicemail, the end of a block, or a menu that hangs up after its retries (warning);
- a menu whose `max timeouts` sends a silent caller back round forever (warning);
- a prompt played before `answer` (warning);
- `return` where no `call` leads (warning).

Each rule is one function of a `Walk` (check_walk.py), which holds the precomputed graph.
What this module does not do: names and values (checker.py).
"""

from __future__ import annotations

from ivr_dsl import ast
from ivr_dsl.check_walk import EXIT_STATEMENTS, Walk
from ivr_dsl.errors import Diagnostic


def _kind(section: ast.Section) -> str:
    return "menu" if isinstance(section, ast.Menu) else "block"


def unreachable_sections(walk: Walk) -> list[Diagnostic]:
    start = walk.start_index()
    if start is None:
        return []
    reached = walk.closure({start})
    return [
        walk.warning(("sections", index, "name"), f"{_kind(section)} '{section.name}' is never reached",
                     "nothing leads to it with goto or call; remove it or add a way in")
        for index, section in enumerate(walk.scenario.sections) if index not in reached
    ]


def return_outside_call(walk: Walk) -> list[Diagnostic]:
    called = {target for targets in walk.calls for target in targets}
    inside = walk.closure(called, follow_calls=False)
    return [
        walk.warning(path, "'return' here has no 'call' to return to; it ends the call",
                     "reach this block with 'call NAME', or use 'hangup'")
        for path, statement, section in walk.statements
        if isinstance(statement, ast.Return) and section not in inside
    ]


def _ends_with_jump(walk: Walk, body: list[ast.Stmt]) -> bool:
    """Does the body end by going to another section? (A goto to no section is reported by
    its own rule and does not count here, so it is not reported twice.)"""
    if not body:
        return False
    last = body[-1]
    return isinstance(last, (ast.Back, ast.Top)) or (isinstance(last, ast.Goto) and last.target in walk.sections)


def _has_exit(walk: Walk, index: int) -> bool:
    """Can the call leave this section other than by going to another section?"""
    section = walk.scenario.sections[index]
    if walk.has_exit_statement[index]:
        return True
    if isinstance(section, ast.Block):
        return not _ends_with_jump(walk, section.body)  # falling off a block's end ends the call
    # After its retries a menu runs on_max_*; an empty body (or one that does not jump) hangs up.
    return not _ends_with_jump(walk, section.on_max_failures) or not _ends_with_jump(walk, section.on_max_timeouts)


def _can_exit(walk: Walk) -> set[int]:
    """Sections from which some path leaves the scenario: a backwards search from the exits."""
    predecessors: list[set[int]] = [set() for _ in walk.scenario.sections]
    for index in range(len(walk.scenario.sections)):
        for target in walk.successors(index):
            predecessors[target].add(index)
    found = {index for index in range(len(walk.scenario.sections)) if _has_exit(walk, index)}
    todo = list(found)
    while todo:
        for source in predecessors[todo.pop()]:
            if source not in found:
                found.add(source)
                todo.append(source)
    return found


def endless_loops(walk: Walk) -> list[Diagnostic]:
    start = walk.start_index()
    if start is None:
        return []
    reached = walk.closure({start})
    trapped = reached - _can_exit(walk)
    # Report where the call falls into the trap, not every section inside it.
    entries = {start} & trapped
    for index in reached - trapped:
        entries |= walk.successors(index) & trapped
    return [
        walk.warning(("sections", index, "name"),
                     f"{_kind(walk.scenario.sections[index])} '{walk.scenario.sections[index].name}' loops with no exit: "
                     "no path from it hangs up, queues, dials or transfers",
                     "give it a way out, e.g. 'max failures 3: hangup'")
        for index in sorted(entries)
    ]


def menus_without_timeout_exit(walk: Walk) -> list[Diagnostic]:
    found = []
    can_exit = _can_exit(walk)
    for index, section in enumerate(walk.scenario.sections):
        body = section.on_max_timeouts if isinstance(section, ast.Menu) else []
        if not _ends_with_jump(walk, body) or any(isinstance(statement, EXIT_STATEMENTS) for statement in body):
            continue
        last = body[-1]
        target = walk.index_of.get(last.target) if isinstance(last, ast.Goto) else None
        if target is None or target == index or target not in can_exit:
            found.append(walk.warning(("sections", index, "on_max_timeouts"),
                                      f"menu '{section.name}' has no way out on timeout: a silent caller goes round forever",
                                      "end 'max timeouts' with hangup, queue, dial or transfer"))
    return found


def answer_before_play(walk: Walk) -> list[Diagnostic]:
    """Follow the first steps from the start: a prompt before `answer` is early media."""
    index, seen = walk.start_index(), set()
    while index is not None and index not in seen:
        seen.add(index)
        section = walk.scenario.sections[index]
        if isinstance(section, ast.Menu):
            return [walk.warning(("sections", index, "greeting"), "the greeting plays before the call is answered",
                                 "start with a block that says 'answer'")]
        next_index = None
        for number, statement in enumerate(section.body):
            if isinstance(statement, ast.Answer):
                return []
            if isinstance(statement, (ast.Play, ast.Collect)):
                return [walk.warning(("sections", index, "body", number), "this plays before the call is answered",
                                     "add 'answer' before it")]
            if isinstance(statement, ast.Goto):
                next_index = walk.index_of.get(statement.target)
                break
        index = next_index
    return []


FLOW_RULES = [unreachable_sections, return_outside_call, endless_loops, menus_without_timeout_exit, answer_before_play]
