"""The dialer on a running PBX: one `Dialer` per PbxApi, the thin adapter around the pure parts.

Every `tick` seconds of the PBX clock (`api.call_later`, so the harness's fake clock drives it)
and whenever an agent becomes available, a dialling round runs in the background
(`api.spawn`, never blocking the loop): for each running campaign, highest priority first, the
pacer (pacing.py) says how many lines, the store hands the due leads, `rules.explain` and the
do-not-call lists are checked again at that moment, and `api.originate` places each call.

The bus tells the rest: CallAnswered (a person on the line, or AMD listening),
MachineDetectionFinished (a machine is hung up on; a person starts the 2 s), AgentConnected
(the call reached an agent), CallEnded (the attempt's outcome, the lead's retry), and
CallDisposition (right-party contacts and conversions). A person left without an agent 2 s
after the answer hears the campaign's safe-harbor message and is hung up on: an abandoned call
(47 CFR 64.1200(a)(7)(i)). Preview mode dials only when an agent accepts a lead (admin API).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

import sdk.events as events
from sdk import ActionRefused, PbxApi
from sdk.events import AgentConnected, AgentStateChanged, CallAnswered, CallDisposition, CallEnded, Event

from .config import SAFE_HARBOR_DEADLINE, CampaignSpec, Config
from .leads import Lead, normalise_phone, read_leads
from .lines import CampaignRun, Line, outcome, pacing_inputs
from .report import LIVE_OUTCOMES
from .rules import Facts, Verdict, after_attempt, explain, order_key
from .store import GLOBAL, Attempt, DialerStore

# Issue 14's answering-machine detection publishes it (pbx/media/amd.py); older PBXs do not.
MachineDetectionFinished = getattr(events, "MachineDetectionFinished", None)
SUBSCRIBED = tuple(kind for kind in (CallAnswered, AgentConnected, CallEnded, CallDisposition, AgentStateChanged,
                                     MachineDetectionFinished) if kind is not None)
MONTH = 30 * 86400.0


class DialerError(Exception):
    """A request the dialer cannot carry out; `field` names the input at fault, `status` the answer."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class Dialer:
    def __init__(self, api: PbxApi) -> None:
        self.api = api
        self.config: Config = api.config if api.config is not None else Config()
        self.store = DialerStore(api.database)
        self.campaigns: dict[str, CampaignRun] = {}
        self.lines: dict[str, Line] = {}
        self.offers: dict[tuple[str, str], tuple[str, float]] = {}  # (campaign, lead) -> (agent, until)
        self._ready: asyncio.Future | None = None
        self._timer: Any = None
        self._dialling = False

    # Life cycle -----------------------------------------------------------------------------------

    async def ready(self) -> None:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._load())
        await asyncio.shield(self._ready)

    async def _load(self) -> None:
        await self.store.migrate()
        now = self.api.now()
        await self.store.add_dnc(map(normalise_phone, self.config.dnc), GLOBAL, now)  # the config checked them
        kept = {spec.id: (spec, state, source) for spec, state, source in await self.store.campaigns()}
        for spec in self.config.campaigns:
            _, state, _ = kept.get(spec.id, (spec, "paused" if spec.paused else "running", "config"))
            kept[spec.id] = (spec, state, "config")  # the config's spec wins; the state (paused) is kept
            await self.store.save_campaign(spec, state, "config", now)
            await self.store.add_dnc(map(normalise_phone, spec.dnc), spec.id, now)
            if spec.leads:
                await self._load_file(spec)
        for spec, state, source in kept.values():
            self.campaigns[spec.id] = CampaignRun(spec, state, source)
        await self._recover(now)

    async def _load_file(self, spec: CampaignSpec) -> None:
        path = Path(spec.leads or "")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            self.api.log.error("event=dialer_leads_unreadable campaign=%s path=%s reason=%r", spec.id, path, str(error))
            return
        result = read_leads(spec.id, text, now=self.api.now())
        for error in result.errors:
            self.api.log.warning("event=dialer_lead_refused campaign=%s where=%s", spec.id, error.where(str(path)))
        added = await self.store.add_leads(result.leads)
        self.api.log.info("event=dialer_leads_loaded campaign=%s path=%s new=%d refused=%d", spec.id, path, added,
                          len(result.errors))

    async def _recover(self, now: float) -> None:
        """Leads left dialling or offered when the PBX stopped; the abandonment of the last 30 days."""
        for run in self.campaigns.values():
            for lead in await self.store.leads_in(run.spec.id, "dialing"):
                await self.store.save_lead(after_attempt(lead, "failed", run.spec, now))
            for lead in await self.store.leads_in(run.spec.id, "offered"):
                await self.store.save_lead(msgspec.structs.replace(lead, status="pending"))
            for attempt in await self.store.attempts(run.spec.id, now - MONTH, now + 1):
                if attempt.outcome in LIVE_OUTCOMES:
                    at = attempt.answered_at or attempt.started_at
                    run.ledger.record(at, abandoned=1.0 if attempt.abandoned else 0.0)
                    if attempt.amd is not None:
                        run.ledger.record(at, live=run.unseen_abandoned, abandoned=run.unseen_abandoned)

    async def start(self) -> None:
        await self.ready()
        self._timer = self.api.call_later(self.config.tick, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for line in self.lines.values():
            line.cancel_timers()

    def _tick(self) -> None:
        self._timer = self.api.call_later(self.config.tick, self._tick)
        self.dial_soon()

    def dial_soon(self) -> None:
        if not self._dialling:
            self._dialling = True
            self.api.spawn(self._round(), name="dialer-round")

    # Dialling -------------------------------------------------------------------------------------

    async def _round(self) -> None:
        try:
            await self.ready()
            now = self.api.now()
            self._expire_offers(now)
            snapshot = self.api.queues()
            agents = list(snapshot.agents) if snapshot is not None else []
            for run in sorted(self.campaigns.values(), key=lambda run: (-run.spec.priority, run.spec.id)):
                if run.state != "running" or run.spec.mode == "preview":
                    continue
                sharing = [line for line in self.lines.values()
                           if self.campaigns[line.campaign].spec.queue == run.spec.queue
                           and (run.spec.queue is not None or line.campaign == run.spec.id)]
                inputs = pacing_inputs(run.spec, agents, sharing)
                decision = run.pacer.predictive(inputs, windows=run.ledger.windows(now)) \
                    if run.spec.mode == "predictive" else run.pacer.progressive(inputs)
                run.last_decision = decision
                if decision.lines > 0:
                    await self._dial_leads(run, decision.lines, now, agents)
        finally:
            self._dialling = False

    async def _dial_leads(self, run: CampaignRun, wanted: int, now: float, agents: list[Any]) -> None:
        leads = sorted(await self.store.due_leads(run.spec.id, now, wanted * 4 + 20), key=order_key)
        placed = 0
        for lead in leads:
            if placed >= wanted:
                return
            connect_to = run.spec.connect_to
            if lead.callback_agent:  # a callback for one agent: only when that agent is ready
                agent = next((a for a in agents if a.name == lead.callback_agent and a.state == "available"), None)
                if agent is None:
                    continue
                connect_to = agent.extension
            placed += await self.dial(run, lead, connect_to, now)

    async def verdict(self, run: CampaignRun, lead: Lead, now: float, *, with_cap: bool = False) -> Verdict:
        """`rules.explain` with the facts looked up now: the DNC lists (at dial time), the cap."""
        scope = await self.store.dnc_scope(lead.phone, run.spec.id)
        cap = run.ledger.over_cap(now) if with_cap and run.spec.mode == "predictive" else None
        if cap is not None:
            cap += ": the campaign dials only one line per ready agent until the rate falls under the cap"
        return explain(lead, run.spec, Facts(campaign_state=run.state, dnc=scope, cap_reached=cap), now)

    async def dial(self, run: CampaignRun, lead: Lead, connect_to: str, now: float) -> bool:
        """Dial one lead if every rule allows it now; False (and the lead's due time moved) if not."""
        verdict = await self.verdict(run, lead, now)
        if not verdict.dialable:
            if verdict.rule == "dnc":
                await self.store.save_lead(msgspec.structs.replace(lead, status="done", last_outcome="dnc"))
            elif verdict.until is not None:
                await self.store.save_lead(lead, due=verdict.until)  # not a candidate again before then
            self.api.log.info("event=dialer_lead_held campaign=%s lead=%s rule=%s", run.spec.id, lead.id, verdict.rule)
            return False
        lead = msgspec.structs.replace(lead, status="dialing", attempts=lead.attempts + 1, last_attempt_at=now)
        await self.store.save_lead(lead)
        try:
            call_id = await self.api.originate(lead.phone, connect_to=connect_to, caller_id=run.spec.caller_id,
                                               amd=run.spec.amd, ring_timeout=run.spec.ring_timeout)
        except ActionRefused as refused:
            self.api.log.warning("event=dialer_dial_refused campaign=%s lead=%s reason=%r", run.spec.id, lead.id,
                                 str(refused))
            await self.store.save_lead(after_attempt(lead, "failed", run.spec, now))
            run.pacer.observe_attempt(live=False)
            return False
        self.lines[call_id] = Line(call_id=call_id, campaign=run.spec.id, lead=lead, started_at=now)
        await self.store.save_attempt(Attempt(call_id=call_id, campaign=run.spec.id, lead=lead.id, phone=lead.phone,
                                              started_at=now))
        return True

    # Preview --------------------------------------------------------------------------------------

    def _expire_offers(self, now: float) -> None:
        for key, (agent, until) in list(self.offers.items()):
            if until <= now:
                del self.offers[key]
                self.api.spawn(self._release_offer(*key), name="dialer-offer-expired")

    async def _release_offer(self, campaign: str, lead_id: str) -> None:
        lead = await self.store.lead(campaign, lead_id)
        if lead is not None and lead.status == "offered":
            await self.store.save_lead(msgspec.structs.replace(lead, status="pending"))

    async def offer(self, run: CampaignRun, agent: str) -> Lead | None:
        """The next lead for `agent` to preview (held for `preview_seconds`), or None."""
        now = self.api.now()
        for lead in sorted(await self.store.due_leads(run.spec.id, now, 50), key=order_key):
            if lead.callback_agent not in (None, agent):
                continue
            if (await self.verdict(run, lead, now)).dialable:
                lead = msgspec.structs.replace(lead, status="offered")
                await self.store.save_lead(lead)
                self.offers[(run.spec.id, lead.id)] = (agent, now + run.spec.preview_seconds)
                return lead
        return None

    async def answer_offer(self, run: CampaignRun, lead_id: str, agent: str, accept: bool) -> str | None:
        """The agent accepts (the lead is dialled and connected to the agent's phone: the call id)
        or skips (the lead goes back to the list)."""
        held = self.offers.get((run.spec.id, lead_id))
        if held is None or held[0] != agent:
            raise DialerError(f"lead {lead_id} is not offered to agent {agent}", "lead", 409)
        del self.offers[(run.spec.id, lead_id)]
        lead = await self.store.lead(run.spec.id, lead_id)
        if lead is None:
            raise DialerError(f"no lead {lead_id} in campaign {run.spec.id}", "lead", 404)
        lead = msgspec.structs.replace(lead, status="pending")
        if not accept:
            await self.store.save_lead(lead)
            return None
        snapshot = self.api.queues()
        found = next((a for a in (snapshot.agents if snapshot else []) if a.name == agent), None)
        if found is None:
            await self.store.save_lead(lead)
            raise DialerError(f"agent {agent} is not known to the queues", "agent", 409)
        before = set(self.lines)
        if not await self.dial(run, lead, found.extension, self.api.now()):
            raise DialerError(f"lead {lead_id} may not be dialled now: ask /why", "lead", 409)
        return next(iter(set(self.lines) - before), None)

    # Events ---------------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        if isinstance(event, AgentStateChanged):
            if event.new == "available":
                self.dial_soon()
            return
        if isinstance(event, CallDisposition):
            await self.ready()
            await self.store.set_disposition(event.call_id, event.value)
            return
        line = self.lines.get(getattr(event, "call_id", ""))
        if line is None:
            return
        run = self.campaigns[line.campaign]
        if isinstance(event, CallAnswered):
            line.answered_at = event.at
            if run.spec.queue is None:  # a scenario takes the call: nobody waits for an agent
                line.connected = True
                self._person(run, line, event.at)
            elif not run.spec.amd:
                self._person(run, line, event.at)
        elif MachineDetectionFinished is not None and isinstance(event, MachineDetectionFinished):
            line.amd_result = event.result
            if event.result == "machine":  # hung up on, even when an agent took it: their time is for people
                line.machine = True
                run.pacer.observe_attempt(live=False)
                self._hang_up(line.call_id)
            elif line.person_at is None:
                self._person(run, line, event.at)  # "human" or unsure: a person until shown otherwise
        elif isinstance(event, AgentConnected):
            line.connected, line.agent = True, event.agent
            if line.person_at is not None and line.abandoned_at is None:
                line.cancel_timers()
                run.ledger.record(event.at)
                run.pacer.observe_live_answer(abandoned=False)
        elif isinstance(event, CallEnded):
            await self._ended(run, self.lines.pop(line.call_id), event)

    def _person(self, run: CampaignRun, line: Line, at: float) -> None:
        """A person is on the line from `at`: an agent within 2 s, or the safe-harbor message."""
        line.person_at = at
        run.pacer.observe_attempt(live=True, answer_seconds=at - line.started_at)
        if run.unseen_abandoned:
            run.ledger.record(at, live=run.unseen_abandoned, abandoned=run.unseen_abandoned)
        if line.connected:
            if run.spec.queue is not None:
                run.ledger.record(at)
                run.pacer.observe_live_answer(abandoned=False)
            return
        delay = max(0.0, at + SAFE_HARBOR_DEADLINE - self.api.now())
        line.timers.append(self.api.call_later(delay, lambda: self._deadline(line.call_id)))

    def _deadline(self, call_id: str) -> None:
        line = self.lines.get(call_id)
        if line is None or line.connected or line.abandoned_at is not None:
            return
        run = self.campaigns[line.campaign]
        line.abandoned_at = self.api.now()
        run.ledger.record(line.abandoned_at, abandoned=1.0)
        run.pacer.observe_live_answer(abandoned=True)
        self.api.log.warning("event=dialer_abandoned campaign=%s lead=%s call_id=%s", run.spec.id, line.lead.id,
                             call_id)
        try:
            self.api.play(call_id, [run.spec.safe_harbor])
        except ActionRefused as refused:
            self.api.log.warning("event=dialer_safe_harbor_not_played call_id=%s reason=%r", call_id, str(refused))
            self._hang_up(call_id)
            return
        line.timers.append(self.api.call_later(run.spec.safe_harbor_seconds, lambda: self._after_message(call_id)))

    def _after_message(self, call_id: str) -> None:
        line = self.lines.get(call_id)
        if line is not None and not line.connected:  # an agent who took it meanwhile keeps it
            self._hang_up(call_id)

    def _hang_up(self, call_id: str) -> None:
        try:
            self.api.hang_up(call_id)
        except ActionRefused:
            pass  # already over: its CallEnded settles the attempt

    async def _ended(self, run: CampaignRun, line: Line, event: CallEnded) -> None:
        line.cancel_timers()
        result = outcome(line, event.cause)
        if line.answered_at is None:
            run.pacer.observe_attempt(live=False)
        if result == "hung-up" and line.person_at is not None:
            run.ledger.record(event.at)  # a live answer that was not abandoned
        if result == "contact":
            run.pacer.observe_handling(talk_seconds=event.talk_seconds)
        await self.ready()
        lead = after_attempt(line.lead, result, run.spec, line.abandoned_at or event.at)
        await self.store.save_lead(lead)
        await self.store.save_attempt(Attempt(
            call_id=line.call_id, campaign=run.spec.id, lead=lead.id, phone=lead.phone, started_at=line.started_at,
            answered_at=line.answered_at, ended_at=event.at, outcome=result, agent=line.agent,
            abandoned=result == "abandoned", amd=line.amd_result, talk_seconds=event.talk_seconds))
        self.dial_soon()
