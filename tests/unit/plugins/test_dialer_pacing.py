"""The dialer's pacing core: progressive lines, predictive lines from the answer rate and the agents
about to be free, the controller's back-off, the hard cap - and, on a seeded simulated carrier
and 10 agents driving the same core, abandonment at or under 3 % with occupancy at or over 80 %."""

from __future__ import annotations

from plugins.dialer.abandonment import AbandonmentLedger
from plugins.dialer.pacing import Pacer, PacingInputs
from plugins.dialer.simulation import Carrier, simulate


def test_progressive_dials_one_line_per_ready_agent_not_yet_covered():
    pacer = Pacer(0.03)
    assert pacer.progressive(PacingInputs(ready=3, talking=5, ringing=1)).lines == 2
    assert pacer.progressive(PacingInputs(ready=3, ringing=2, waiting=1)).lines == 0
    assert pacer.progressive(PacingInputs(ready=5, max_lines=3, ringing=1)).lines == 2


def test_predictive_dials_more_lines_than_ready_agents_at_a_low_answer_rate():
    pacer = Pacer(0.03, answer_rate=0.25)
    for _ in range(100):  # a measured answer rate of 25 %
        pacer.observe_attempt(live=False)
        pacer.observe_attempt(live=False)
        pacer.observe_attempt(live=False)
        pacer.observe_attempt(live=True, answer_seconds=8.0)
    decision = pacer.predictive(PacingInputs(ready=4, talking=6))
    assert decision.lines > 4 and decision.expected_abandoned <= 0.03 * (decision.lines * decision.answer_rate)
    # agents about to be free count too: fewer ready, but a room of agents in wrap-up
    assert pacer.predictive(PacingInputs(ready=0, wrapping=6)).lines > 0
    assert pacer.predictive(PacingInputs(ready=0)).lines == 0  # nobody staffed, nothing dialled


def test_the_controller_backs_off_as_abandoned_calls_come_and_the_cap_stops_over_dialling():
    pacer = Pacer(0.03, answer_rate=0.25)
    before = pacer.predictive(PacingInputs(ready=2, talking=8)).lines
    for _ in range(3):
        pacer.observe_live_answer(abandoned=True)
    assert pacer.gain < 1.0
    assert pacer.predictive(PacingInputs(ready=2, talking=8)).lines < before
    ledger = AbandonmentLedger(0.03)
    for index in range(30):
        ledger.record(1000.0 + index, abandoned=1.0 if index < 1 else 0.0)  # 1 of 30: 3.3 %, over the cap
    at_cap = Pacer(0.03, answer_rate=0.25).predictive(PacingInputs(ready=2, talking=8, ringing=1),
                                                       windows=ledger.windows(2000.0))
    assert at_cap.lines == 1 and "cap" in at_cap.reason  # one line per ready agent, no more
    assert ledger.over_cap(2000.0).startswith("1 abandoned of 30 live answers in the last 24 h")
    assert ledger.over_cap(2000.0 + 86400.0).endswith("in the last 30 d (3.3%)")
    assert ledger.over_cap(2000.0 + 31 * 86400.0) is None


def test_predictive_pacing_on_a_simulated_carrier_keeps_abandonment_under_3_percent_at_80_percent_occupancy():
    figures = simulate(agents=10, hours=4, seed=7, carrier=Carrier())
    print(f"\npredictive, 10 agents, 4 h: {figures.attempts} attempts, {figures.live_answers} people answered, "
          f"{figures.machines} machines, {figures.abandoned} abandoned + {figures.false_positives} AMD false "
          f"positives = {figures.abandonment:.2%} abandonment, occupancy {figures.occupancy:.1%} "
          f"(the dialer measured {figures.measured_abandonment_24h:.2%}; gain {figures.gain})")
    assert figures.live_answers > 600
    assert figures.abandonment <= 0.03
    assert figures.occupancy >= 0.80
    progressive = simulate(agents=10, hours=1, seed=7, mode="progressive")
    print(f"progressive, 1 h: {progressive.abandonment:.2%} abandonment, occupancy {progressive.occupancy:.1%}")
    assert progressive.abandoned == 0 and progressive.occupancy < figures.occupancy
