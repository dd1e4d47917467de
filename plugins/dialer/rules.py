"""Which lead may be dialled now, why one may not, and what an attempt's outcome does to a lead.

`explain(lead, campaign, facts, now)` answers "why was this lead not dialled now" with the first
rule that holds it back, in the order a compliance officer reads them: the do-not-call lists,
the campaign's state, the lead's own state, the 72 h no-redial after an abandoned call, a
callback scheduled later, the retry delay, the calling window, the abandonment cap. Each
verdict names the rule and, where there is one, the time it lifts (`until`). The dialer asks
the same function before every dial, so the explanation is the decision, not a description of it.

`after_attempt(lead, outcome, campaign, now)` applies the campaign's retry rules. Pure: no
clock, no database (the adapter looks up the facts: DNC membership, the abandonment figures).
"""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec

from .config import NO_REDIAL_AFTER_ABANDON, CampaignSpec
from .leads import Lead
from .windows import is_open, local_time, opens_at

CONTACT = "contact"  # an answered call that reached an agent (or a scenario): the lead is done
RULES = ("ready", "dnc", "campaign-paused", "campaign-stopped", "in-progress", "finished", "max-attempts",
         "abandoned-72h", "callback-later", "retry-delay", "outside-window", "abandonment-cap")


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the adapter knows about a lead beyond its row."""

    campaign_state: str = "running"  # running | paused | stopped
    dnc: str | None = None  # "global" or "campaign" when the number is on a do-not-call list
    cap_reached: str | None = None  # the abandonment figure over the cap, said in words, or None


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the lead may be dialled now; if not, the rule that holds it back and until when."""

    lead: str
    dialable: bool
    rule: str  # one of RULES
    message: str
    until: float | None = None  # when the rule stops holding it (None: not by itself)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def explain(lead: Lead, campaign: CampaignSpec, facts: Facts, now: float) -> Verdict:
    def held(rule: str, message: str, until: float | None = None) -> Verdict:
        return Verdict(lead=lead.id, dialable=False, rule=rule, message=message, until=until)

    if facts.dnc is not None:
        return held("dnc", f"{lead.phone} is on the {facts.dnc} do-not-call list: it is never dialled")
    if facts.campaign_state == "stopped":
        return held("campaign-stopped", f"campaign {campaign.id} is stopped")
    if facts.campaign_state == "paused":
        return held("campaign-paused", f"campaign {campaign.id} is paused")
    if lead.status in ("dialing", "offered"):
        return held("in-progress", f"lead {lead.id} is being {'dialled' if lead.status == 'dialing' else 'previewed'}"
                    " now")
    if lead.status == "done":
        return held("finished", f"lead {lead.id} is finished (last outcome: {lead.last_outcome or 'none'})")
    if lead.attempts >= campaign.max_attempts:
        return held("max-attempts", f"lead {lead.id} had {lead.attempts} attempts, the campaign's maximum is "
                    f"{campaign.max_attempts}")
    if lead.abandoned_at is not None and now < lead.abandoned_at + NO_REDIAL_AFTER_ABANDON:
        until = lead.abandoned_at + NO_REDIAL_AFTER_ABANDON
        return held("abandoned-72h", f"a call to {lead.phone} was abandoned at {_when(lead.abandoned_at)}: no redial "
                    f"for 72 h, until {_when(until)}", until)
    if lead.callback_at is not None and now < lead.callback_at:
        return held("callback-later", f"a callback is scheduled at {_when(lead.callback_at)}"
                    + (f" for agent {lead.callback_agent}" if lead.callback_agent else ""), lead.callback_at)
    if lead.next_at is not None and now < lead.next_at:
        return held("retry-delay", f"the last attempt ended {lead.last_outcome}: the retry rule waits until "
                    f"{_when(lead.next_at)}", lead.next_at)
    if not is_open(campaign.windows, lead.time_zones, now):
        opening = opens_at(campaign.windows, lead.time_zones, now)
        where = f"local time {local_time(lead.time_zones, now)}"
        if opening is None:
            return held("outside-window", f"outside the calling window ({where}); it does not open in the next "
                        "week in every one of the lead's time zones")
        return held("outside-window", f"outside the calling window ({where}); it opens at {_when(opening)}", opening)
    if facts.cap_reached is not None:
        return held("abandonment-cap", f"campaign {campaign.id} reached its abandonment cap "
                    f"({campaign.abandonment_cap:.1%}): {facts.cap_reached}")
    message = "may be dialled now"
    if lead.callback_agent:
        message += f" (a callback for agent {lead.callback_agent}: when that agent is ready)"
    return Verdict(lead=lead.id, dialable=True, rule="ready", message=message)


def after_attempt(lead: Lead, outcome: str, campaign: CampaignSpec, now: float) -> Lead:
    """The lead after an attempt ended with `outcome` (CONTACT or a config Outcome)."""
    counts = dict(lead.outcome_counts)
    counts[outcome] = counts.get(outcome, 0) + 1
    changes: dict = {"outcome_counts": counts, "last_outcome": outcome, "status": "pending", "next_at": None,
                     "callback_at": None, "callback_agent": None}
    if outcome == "abandoned":
        changes["abandoned_at"] = now
    rule = None if outcome == CONTACT else campaign.retry_for(outcome)
    if outcome == CONTACT or rule is None or counts[outcome] > rule.times or lead.attempts >= campaign.max_attempts:
        changes["status"] = "done"
    else:
        changes["next_at"] = now + rule.after_seconds
    return msgspec.structs.replace(lead, **changes)


def order_key(lead: Lead) -> tuple:
    """Which dialable lead goes first: due callbacks, then priority, then the one waiting longest
    (fewest attempts first among equals)."""
    return (0 if lead.callback_at is not None else 1, -lead.priority, lead.attempts,
            lead.next_at or lead.created_at, lead.id)
