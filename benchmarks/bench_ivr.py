"""IVR scenario throughput: parse, check and compile a 1,000-menu scenario; interpreter steps per second.

The generated scenario has MENUS menus (four keys each: two to other menus, one to a block,
one `back`) and MENUS // 4 blocks (a condition on a calendar, a prompt, a goto). The
interpreter figure counts `start` and `handle` calls over many calls that walk the menus
with key presses, answering prompts and failed queues as a controller would.

    .venv/bin/python benchmarks/bench_ivr.py [--menus 1000] [--calls 2000] [--events 50]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from ivr_dsl import commands as cmd
from ivr_dsl.checker import check
from ivr_dsl.compiler import compile_scenario
from ivr_dsl.interpreter import Interpreter
from ivr_dsl.parser import parse_dsl

KEYS = "1231230*"  # the keys a caller presses, in turn


def scenario_text(menus: int) -> str:
    blocks = max(1, menus // 4)
    lines = ['scenario "Generated"', "  language en", "  start menu_0", "end", "",
             'calendar hours "Europe/Warsaw"', "  mon-fri 08:00-18:00", "  holiday 12-25", "end", ""]
    for number in range(menus):
        lines += [
            f"menu menu_{number}",
            f'  greeting say "This is menu {number}. Press 1, 2 or 3."',
            '  short greeting "short"',
            '  invalid "invalid"',
            "  timeout 5s",
            "  max failures 3",
            '    play "goodbye"',
            "    hangup",
            "  end",
            f"  key 1: goto menu_{(number * 7 + 1) % menus}",
            f"  key 2: goto menu_{(number * 13 + 5) % menus}",
            f"  key 3: goto block_{number % blocks}",
            "  key 0: back",
            "end",
            "",
        ]
    for number in range(blocks):
        lines += [
            f"block block_{number}",
            "  if open(hours) and caller matches \"[0-9]+\"",
            f'    say "Block {number} for {{caller}}"',
            "  else",
            '    play "closed"',
            "  end",
            f"  goto menu_{(number * 3 + 2) % menus}",
            "end",
            "",
        ]
    return "\n".join(lines)


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def answer(pending: cmd.Command, presses: int) -> cmd.Event:
    if isinstance(pending, cmd.Collect):
        return cmd.Collected(KEYS[presses % len(KEYS)], "max_digits")
    if isinstance(pending, cmd.Play):
        return cmd.PlayFinished()
    if isinstance(pending, cmd.Enqueue):
        return cmd.QueueFailed("queues not configured")
    return cmd.CallerHungUp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--menus", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=50, help="events per call before the caller hangs up")
    args = parser.parse_args()

    text = scenario_text(args.menus)
    print(f"scenario: {args.menus} menus, {max(1, args.menus // 4)} blocks, {len(text.splitlines())} lines, "
          f"{len(text) / 1024:.0f} KiB")
    (scenario, source_map), parse_seconds = timed(lambda: parse_dsl(text, "generated.ivr"))
    diagnostics, check_seconds = timed(lambda: check(scenario, source_map))
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.is_error]
    assert not errors, errors[0].format()
    program, compile_seconds = timed(lambda: compile_scenario(scenario))
    total = parse_seconds + check_seconds + compile_seconds
    print(f"parse   {parse_seconds * 1000:8.1f} ms")
    print(f"check   {check_seconds * 1000:8.1f} ms  ({len(diagnostics)} warnings)")
    print(f"compile {compile_seconds * 1000:8.1f} ms  ({sum(len(section.code) for section in program.sections)} "
          "instructions)")
    print(f"total   {total * 1000:8.1f} ms")

    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    steps = 0
    started = time.perf_counter()
    for call in range(args.calls):
        interpreter = Interpreter(program, {"caller": "48123456789"})
        interpreter.start(now)
        steps += 1
        presses = call
        for _ in range(args.events):
            if interpreter.finished:
                break
            pending = interpreter.pending
            interpreter.handle(answer(pending, presses), now)
            presses += isinstance(pending, cmd.Collect)
            steps += 1
        if not interpreter.finished:
            interpreter.handle(cmd.CallerHungUp(), now)
            steps += 1
    elapsed = time.perf_counter() - started
    print(f"interpreter: {steps} steps in {elapsed:.2f} s over {args.calls} calls: {steps / elapsed:,.0f} steps/s "
          f"({elapsed / steps * 1e6:.1f} µs/step)")


if __name__ == "__main__":
    main()
