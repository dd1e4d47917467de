"""The simulator on every example's main paths, with a fixed clock in the calendars' zones."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr_dsl.commands import FunctionFailed
from ivr_dsl.compiler import compile_scenario
from ivr_dsl.parser import load_scenario
from ivr_dsl.simulate import Simulation, SimulationInputError, simulate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
WARSAW = ZoneInfo("Europe/Warsaw")
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=WARSAW)
BALANCE = {"found": True, "amount": 1234.5, "currency": "EUR", "last_payment": 200, "last_payment_date": "2026-11-02"}


@pytest.fixture(params=["ivr", "yaml"])
def form(request):
    return request.param


def program(stem: str, form: str = "ivr"):
    scenario, _ = load_scenario(EXAMPLES / f"{stem}.{form}")
    return compile_scenario(scenario)


def run(stem: str, form: str, inputs: list[str], at: datetime = MONDAY_MORNING, **options) -> list[str]:
    return simulate(program(stem, form), inputs, options.pop("variables", {"caller": "+48123"}), at=at, **options)


def test_support_during_hours_billing_then_back_then_support_queue(form):
    assert run("support", form, ["1", "*", "2", "ok"]) == [
        "[start] · enter block start",
        "[start] answer",
        "[start, step 2] play welcome (en)",
        "[main] · enter menu main",
        ("[main, attempt 1] collect 1 digit, 5s: say 'For billing, press 1. For technical support, press 2. "
        "To speak to the operator, press 0.' (en)"),
        "> 1",
        "[main] · key 1",
        "[billing] · enter menu billing",
        ("[billing, attempt 1] collect 1 digit, 4s: say 'For your last invoice, press 1. To pay by card, press 2. "
        "To go back, press star. For the main menu, press 9.' (en)"),
        "> *",
        "[billing] · key *",
        "[main] · enter menu main",
        ("[main, attempt 1] collect 1 digit, 5s: say 'For billing, press 1. For technical support, press 2. "
        "To speak to the operator, press 0.' (en)"),
        "> 2",
        "[main] · key 2",
        "[main, step 4] play please-hold (en)",
        "[main, step 5] queue support (priority 5; skills technical; timeout 600s)",
        "> ok",
        "[main] · exit: queue",
    ]


@pytest.mark.parametrize(("at", "open_"), [
    (datetime(2026, 11, 23, 10, 0, tzinfo=WARSAW), True),  # Monday morning
    (datetime(2026, 11, 23, 17, 30, tzinfo=UTC), False),  # 18:30 in Warsaw
    (datetime(2026, 11, 23, 16, 30, tzinfo=UTC), True),  # 17:30 in Warsaw
    (datetime(2026, 11, 28, 12, 59, tzinfo=WARSAW), True),  # Saturday
    (datetime(2026, 11, 29, 10, 0, tzinfo=WARSAW), False),  # Sunday
    (datetime(2026, 12, 24, 13, 0, tzinfo=WARSAW), True),  # Christmas Eve override, until 14:00
    (datetime(2026, 12, 24, 19, 0, tzinfo=WARSAW), False),
    (datetime(2026, 12, 25, 10, 0, tzinfo=WARSAW), False),  # holiday
    (datetime(2027, 12, 27, 10, 0, tzinfo=WARSAW), True),  # a Monday, no holiday
    (datetime(2027, 1, 1, 10, 0, tzinfo=WARSAW), False),  # yearly holiday
    (datetime(2026, 12, 31, 10, 0, tzinfo=WARSAW), False),  # closed override
    (datetime(2026, 7, 6, 6, 30, tzinfo=UTC), True),  # 08:30 CEST
    (datetime(2026, 7, 6, 5, 30, tzinfo=UTC), False),  # 07:30 CEST
])
def test_support_hours(form, at, open_):
    lines = run("support", form, [], at=at)
    closed = "[start] disposition closed" in lines
    assert closed is not open_
    if closed:
        assert lines[-1] == "[start] hangup (normal)"
    else:
        assert lines[-1] == "[main] · exit: caller_hangup"


def test_support_gold_customers_go_to_the_priority_queue_and_fall_back_to_the_menu(form):
    lines = run("support", form, ["fail", "0", "busy"], variables={"header": {"X-Customer-Tier": "gold"}})
    assert "[start, step 11] queue support (priority 10; skills gold)" in lines
    assert lines[lines.index("> fail") + 1] == "[main] · enter menu main"
    assert "[main, step 10] dial 1001 (20s)" in lines
    # a failed dial with no branch re-enters the menu
    assert lines[lines.index("> busy") + 1] == "[main] · enter menu main"


def test_support_silent_caller_is_queued_after_three_timeouts(form):
    lines = run("support", form, ["timeout", "timeout", "timeout", "ok"])
    assert "[main] · too many timeouts" in lines
    assert lines[-3:] == ["[main, step 20] queue support (priority 0)", "> ok", "[main] · exit: queue"]


def test_support_three_wrong_keys_say_goodbye(form):
    lines = run("support", form, ["7", "8", "9"])
    assert lines[-6:] == [
        "[main] · no match 9 (attempt 3)",
        "[main] · too many failures",
        "[main, step 14] play invalid (en) (no barge-in)",
        "[main, step 15] play goodbye (en)",
        "[main] · exit: hangup",
        "[main] hangup (normal)",
    ]


def test_bank_balance_path(form):
    lines = run("bank", form, ["12", "12345678#", "2", "0", "ok"], functions={"bank.balance": BALANCE})
    assert "[start] pause recording" in lines
    assert "[start] · no match ** for account (attempt 1)" in lines
    assert "[start, step 6] call bank.balance(account='12345678', caller='+48123'), 3s" in lines
    assert any("number 1234.5 (en), say 'EUR.' (en), silence 0.5s" in line for line in lines)
    assert ("[balance_menu, step 4] say 'Your last payment of' (en), number 200 (en), say 'was made on' (en), "
            "date 2026-11-02 (en)") in lines
    assert "[balance_menu, step 5] wait 1s" in lines
    assert lines[-5:] == ["[agent] disposition needs-adviser", "[agent, step 2] play please-hold (en)",
                          "[agent, step 3] queue advisers (priority 3; skills banking; timeout 900s)",
                          "> ok", "[agent] · exit: queue"]


def test_bank_service_down_goes_to_an_adviser(form):
    lines = run("bank", form, ["1234567#", "fail:closed"], functions={"bank.balance": FunctionFailed("timeout")})
    assert "[start, step 7] say 'Our account service is not available right now.' (en)" in lines
    assert lines[-3:] == ["[agent, step 5] play goodbye (en)", "[agent] · exit: hangup", "[agent] hangup (busy)"]


def test_bank_unknown_account(form):
    lines = run("bank", form, ["1234567#", "hangup"], functions={"bank.balance": {"found": False}})
    assert "[start, step 10] say 'We could not find that account.' (en)" in lines


def test_bank_function_result_typed_in(form):
    lines = run("bank", form, ["1234567#", '{"found": false}', "hangup"])
    assert "[start, step 10] say 'We could not find that account.' (en)" in lines


def test_survey_promoter(form):
    lines = run("survey", form, ["5", "10#", "ok"])
    assert "[start, step 6] play you-pressed (en), digits 5 (en)" in lines
    assert "[start] disposition promoter" in lines
    assert lines[-2:] == ["[goodbye] · exit: hangup", "[goodbye] hangup (normal)"]


def test_survey_unhappy_caller_and_a_failed_save(form):
    lines = run("survey", form, ["1", "3#"], functions={"survey.record": FunctionFailed("down")})
    assert "[start] disposition detractor" in lines
    assert any("A team leader will call you back." in line for line in lines)


def test_survey_incomplete_after_two_bad_scores(form):
    lines = run("survey", form, ["9", "timeout"])
    assert "[start] · no match 9 for csat (attempt 1)" in lines
    assert "[start] disposition survey-incomplete" in lines
    assert lines[-1] == "[goodbye] hangup (normal)"


def test_multilanguage_choice_sets_the_language(form):
    lines = run("multilanguage", form, ["2", "2", "ok"])
    assert "[main_pl] · enter menu main_pl" in lines
    assert "[main_pl, step 4] queue support (priority 0; skills polish)" in lines
    assert lines[3] == ("[choose_language, attempt 1] collect 1 digit, 4s: say 'For English, press 1.' (en), "
                        "say 'Aby kontynuować po polsku, naciśnij 2.' (pl)")


def test_multilanguage_header_skips_the_question(form):
    lines = run("multilanguage", form, ["1", "ok"], variables={"header": {"Accept-Language": "pl-PL,pl;q=0.9"}})
    assert "[choose_language] · enter menu choose_language" not in lines
    assert "[main_pl, step 2] queue sales (priority 0; skills polish)" in lines


def test_multilanguage_silence_defaults_to_english(form):
    lines = run("multilanguage", form, ["timeout", "timeout", "2", "fail", "hangup"])
    assert "[main_en] · enter menu main_en" in lines
    assert lines[lines.index("> fail") + 1] == "[main_en] · enter menu main_en"  # no branch: back to the menu


def test_the_clock_moves_with_pauses_and_timeouts():
    simulation = Simulation(program("support"), at=MONDAY_MORNING)
    simulation.start()
    simulation.feed("timeout")
    assert (simulation.now - MONDAY_MORNING).total_seconds() == 5


def test_inputs_are_checked_and_leftovers_reported():
    simulation = Simulation(program("support"), at=MONDAY_MORNING)
    simulation.start()
    with pytest.raises(SimulationInputError, match="not a key press"):
        simulation.feed("one")
    simulation.feed("2")
    with pytest.raises(SimulationInputError, match="does not answer queue support"):
        simulation.feed("5")
    lines = simulate(program("support"), ["hangup", "1", "2"], at=MONDAY_MORNING)
    assert lines[-1] == "(inputs not used: 1, 2)"


def test_terminators_and_inter_digit_timeouts():
    lines = simulate(program("survey"), ["3", "7"], at=MONDAY_MORNING, functions={"survey.record": True})
    # "7" with no terminator and fewer than 2 digits ends by inter-digit timeout and is accepted
    assert "[start] disposition passive" in lines


def test_a_scenario_that_plays_forever_is_stopped():
    from ivr_dsl.parser import parse_dsl

    scenario, _ = parse_dsl('scenario "s"\nend\nblock start\n  play "x"\n  goto start\nend\n')
    lines = simulate(compile_scenario(scenario), [], at=MONDAY_MORNING)
    assert "(simulation stopped: 1000 steps without input; the caller hangs up)" in lines
    assert lines[-1] == "[start] · exit: caller_hangup"
