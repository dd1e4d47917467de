"""Dialer reports, folded from the attempt log: attempts, contacts, right-party contacts,
abandonment, conversion - for the campaign, per hour and per agent.

A contact is an attempt that reached an agent (or a campaign's scenario); a right-party contact
and a conversion are contacts whose disposition (CallDisposition, set by the agent's desktop or
the scenario) is in the campaign's `right_party` and `conversion` lists. The abandonment rate is
abandoned calls over live answers (contacts, abandoned calls and people who hung up in the first
2 s), the figure the FCC and Ofcom rules measure. Hours are in `time_zone`. Pure: rows in, a
report out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from .store import Attempt

LIVE_OUTCOMES = frozenset({"contact", "abandoned", "hung-up"})


class Figures(msgspec.Struct, kw_only=True):
    attempts: int = 0
    answered: int = 0  # by anyone or anything (machines too)
    live_answers: int = 0
    contacts: int = 0
    right_party_contacts: int = 0
    conversions: int = 0
    abandoned: int = 0
    machines: int = 0
    busy: int = 0
    no_answer: int = 0
    failed: int = 0
    talk_seconds: float = 0.0
    abandonment_rate: float = 0.0  # abandoned / live answers
    contact_rate: float = 0.0  # contacts / attempts
    conversion_rate: float = 0.0  # conversions / contacts


class Row(msgspec.Struct, kw_only=True):
    key: str  # the hour ("2026-03-02 10:00") or the agent
    figures: Figures


class DialerReport(msgspec.Struct, kw_only=True):
    campaign: str | None
    since: float
    until: float
    time_zone: str
    total: Figures
    hours: list[Row]
    agents: list[Row]


def _add(figures: Figures, attempt: Attempt, right_party: frozenset[str], conversion: frozenset[str]) -> None:
    figures.attempts += 1
    figures.answered += attempt.answered_at is not None
    outcome = attempt.outcome or ""
    figures.live_answers += outcome in LIVE_OUTCOMES
    figures.contacts += outcome == "contact"
    figures.abandoned += outcome == "abandoned"
    figures.machines += outcome == "machine"
    figures.busy += outcome == "busy"
    figures.no_answer += outcome == "no-answer"
    figures.failed += outcome == "failed"
    if outcome == "contact" and attempt.disposition is not None:
        figures.right_party_contacts += attempt.disposition in right_party
        figures.conversions += attempt.disposition in conversion
    figures.talk_seconds = round(figures.talk_seconds + (attempt.talk_seconds or 0.0), 3)


def _rates(figures: Figures) -> Figures:
    figures.abandonment_rate = round(figures.abandoned / figures.live_answers, 4) if figures.live_answers else 0.0
    figures.contact_rate = round(figures.contacts / figures.attempts, 4) if figures.attempts else 0.0
    figures.conversion_rate = round(figures.conversions / figures.contacts, 4) if figures.contacts else 0.0
    return figures


def build_report(attempts: Sequence[Attempt], *, campaign: str | None, since: float, until: float,
                 right_party: Sequence[str], conversion: Sequence[str], time_zone: str = "UTC") -> DialerReport:
    zone = ZoneInfo(time_zone)
    right, converted = frozenset(right_party), frozenset(conversion)
    total = Figures()
    hours: dict[str, Figures] = {}
    agents: dict[str, Figures] = {}
    for attempt in attempts:
        _add(total, attempt, right, converted)
        hour = datetime.fromtimestamp(attempt.started_at, zone).strftime("%Y-%m-%d %H:00")
        _add(hours.setdefault(hour, Figures()), attempt, right, converted)
        if attempt.agent is not None:
            _add(agents.setdefault(attempt.agent, Figures()), attempt, right, converted)
    return DialerReport(campaign=campaign, since=since, until=until, time_zone=time_zone, total=_rates(total),
                        hours=[Row(key=key, figures=_rates(value)) for key, value in sorted(hours.items())],
                        agents=[Row(key=key, figures=_rates(value)) for key, value in sorted(agents.items())])
