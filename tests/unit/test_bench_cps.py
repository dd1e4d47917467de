"""The pure parts of benchmarks/bench_cps.py: reading sipp's statistics, counts and response-time
files (in the shapes sipp 3.6.1 writes them), percentiles, the strict score and the table."""

from __future__ import annotations

import math

import pytest

from benchmarks.bench_cps import (
    SippTotals, Step, Verdict, compare, format_table, maximum_rate, percentile, read_late_ringing,
    read_setup_times_ms, read_sipp_totals, score,
)

STAT_HEADER = ("StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);"
               "CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;"
               "CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);Retransmissions(P);"
               "Retransmissions(C);")
STAMP = "2026-12-06\t23:58:05.171224\t1796601485.171224"


def stat_line(successful: int, failed: int, retransmissions: int) -> str:
    return (f"{STAMP};{STAMP};{STAMP};00:00:01;00:00:05;20;0;11.9;0;0;0;60;60;0;"
            f"0;{successful};0;{failed};0;{retransmissions};")


def test_sipp_totals_come_from_the_last_line() -> None:
    text = "\n".join([STAT_HEADER, stat_line(0, 0, 0), stat_line(40, 1, 3), stat_line(58, 2, 7)]) + "\n"
    assert read_sipp_totals(text) == SippTotals(successful=58, failed=2, retransmissions=7)


def test_a_statistics_file_without_data_is_an_error() -> None:
    with pytest.raises(ValueError, match="no data line"):
        read_sipp_totals(STAT_HEADER + "\n")


def test_setup_times_keep_the_setup_timer_only() -> None:
    text = "Date_ms;response_time_ms;rtd_no\n64.001;12;setup\n112.001;8;setup\n1070.002;1;bye\n"
    assert read_setup_times_ms(text) == [12.0, 8.0]


COUNTS_HEADER = ("CurrentTime;ElapsedTime;0_INVITE_Sent;0_INVITE_Retrans;0_INVITE_Timeout;1_180_Recv;"
                 "1_180_Retrans;1_180_Timeout;1_180_Unexp;2_UNREACHABLE_Recv;2_UNREACHABLE_Retrans;"
                 "2_UNREACHABLE_Timeout;2_UNREACHABLE_Unexp;3_100_Recv;3_100_Retrans;3_100_Timeout;3_100_Unexp;"
                 "4_180_Recv;4_180_Retrans;4_180_Timeout;4_180_Unexp;5_200_Recv;")


def test_late_ringing_is_the_180_before_the_unreachable_recv() -> None:
    rows = [f"{STAMP};00:00:01:005000;20;0;0;0;0;0;0;0;0;0;0;20;0;0;0;20;0;0;0;19;",
            f"{STAMP};00:00:02:005000;60;0;0;3;0;0;0;0;0;0;0;60;0;0;0;57;0;0;0;60;"]
    assert read_late_ringing("\n".join([COUNTS_HEADER, *rows])) == 3
    assert read_late_ringing(COUNTS_HEADER + "\n") == 0


def test_counts_of_another_scenario_are_refused() -> None:
    with pytest.raises(ValueError, match="UNREACHABLE"):
        read_late_ringing("CurrentTime;0_INVITE_Sent;1_180_Recv;2_200_Recv;\nx;1;1;1;\n")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_a_step_passes_up_to_one_call_in_a_thousand() -> None:
    assert score(2000, SippTotals(1998, 2, 0), 1998) == Verdict(True, "")
    assert score(2000, SippTotals(1997, 3, 0), 2000) == Verdict(
        False, "3 failed + 0 unfinished of 2000 calls (> 0.1%)")


def test_unfinished_calls_count_as_failed() -> None:
    assert score(2000, SippTotals(1996, 1, 0), 2000) == Verdict(
        False, "1 failed + 3 unfinished of 2000 calls (> 0.1%)")


def test_the_callee_must_complete_nine_hundred_ninety_nine_in_a_thousand() -> None:
    assert score(2000, SippTotals(2000, 0, 0), 1997) == Verdict(
        False, "the callee completed 1997 of 2000 calls (< 99.9%)")


def step(rate: int, passed: bool = True, cpu_seconds: float = 1.0, late: int = 0) -> Step:
    calls = rate * 10
    return Step(rate=rate, calls=calls, caller=SippTotals(calls, 0, 4), callee_completed=calls,
                callee_retransmissions=1, wall_seconds=11.0, cpu_seconds=cpu_seconds, setup_p50_ms=3.0,
                setup_p99_ms=12.0, peak_rss_mb=80.4, late_ringing=late,
                verdict=Verdict(passed, "" if passed else "the callee completed 1 of 2 calls (< 99.9%)"))


def test_the_maximum_stops_at_the_first_failing_step() -> None:
    assert maximum_rate([step(100), step(200), step(300, passed=False), step(400)]) == 200
    assert maximum_rate([step(100, passed=False)]) == 0


def test_the_table_has_one_row_per_step() -> None:
    table = format_table([step(100, cpu_seconds=2.2), step(200, passed=False, late=2)])
    assert table.splitlines()[2:] == [
        "| 100 | yes | 2,200 | 20% | 0% | 3 / 12 | 80 | 5 | 0 |",
        "| 200 | **no**: the callee completed 1 of 2 calls (< 99.9%) | 500 | 9% | 0% | 3 / 12 | 80 | 5 | 2 |",
    ]


def test_the_ratios_compare_maximum_rates_and_cpu_at_the_highest_rate_both_passed() -> None:
    pbx = [step(100, cpu_seconds=1.0), step(200, cpu_seconds=2.0), step(300, cpu_seconds=3.0)]
    sippy = [step(100, cpu_seconds=2.0), step(200, cpu_seconds=8.0), step(300, passed=False)]
    assert compare(pbx, sippy) == ("maximum rate PBX 300 / Sippy 200 calls/s: 1.50; "
                                   "CPU per call at 200 calls/s PBX 1,000 / Sippy 4,000 us: 0.25")
