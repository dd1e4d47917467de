"""The dialer's configuration: campaigns, their calling windows, retry rules and abandonment cap.

    plugins:
      dialer:
        config:
          tick: 1.0                        # seconds between pacing decisions
          dnc: ["+48600100200"]            # the global do-not-call list (more through the API or CSV)
          campaigns:
            - id: spring
              mode: predictive             # preview | progressive | predictive
              queue: sales                 # the ACD queue whose agents take the answered calls
              connect_to: "700"            # the routed number answered calls go to (that queue, or a scenario)
              caller_id: "+48221234567"
              windows: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "20:00"}]
              max_attempts: 5
              retry: {busy: {after: 10m, times: 3}, no-answer: {after: 2h, times: 3}}
              abandonment_cap: 0.03        # of live answers, per rolling 24 h and per rolling 30 days
              ring_timeout: 20             # seconds, 15 at least
              safe_harbor: "say:Sorry, all our agents are busy. We will call you back."

Decoded by the PBX (msgspec, unknown keys refused, errors with a `$.path`) into `Config`; a
campaign created through the admin API is the same `CampaignSpec`. This module checks shapes
and the legal floors (15 s ring, the 72 h no-redial after an abandoned call); which lead is
dialled when is rules.py's business.
"""

from __future__ import annotations

import re
from datetime import time as time_of_day
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from sdk.durations import Duration, parse_duration

from .leads import LeadProblem, normalise_phone

Mode = Literal["preview", "progressive", "predictive"]
Outcome = Literal["busy", "no-answer", "machine", "abandoned", "failed", "hung-up"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MINIMUM_RING_SECONDS = 15.0  # issue 14: a line rings 15 s at least before the dialer gives up
NO_REDIAL_AFTER_ABANDON = 72 * 3600.0  # issue 14 (Ofcom's policy statement): 72 h after an abandoned call
SAFE_HARBOR_DEADLINE = 2.0  # FCC 47 CFR 64.1200(a)(7)(i): an agent within 2 s of the greeting's end
DEFAULT_CAP = 0.03  # FCC 64.1200(a)(7)(i) (3 % per 30 days) and Ofcom (3 % per 24 h)

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
CampaignId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def parse_clock(text: str) -> time_of_day:
    """"09:00" as a time of day; "24:00" is the end of the day."""
    found = _CLOCK.match(text)
    if not found or (found.group(1) == "24" and found.group(2) != "00"):
        raise ValueError(f"time of day {text!r} is not HH:MM between 00:00 and 24:00")
    hours, minutes = int(found.group(1)), int(found.group(2))
    return time_of_day.max if hours == 24 else time_of_day(hours, minutes)


def _check_numbers(numbers: list[str], where: str) -> None:
    for index, number in enumerate(numbers):
        try:
            normalise_phone(number)
        except LeadProblem as problem:
            raise ValueError(f"{where}[{index}]: {problem}") from None


class Window(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Days and hours a lead may be called, in the lead's own time zone: start <= t < end."""

    days: list[Day] = msgspec.field(default_factory=lambda: list(DAYS))
    start: str = "08:00"
    end: str = "21:00"

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a calling window needs at least one day")
        if parse_clock(self.start) >= parse_clock(self.end):
            raise ValueError(f"calling window {self.start}-{self.end}: start must be before end")


class Retry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """After an attempt with this outcome, dial again `after` later, at most `times` times for this
    outcome (then the lead is finished with it)."""

    after: Duration
    times: int = 1

    def __post_init__(self) -> None:
        parse_duration(self.after)
        if self.times < 0:
            raise ValueError(f"retry times must be 0 or more, got {self.times}")

    @property
    def after_seconds(self) -> float:
        return parse_duration(self.after)


DEFAULT_RETRY: dict[str, Retry] = {
    "busy": Retry(after="10m", times=3),
    "no-answer": Retry(after="2h", times=3),
    "machine": Retry(after="4h", times=2),
    "abandoned": Retry(after="72h", times=1),
    "failed": Retry(after="30m", times=2),
    "hung-up": Retry(after="1h", times=2),
}


class CampaignSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A campaign as the config and the API give it."""

    id: CampaignId
    name: str = ""
    mode: Mode = "progressive"
    queue: str | None = None  # the ACD queue whose agents take the calls; None: a scenario (no agents)
    connect_to: str = ""  # the routed number an answered call goes to (the queue's, or a scenario's)
    caller_id: str | None = None
    windows: list[Window] = msgspec.field(default_factory=lambda: [Window()])
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 5
    retry: dict[Outcome, Retry] = {}
    priority: int = 0  # between campaigns sharing agents: the higher is dialled first
    abandonment_cap: Annotated[float, Meta(gt=0, le=0.5)] = DEFAULT_CAP
    ring_timeout: float = 20.0
    safe_harbor: str = "say:Sorry, all our agents are busy. We will call you again."
    safe_harbor_seconds: Annotated[float, Meta(gt=0, le=60)] = 6.0  # how long it plays before the hang-up
    amd: bool = False  # answering-machine detection on every line
    amd_false_positive_rate: Annotated[float, Meta(ge=0, le=1)] = 0.0  # measured: humans taken for machines
    max_lines: Annotated[int, Meta(ge=1, le=1000)] = 10  # lines at once: the cap, and a scenario campaign's rate
    preview_seconds: Annotated[float, Meta(gt=0, le=3600)] = 60.0  # how long a previewed lead stays offered
    # dispositions (CallDisposition) that are right-party contacts, and conversions
    right_party: list[str] = msgspec.field(default_factory=lambda: ["right-party", "sale"])
    conversion: list[str] = msgspec.field(default_factory=lambda: ["sale"])
    leads: str | None = None  # a CSV file loaded at start-up (docs/dialer.md has its columns)
    dnc: list[str] = []  # this campaign's do-not-call numbers
    paused: bool = False

    def __post_init__(self) -> None:
        if self.ring_timeout < MINIMUM_RING_SECONDS:
            raise ValueError(f"campaign {self.id!r}: ring_timeout {self.ring_timeout:g} s is under the "
                             f"{MINIMUM_RING_SECONDS:g} s minimum ring")
        if not self.connect_to:
            raise ValueError(f"campaign {self.id!r}: connect_to (the number answered calls go to) is missing")
        if self.mode in ("preview", "predictive") and self.queue is None:
            raise ValueError(f"campaign {self.id!r}: {self.mode} mode works with a queue's agents: it needs `queue:`")
        if not self.windows:
            raise ValueError(f"campaign {self.id!r}: at least one calling window is needed")
        _check_numbers(self.dnc, f"campaign {self.id!r}: dnc")
        if not self.safe_harbor.strip():
            raise ValueError(f"campaign {self.id!r}: safe_harbor (the message played when no agent is free) is empty")

    def retry_for(self, outcome: str) -> Retry | None:
        """The rule for `outcome`: the campaign's, else the default. An abandoned call's retry is
        never sooner than the 72 h no-redial."""
        rule = self.retry.get(outcome) or DEFAULT_RETRY.get(outcome)  # type: ignore[call-overload]
        if rule is not None and outcome == "abandoned" and rule.after_seconds < NO_REDIAL_AFTER_ABANDON:
            rule = Retry(after=NO_REDIAL_AFTER_ABANDON, times=rule.times)
        return rule


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tick: Annotated[float, Meta(gt=0, le=60)] = 1.0
    dnc: list[str] = []
    campaigns: list[CampaignSpec] = []

    def __post_init__(self) -> None:
        _check_numbers(self.dnc, "dnc")
        seen: set[str] = set()
        for campaign in self.campaigns:
            if campaign.id in seen:
                raise ValueError(f"two campaigns have the id {campaign.id!r}: ids must be unique")
            seen.add(campaign.id)
