"""The dialer on the admin API, served by the PBX under /api/plugins/dialer:

    GET  /campaigns                                   campaigns with their state, leads and abandonment
    POST /campaigns                    CampaignSpec   create one (201)
    GET  /campaigns/{campaign}                        one campaign
    PUT  /campaigns/{campaign}         CampaignSpec   replace its spec (the id must match)
    POST /campaigns/{campaign}/pause | resume | stop
    POST /campaigns/{campaign}/leads   {csv}          add leads from CSV text: a per-line error report
    GET  /campaigns/{campaign}/leads/{lead}           one lead
    GET  /campaigns/{campaign}/leads/{lead}/why       why it is not dialled now (the rule, until when)
    POST /campaigns/{campaign}/leads/{lead}/callback  {at, agent}   schedule a callback
    POST /campaigns/{campaign}/preview {agent}        offer the agent the next lead (preview mode)
    POST /campaigns/{campaign}/leads/{lead}/accept | skip  {agent}
    GET  /campaigns/{campaign}/report?since=&until=&time_zone=
    GET  /dnc?campaign=   POST /dnc {numbers, campaign}   DELETE /dnc/{number}?campaign=

Reads for READERS; changes for SUPERVISORS; preview for agents too (their own name only).
Bad input is a 400 naming the field, an unknown campaign or lead a 404, a state that does not
allow the change a 409.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from sdk.admin import AGENTS, READERS, SUPERVISORS, ApiFailure, ApiRequest, Endpoint, bad_input, conflict, \
    endpoint, not_found

from .abandonment import AbandonmentFigures
from .config import CampaignSpec
from .leads import Lead, LeadProblem, normalise_phone, parse_when, read_leads
from .lines import CampaignRun
from .live import Dialer, DialerError
from .report import DialerReport, build_report
from .rules import Verdict
from .store import GLOBAL

TAGS = ("dialer",)
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class CampaignView(msgspec.Struct, kw_only=True):
    spec: CampaignSpec
    state: str
    source: str
    leads: dict[str, int]
    abandonment: AbandonmentFigures
    lines_in_flight: int
    pacing: str | None


class LeadsCsv(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    csv: Annotated[str, Meta(max_length=20_000_000)]


class ImportReport(msgspec.Struct, kw_only=True):
    added: int
    already_there: int
    errors: list[str]  # "line 4: phone '12' has no country code ..."


class CallbackRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    at: Annotated[str, Meta(min_length=1, max_length=40, description="ISO 8601; no offset: the lead's time zone")]
    agent: Name | None = None


class AgentRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent: Name


class Offered(msgspec.Struct, kw_only=True):
    lead: Lead | None  # None: nothing to preview now
    call_id: str | None = None


class DncRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    numbers: Annotated[list[Name], Meta(min_length=1, max_length=100_000)]
    campaign: Name | None = None  # None: the global list


class DncQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    campaign: Name | None = None


class DncList(msgspec.Struct, kw_only=True):
    scope: str
    numbers: list[str]


class ReportQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    since: Annotated[float, Meta(ge=0, le=1e11)] | None = None  # seconds since the epoch; default: 24 h ago
    until: Annotated[float, Meta(ge=0, le=1e11)] | None = None
    time_zone: Annotated[str, Meta(min_length=1, max_length=64)] = "UTC"


def endpoints(dialer: Dialer) -> list[Endpoint]:
    store = dialer.store

    def run_of(request: ApiRequest) -> CampaignRun:
        name = request.path["campaign"]
        found = dialer.campaigns.get(name)
        if found is None:
            raise not_found(f"no campaign {name!r}", "campaign")
        return found

    async def view(run: CampaignRun) -> CampaignView:
        lines = sum(1 for line in dialer.lines.values() if line.campaign == run.spec.id)
        decision = run.last_decision
        return CampaignView(spec=run.spec, state=run.state, source=run.source,
                            leads=await store.lead_counts(run.spec.id),
                            abandonment=run.ledger.figures(dialer.api.now()), lines_in_flight=lines,
                            pacing=None if decision is None else f"{decision.lines} line(s): {decision.reason}")

    async def lead_of(run: CampaignRun, request: ApiRequest) -> Lead:
        lead = await store.lead(run.spec.id, request.path["lead"])
        if lead is None:
            raise not_found(f"no lead {request.path['lead']!r} in campaign {run.spec.id}", "lead")
        return lead

    def refused(error: DialerError) -> ApiFailure:
        code = {404: "not_found", 409: "conflict"}.get(error.status, "bad_request")
        return ApiFailure(error.status, code, str(error), error.field)

    @endpoint("GET", "/campaigns", summary="List campaigns", roles=READERS, response=list[CampaignView], tags=TAGS)
    async def list_campaigns(request: ApiRequest) -> list[CampaignView]:
        """Every campaign with its state, its leads by status, its abandonment figures and pacing."""
        return [await view(run) for run in sorted(dialer.campaigns.values(), key=lambda run: run.spec.id)]

    @endpoint("POST", "/campaigns", summary="Create a campaign", roles=SUPERVISORS, body=CampaignSpec,
              response=CampaignView, status=201, tags=TAGS)
    async def create(request: ApiRequest) -> CampaignView:
        """A new campaign, running at once unless `paused`; leads come through /leads."""
        spec: CampaignSpec = request.body
        if spec.id in dialer.campaigns:
            raise conflict(f"campaign {spec.id!r} exists: PUT /campaigns/{spec.id} changes it", "body.id")
        run = CampaignRun(spec, "paused" if spec.paused else "running", "api")
        await store.save_campaign(spec, run.state, "api", dialer.api.now())
        dialer.campaigns[spec.id] = run
        request.audit(f"campaign {spec.id}")
        return await view(run)

    @endpoint("GET", "/campaigns/{campaign}", summary="One campaign", roles=READERS, response=CampaignView, tags=TAGS)
    async def show(request: ApiRequest) -> CampaignView:
        """A campaign's spec, state, lead counts, abandonment over 24 h and 30 days, and pacing."""
        return await view(run_of(request))

    @endpoint("PUT", "/campaigns/{campaign}", summary="Change a campaign", roles=SUPERVISORS, body=CampaignSpec,
              response=CampaignView, tags=TAGS)
    async def update(request: ApiRequest) -> CampaignView:
        """Replace the campaign's spec; its leads, state and figures stay."""
        run = run_of(request)
        spec: CampaignSpec = request.body
        if spec.id != run.spec.id:
            raise bad_input(f"the body's id {spec.id!r} is not the campaign's {run.spec.id!r}", "body.id")
        run.respec(spec)
        await store.save_campaign(spec, run.state, run.source, dialer.api.now())
        request.audit(f"campaign {spec.id}")
        return await view(run)

    def state_change(action: str, state: str) -> Endpoint:
        @endpoint("POST", f"/campaigns/{{campaign}}/{action}", summary=f"{action.capitalize()} a campaign",
                  roles=SUPERVISORS, response=CampaignView, tags=TAGS)
        async def change(request: ApiRequest) -> CampaignView:
            run = run_of(request)
            if run.state == "stopped" and state != "stopped":
                raise conflict(f"campaign {run.spec.id} is stopped for good: create a new one", "campaign")
            run.state = state
            await store.save_campaign(run.spec, state, run.source, dialer.api.now())
            request.audit(f"campaign {run.spec.id}", state=state)
            if state == "running":
                dialer.dial_soon()
            return await view(run)

        return change

    @endpoint("POST", "/campaigns/{campaign}/leads", summary="Add leads from CSV", roles=SUPERVISORS, body=LeadsCsv,
              response=ImportReport, tags=TAGS)
    async def add_leads(request: ApiRequest) -> ImportReport:
        """CSV text with a header (phone required; id, time_zone, priority, callback_at, callback_agent
        optional; other columns are custom fields). Good lines are added, bad ones reported by line."""
        run = run_of(request)
        result = read_leads(run.spec.id, request.body.csv, now=dialer.api.now())
        added = await store.add_leads(result.leads)
        request.audit(f"campaign {run.spec.id}", added=added, refused=len(result.errors))
        return ImportReport(added=added, already_there=len(result.leads) - added,
                            errors=[f"line {error.line}: {error.message}" for error in result.errors])

    @endpoint("GET", "/campaigns/{campaign}/leads/{lead}", summary="One lead", roles=READERS, response=Lead, tags=TAGS)
    async def show_lead(request: ApiRequest) -> Lead:
        """The lead: its number, time zones, custom fields, attempts and outcomes, next due time."""
        return await lead_of(run_of(request), request)

    @endpoint("GET", "/campaigns/{campaign}/leads/{lead}/why", summary="Why a lead is not dialled now",
              roles=READERS, response=Verdict, tags=TAGS)
    async def why(request: ApiRequest) -> Verdict:
        """The rule that holds the lead back now (DNC, calling window, retry delay, 72 h after an
        abandoned call, max attempts, callback, campaign state, abandonment cap), and until when."""
        run = run_of(request)
        return await dialer.verdict(run, await lead_of(run, request), dialer.api.now(), with_cap=True)

    @endpoint("POST", "/campaigns/{campaign}/leads/{lead}/callback", summary="Schedule a callback",
              roles=SUPERVISORS, body=CallbackRequest, response=Lead, tags=TAGS)
    async def callback(request: ApiRequest) -> Lead:
        """Dial the lead at `at` (and not before), optionally only for `agent`."""
        run = run_of(request)
        lead = await lead_of(run, request)
        try:
            at = parse_when(request.body.at, lead.time_zones)
        except LeadProblem as problem:
            raise bad_input(str(problem).replace("callback_at", "at"), "body.at") from None
        lead = msgspec.structs.replace(lead, callback_at=at, callback_agent=request.body.agent,
                                       status="pending" if lead.status == "done" else lead.status)
        await store.save_lead(lead)
        request.audit(f"lead {run.spec.id}/{lead.id}", at=at)
        return lead

    @endpoint("POST", "/campaigns/{campaign}/preview", summary="Offer an agent the next lead",
              roles=SUPERVISORS | AGENTS, body=AgentRequest, response=Offered, tags=TAGS)
    async def preview(request: ApiRequest) -> Offered:
        """Preview mode: the next dialable lead, held for the agent to accept or skip."""
        run = run_of(request)
        agent = request.body.agent
        if request.principal.agent is not None and request.principal.agent != agent:
            raise ApiFailure(403, "forbidden", "an agent previews for itself only", "body.agent")
        if run.spec.mode != "preview":
            raise conflict(f"campaign {run.spec.id} is {run.spec.mode}, not preview", "campaign")
        if run.state != "running":
            raise conflict(f"campaign {run.spec.id} is {run.state}", "campaign")
        return Offered(lead=await dialer.offer(run, agent))

    def offer_answer(action: str) -> Endpoint:
        @endpoint("POST", f"/campaigns/{{campaign}}/leads/{{lead}}/{action}", summary=f"{action.capitalize()} "
                  "a previewed lead", roles=SUPERVISORS | AGENTS, body=AgentRequest, response=Offered, tags=TAGS)
        async def answer(request: ApiRequest) -> Offered:
            run = run_of(request)
            agent = request.body.agent
            if request.principal.agent is not None and request.principal.agent != agent:
                raise ApiFailure(403, "forbidden", "an agent answers its own offers only", "body.agent")
            try:
                call_id = await dialer.answer_offer(run, request.path["lead"], agent, accept=action == "accept")
            except DialerError as error:
                raise refused(error) from None
            request.audit(f"lead {run.spec.id}/{request.path['lead']}", action=action)
            return Offered(lead=await store.lead(run.spec.id, request.path["lead"]), call_id=call_id)

        return answer

    @endpoint("GET", "/campaigns/{campaign}/report", summary="Dialer report", roles=READERS, query=ReportQuery,
              response=DialerReport, tags=TAGS)
    async def report(request: ApiRequest) -> DialerReport:
        """Attempts, contacts, right-party contacts, abandonment and conversion, per hour and agent."""
        run = run_of(request)
        query: ReportQuery = request.query
        now = dialer.api.now()
        until = query.until if query.until is not None else now
        since = query.since if query.since is not None else until - 86400
        if until <= since:
            raise bad_input("until must be later than since", "until")
        try:
            ZoneInfo(query.time_zone)
        except (ValueError, ZoneInfoNotFoundError):
            raise bad_input(f"time_zone {query.time_zone!r} is not an IANA time zone", "time_zone") from None
        attempts = await store.attempts(run.spec.id, since, until)
        return build_report(attempts, campaign=run.spec.id, since=since, until=until, right_party=run.spec.right_party,
                            conversion=run.spec.conversion, time_zone=query.time_zone)

    def scope_of(campaign: str | None, field: str) -> str:
        if campaign is None:
            return GLOBAL
        if campaign not in dialer.campaigns:
            raise not_found(f"no campaign {campaign!r}", field)
        return campaign

    @endpoint("GET", "/dnc", summary="A do-not-call list", roles=READERS, query=DncQuery, response=DncList, tags=TAGS)
    async def dnc_list(request: ApiRequest) -> DncList:
        """The global list, or a campaign's (`?campaign=`)."""
        scope = scope_of(request.query.campaign, "campaign")
        return DncList(scope=scope, numbers=await store.dnc_numbers(scope))

    @endpoint("POST", "/dnc", summary="Add do-not-call numbers", roles=SUPERVISORS, body=DncRequest,
              response=DncList, tags=TAGS)
    async def dnc_add(request: ApiRequest) -> DncList:
        """Numbers (E.164) never to be dialled: globally, or for one campaign."""
        body: DncRequest = request.body
        scope = scope_of(body.campaign, "body.campaign")
        numbers = []
        for index, number in enumerate(body.numbers):
            try:
                numbers.append(normalise_phone(number))
            except LeadProblem as problem:
                raise bad_input(str(problem), f"body.numbers[{index}]") from None
        await store.add_dnc(numbers, scope, dialer.api.now())
        request.audit(f"dnc {scope}", added=len(numbers))
        return DncList(scope=scope, numbers=await store.dnc_numbers(scope))

    @endpoint("DELETE", "/dnc/{number}", summary="Remove a do-not-call number", roles=SUPERVISORS, query=DncQuery,
              response=DncList, tags=TAGS)
    async def dnc_remove(request: ApiRequest) -> DncList:
        scope = scope_of(request.query.campaign, "campaign")
        try:
            number = normalise_phone(request.path["number"])
        except LeadProblem as problem:
            raise bad_input(str(problem), "number") from None
        if not await store.remove_dnc(number, scope):
            raise not_found(f"{number} is not on the {scope} list", "number")
        request.audit(f"dnc {scope}", removed=number)
        return DncList(scope=scope, numbers=await store.dnc_numbers(scope))

    return [list_campaigns, create, show, update, state_change("pause", "paused"), state_change("resume", "running"),
            state_change("stop", "stopped"), add_leads, show_lead, why, callback, preview, offer_answer("accept"),
            offer_answer("skip"), report, dnc_list, dnc_add, dnc_remove]
