"""The interpreter: exact command lists for events fed on a fixed clock."""

from datetime import UTC, datetime

import pytest

from ivr_dsl import ast
from ivr_dsl import commands as cmd
from ivr_dsl.compiler import compile_scenario
from ivr_dsl.interpreter import CALL_DEPTH_LIMIT, Interpreter
from ivr_dsl.parser import parse_dsl

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
TIMEOUT = cmd.Collected("", "timeout")


def key(digits: str) -> cmd.Collected:
    return cmd.Collected(digits, "max_digits")


def interpreter(body: str, variables: dict | None = None, header: str = "") -> Interpreter:
    scenario, _ = parse_dsl(f'scenario "s"\n{header}end\n{body}')
    return Interpreter(compile_scenario(scenario), variables)


def commands(outputs: list) -> list:
    return [output for output in outputs if isinstance(output, cmd.Command)]


def analytics(outputs: list) -> list:
    return [output for output in outputs if isinstance(output, cmd.Analytics)]


def file(name: str, language: str = "en") -> cmd.Recorded:
    return cmd.Recorded(name, language)


MENUS = """
menu main
  greeting "main-long"
  short greeting "main-short"
  invalid "invalid"
  timeout prompt "no-input"
  timeout 4s
  max failures 2
    play "bye"
  end
  max timeouts 2
  key 1: goto sub
  key 2
    play "two"
  end
  key 3: back
  key 42: hangup busy
end

menu sub
  greeting "sub"
  key 1: goto subsub
  key *: back
  key 9: top
end

menu subsub
  greeting "subsub"
  key *: back
  key 9: top
end
"""


def menu_collect(*prompts: str, max_digits: int = 2, timeout: float = 4.0) -> cmd.Collect:
    return cmd.Collect(tuple(file(name) for name in prompts), min_digits=1, max_digits=max_digits, terminator=None,
                       timeout=timeout, inter_digit_timeout=2.0)


def test_start_runs_until_the_first_wait():
    ivr = interpreter('block start\n  answer\n  play "hello", "world"\n  hangup\nend\n')
    assert ivr.position == "s: not started"
    assert ivr.start(NOW) == [cmd.NodeEntered("start", "block"), cmd.Answer(),
                              cmd.Play((file("hello"), file("world")), True)]
    assert ivr.position == "s:start, step 2"
    assert ivr.awaiting == (cmd.PlayFinished, cmd.CallerHungUp)
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.ScenarioExited("hangup", "start"), cmd.Hangup("normal")]
    assert ivr.finished and ivr.position == "s: finished (hangup)" and ivr.awaiting == ()


def test_menu_greeting_then_short_greeting_with_the_invalid_or_timeout_prompt_first():
    ivr = interpreter(MENUS)
    assert ivr.start(NOW) == [cmd.NodeEntered("main", "menu"), menu_collect("main-long")]
    assert ivr.position == "s:main, attempt 1"
    assert ivr.handle(key("7"), NOW) == [cmd.NoMatch("main", "7", 1), menu_collect("invalid", "main-short")]
    assert ivr.position == "s:main, attempt 2"
    assert ivr.handle(TIMEOUT, NOW) == [cmd.NoInput("main", 2), menu_collect("no-input", "main-short")]
    assert ivr.position == "s:main, attempt 3"


def test_max_failures_plays_the_invalid_prompt_then_the_body():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    ivr.handle(key("7"), NOW)
    assert ivr.handle(key("8"), NOW) == [cmd.NoMatch("main", "8", 2), cmd.AttemptsExhausted("main", "failures"),
                                         cmd.Play((file("invalid"),), False)]
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.Play((file("bye"),), True)]
    assert commands(ivr.handle(cmd.PlayFinished(), NOW)) == [cmd.Finished()]
    assert ivr.position == "s: finished (finished)"


def test_max_timeouts_with_an_empty_body_hangs_up():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    ivr.handle(TIMEOUT, NOW)
    assert ivr.handle(TIMEOUT, NOW) == [cmd.NoInput("main", 2), cmd.AttemptsExhausted("main", "timeouts"),
                                        cmd.Play((file("no-input"),), False)]
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.ScenarioExited("hangup", "main"), cmd.Hangup("normal")]


def test_an_option_that_ends_re_enters_the_menu_afresh():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    ivr.handle(TIMEOUT, NOW)  # one timeout, then a good key: the count starts again
    assert ivr.handle(key("2"), NOW) == [cmd.KeyChosen("main", "2"), cmd.Play((file("two"),), True)]
    assert ivr.position == "s:main, step 4"
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.NodeEntered("main", "menu"), menu_collect("main-long")]
    assert ivr.position == "s:main, attempt 1"


def test_multi_digit_keys():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    assert commands(ivr.handle(cmd.Collected("42", "max_digits"), NOW)) == [cmd.Hangup("busy")]


def test_back_and_top_follow_the_menus_visited():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    assert ivr.handle(key("1"), NOW)[-1] == menu_collect("sub", max_digits=1, timeout=5.0)
    assert ivr.handle(key("1"), NOW)[-1] == menu_collect("subsub", max_digits=1, timeout=5.0)
    assert ivr.handle(key("*"), NOW)[1:] == [cmd.NodeEntered("sub", "menu"), menu_collect("sub", max_digits=1, timeout=5.0)]
    assert ivr.handle(key("*"), NOW)[1] == cmd.NodeEntered("main", "menu")
    assert ivr.handle(key("3"), NOW)[1] == cmd.NodeEntered("main", "menu")  # the root's back re-enters it
    ivr.handle(key("1"), NOW)
    ivr.handle(key("1"), NOW)
    assert ivr.handle(key("9"), NOW)[1] == cmd.NodeEntered("main", "menu")
    ivr.handle(key("1"), NOW)
    assert ivr.handle(key("*"), NOW)[1] == cmd.NodeEntered("main", "menu")  # top reset the trail


def test_call_and_return_with_a_goto_inside_the_called_section():
    ivr = interpreter("""
block start
  call helper
  play "after"
  return
end

block helper
  play "helping"
  goto helper2
end

block helper2
  play "still"
end
""")
    assert ivr.start(NOW)[-1] == cmd.Play((file("helping"),), True)
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.NodeEntered("helper2", "block"), cmd.Play((file("still"),), True)]
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.Play((file("after"),), True)]  # end of helper2 returns
    assert ivr.position == "s:start, step 2"
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.ScenarioExited("finished", "start"), cmd.Finished()]


COLLECT = """
block start
  collect pin
    digits 4..6
    terminator "#"
    retries 2
    pattern "[0-9]+"
    prompt "enter-pin"
    invalid "bad-pin"
    {sensitive}
  {failure}
  say digits pin
end
"""


def pin_collect(*prompts: str, sensitive: bool = False) -> cmd.Collect:
    return cmd.Collect(tuple(file(name) for name in prompts), min_digits=4, max_digits=6, terminator="#", timeout=5.0,
                       inter_digit_timeout=3.0, sensitive=sensitive)


def test_collect_success_sets_the_variable():
    ivr = interpreter(COLLECT.format(sensitive="", failure=""))
    assert ivr.start(NOW)[-1] == pin_collect("enter-pin")
    assert ivr.handle(cmd.Collected("123", "terminator"), NOW) == [cmd.NoMatch("start", "123", 1, "pin"),
                                                                  pin_collect("bad-pin", "enter-pin")]
    assert ivr.position == "s:start, step 1, attempt 2"
    assert ivr.handle(cmd.Collected("1234", "terminator"), NOW) == [cmd.Play((cmd.Digits("1234", "en"),), True)]
    assert ivr.variables["pin"] == "1234"


def test_collect_failure_falls_through_without_setting_the_variable():
    ivr = interpreter(COLLECT.format(sensitive="", failure=""))
    ivr.start(NOW)
    ivr.handle(TIMEOUT, NOW)
    outputs = ivr.handle(cmd.Collected("12*4", "terminator"), NOW)  # fails the pattern
    assert outputs == [cmd.NoMatch("start", "12*4", 2, "pin"), cmd.AttemptsExhausted("start", "failures", "pin"),
                       cmd.Play((cmd.Digits("", "en"),), True)]
    assert "pin" not in ivr.variables


def test_collect_on_failure_body_runs():
    ivr = interpreter(COLLECT.format(sensitive="", failure="on failure\n    hangup failure\n  end"))
    ivr.start(NOW)
    ivr.handle(TIMEOUT, NOW)
    assert commands(ivr.handle(TIMEOUT, NOW)) == [cmd.Hangup("failure")]


def test_sensitive_collect_pauses_recording_and_masks_digits():
    ivr = interpreter(COLLECT.format(sensitive="sensitive", failure=""))
    assert ivr.start(NOW)[-2:] == [cmd.PauseRecording(), pin_collect("enter-pin", sensitive=True)]
    assert ivr.handle(cmd.Collected("12", "terminator"), NOW)[0] == cmd.NoMatch("start", "**", 1, "pin")
    assert ivr.handle(cmd.Collected("1234", "terminator"), NOW)[0] == cmd.ResumeRecording()


def test_queue_failure_runs_the_branch_and_success_leaves():
    body = 'block start\n  queue sales priority 2 skills en, vip timeout 1m\n  on failure\n    play "busy"\n  end\n  hangup\nend\n'
    ivr = interpreter(body)
    assert ivr.start(NOW)[-1] == cmd.Enqueue("sales", 2, ("en", "vip"), 60.0)
    assert ivr.handle(cmd.QueueFailed("queues not configured"), NOW) == [cmd.Play((file("busy"),), True)]
    ivr = interpreter(body)
    ivr.start(NOW)
    assert ivr.handle(cmd.QueueJoined(), NOW) == [cmd.ScenarioExited("queue", "start")]
    assert ivr.finished


def test_dial_interpolates_and_fails_over():
    ivr = interpreter('block start\n  dial "1{ext}" timeout 20s caller id caller\n  on failure\n    voicemail ext\n'
                      '  end\n  transfer "sip:op@example.com"\nend\n', {"ext": "001", "caller": "+4812"})
    assert ivr.start(NOW)[-1] == cmd.Dial("1001", 20.0, "+4812")
    assert ivr.handle(cmd.DialFailed("busy"), NOW) == [cmd.Voicemail("001")]
    assert ivr.handle(cmd.VoicemailFailed(), NOW) == [cmd.ScenarioExited("transfer", "start"),
                                                     cmd.Transfer("sip:op@example.com")]
    ivr = interpreter('block start\n  dial "1001" caller id caller\nend\n')
    assert ivr.start(NOW)[-1] == cmd.Dial("1001", 30.0, None)  # an empty caller id is no caller id
    assert ivr.handle(cmd.DialAnswered(), NOW) == [cmd.ScenarioExited("dial", "start")]


def test_functions_return_values_or_run_the_error_branch():
    body = ('block start\n  invoke crm.lookup(number = caller, fixed = 3) into customer timeout 2s\n  on error\n'
            '    set customer = "unknown"\n  end\n  say "Hello {customer.name}"\nend\n')
    ivr = interpreter(body, {"caller": "+4812"})
    assert ivr.start(NOW)[-1] == cmd.CallFunction("crm.lookup", {"fixed": 3, "number": "+4812"}, 2.0)
    assert ivr.handle(cmd.FunctionReturned({"name": "Ada"}), NOW) == [cmd.Play((cmd.Speech("Hello Ada", "en"),), True)]
    ivr = interpreter(body)
    ivr.start(NOW)
    assert ivr.handle(cmd.FunctionFailed("timeout"), NOW) == [cmd.Play((cmd.Speech("Hello ", "en"),), True)]
    assert ivr.variables["customer"] == "unknown"


def test_a_loop_without_a_wait_is_stopped():
    ivr = interpreter("block start\n  set n = 1\n  goto start\nend\n")
    outputs = ivr.start(NOW)
    assert outputs[-1] == cmd.Hangup("failure")
    assert isinstance(outputs[-3], cmd.ScenarioFailed) and "without waiting" in outputs[-3].reason
    assert ivr.finished


def test_runaway_recursion_is_stopped():
    outputs = interpreter("block start\n  call start\nend\n").start(NOW)
    assert outputs[-1] == cmd.Hangup("failure")
    assert f"{CALL_DEPTH_LIMIT} deep" in outputs[-3].reason


def test_events_that_do_not_answer_the_wait_are_our_mistake():
    ivr = interpreter(MENUS)
    with pytest.raises(ValueError, match="before start"):
        ivr.handle(TIMEOUT, NOW)
    ivr.start(NOW)
    with pytest.raises(ValueError, match=r"PlayFinished does not answer the wait at s:main, attempt 1: expected Collected"):
        ivr.handle(cmd.PlayFinished(), NOW)
    with pytest.raises(ValueError, match="twice"):
        ivr.start(NOW)
    ivr.handle(cmd.CallerHungUp(), NOW)
    with pytest.raises(ValueError, match="nothing"):
        ivr.handle(cmd.CallerHungUp(), NOW)


def test_caller_hangup_answers_any_wait():
    ivr = interpreter(MENUS)
    ivr.start(NOW)
    ivr.handle(key("1"), NOW)
    assert ivr.handle(cmd.CallerHungUp(), NOW) == [cmd.ScenarioExited("caller_hangup", "sub")]
    assert ivr.finished and ivr.pending is None


def test_typed_ahead_keys_reach_the_next_collect_only():
    ivr = interpreter('block start\n  play "intro"\n  goto main\nend\n' + MENUS)
    ivr.start(NOW)
    assert ivr.handle(cmd.PlayFinished(interrupted_by="1"), NOW)[-1].typed_ahead == "1"
    ivr = interpreter('block start\n  play "intro"\n  pause 1s\n  goto main\nend\n' + MENUS)
    ivr.start(NOW)
    assert ivr.handle(cmd.PlayFinished(interrupted_by="1"), NOW) == [cmd.Wait(1.0)]
    assert ivr.handle(cmd.WaitFinished(), NOW)[-1].typed_ahead == ""


def test_calendars_are_read_at_the_time_given():
    body = ('calendar hours "Europe/Warsaw"\n  mon-fri 08:00-18:00\nend\n'
            'block start\n  if open(hours)\n    play "open"\n  else\n    play "closed"\n  end\nend\n')
    assert interpreter(body).start(NOW)[-1] == cmd.Play((file("open"),), True)  # 11:00 in Warsaw
    evening = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 18:00 in Warsaw
    assert interpreter(body).start(evening)[-1] == cmd.Play((file("closed"),), True)


def test_language_changes_the_resolved_prompts():
    ivr = interpreter('block start\n  language pl\n  play "hello", silence 500ms\n  say "Hi" in en voice anna, say '
                      'number 5, say date "2026-12-24"\nend\n', header="  languages en, pl\n")
    assert ivr.start(NOW)[-1] == cmd.Play((file("hello", "pl"), cmd.Silence(0.5)), True)
    assert ivr.language == "pl" and ivr.variables["language"] == "pl"
    assert ivr.handle(cmd.PlayFinished(), NOW) == [cmd.Play(
        (cmd.Speech("Hi", "en", "anna"), cmd.Number("5", "pl"), cmd.Date("2026-12-24", "pl")), True)]


def test_variables_defaults_call_values_and_a_read_only_view():
    ivr = interpreter('block start\n  disposition "x"\n  pause 2s\nend\n', {"b": 3},
                      header='  variable a = 1\n  variable b = 2\n')
    assert ivr.start(NOW) == [cmd.NodeEntered("start", "block"), cmd.SetDisposition("x"), cmd.Wait(2.0)]
    assert ivr.variables["a"] == 1 and ivr.variables["b"] == 3
    with pytest.raises(TypeError):
        ivr.variables["a"] = 5  # type: ignore[index]
    assert ivr.handle(cmd.WaitFinished(), NOW)[-1] == cmd.Finished()


def test_return_with_nothing_to_return_to_finishes():
    scenario = ast.Scenario("s", [ast.Block("start", [ast.Return(), ast.Hangup()])])
    ivr = Interpreter(compile_scenario(scenario))
    assert ivr.start(NOW) == [cmd.NodeEntered("start", "block"), cmd.ScenarioExited("finished", "start"), cmd.Finished()]
