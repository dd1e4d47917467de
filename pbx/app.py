"""The composition root: builds the clock, ids, bus and services from a Config and runs them.

Nothing else in the PBX creates services or reads the clock on its own;
tests build the same pieces with their own clock and ids.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import re
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from ivr_dsl.checker import CheckContext
from pbx.acd import Acd, Membership
from pbx.acd.features import FeatureCodeController
from pbx.acd.queue import QueueSettings
from pbx.acd.controllers import QueueEntry
from pbx.acd.service import AcdService
from pbx.admin import make_admin_app
from pbx.bus import EventBus
from pbx.calls.bridge import BridgeController
from pbx.calls.inbound import InboundRoutes
from pbx.calls.manager import CallManager
from pbx.calls.lookup import LookupFirst
from pbx.calls.recordings import NoSuchCall, RecordingConflict, Recordings
from pbx.calls.refuse import RefuseController
from pbx.calls.router import Router
from pbx.calls.supervision import Monitors
from pbx.calls.services import ServiceController
from pbx.calls.signals import Cause, Hangup
from pbx.config import Config, Listen
from pbx.trunks import DialOut, OutboundController, TrunkService, number_forms
from pbx.config_reload import ReloadPlan, plan_reload
from pbx.gc_watch import CollectorPolicy
from pbx.loop_watch import StallWatch
from pbx.random_tokens import random_hex
from pbx.workers import Dispatcher, WorkerPlace, contact_user, port_range_of, worker_tag
from pbx.workers.channel import SHARED_EVENTS, WorkerChannel
from pbx.workers.tally import Tally, tally_of
from pbx.ivr.runtime import QueueRefused
from pbx.plugin_api import CallDirectory, LiveApi
from pbx.plugin_host import PluginHost, open_database
from pbx.admin.audit import AuditLog
from pbx.admin.bootstrap import audit_feature_code, first_admin_token
from pbx.admin.context import AdminContext
from pbx.admin.stream import EventJournal
from pbx.admin.tokens import ADMIN_TOKEN_VARIABLE, TokenRecord, Tokens, TokenStore, hash_secret
from pbx.store import StateStore
from pbx.ivr.controller import IvrController
from pbx.ivr.functions import load_functions
from pbx.ivr.click_to_call import click_to_call
from pbx.ivr.library import ReloadReport, ScenarioLibrary, existing_directory
from pbx.ivr.prompts import PromptLibrary
from pbx.ivr.runtime import IvrRuntime
from pbx.media import MediaClock, MediaRelay, PromptCache, PromptError
from pbx.media.tts import SpeechRenderer
from pbx.media.wav_writer import WavWriter
from pbx.sip.digest import DigestAuthenticator
from pbx.sip.endpoint import EndpointSettings, SipEndpoint
from pbx.sip.guard import GuardSettings, RateLimit, SourceGuard
from pbx.sip.registrar import Registrar, RegistrarSettings
from pbx.sip.transaction import Timers, TransactionLayer
from pbx.sip.transport import SipTransport, tls_server_context
from sdk.events import (
    AgentConnected,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallStarted,
    CallTransferred,
    Event,
    RegistrationAdded,
    RegistrationExpired,
    RegistrationRefreshed,
    RegistrationRemoved,
)

log = logging.getLogger("pbx")


# RFC 3261 20.33: what a draining PBX's 503 asks callers to wait, seconds (a restart's length).
DRAINING_RETRY_AFTER = 30
# Seconds a stopping PBX waits for the answers to the BYEs it sent at the end of draining.
HANGUP_GRACE = 2.0


class DatabaseUnavailable(OSError):
    """The configured database cannot be reached or opened (reported without a traceback)."""


def new_tag() -> str:
    """A To/From tag: 64 random bits (RFC 3261 19.3 asks for at least 32)."""
    return random_hex(8)


class Pbx:
    """One running PBX node."""

    def __init__(self, config: Config, *, clock=time.time, secret: bytes | None = None,
                 config_file: str = "config.yaml", entry_points: bool = True,
                 load_config: Callable[[], Config] | None = None, worker: WorkerPlace | None = None) -> None:
        if worker is not None and not worker.is_first:
            config = msgspec.structs.replace(config, admin=msgspec.structs.replace(config.admin, listen=None))
        self.config = config
        self.worker = worker  # one of several processes on the SIP port (pbx/workers/), or the only one
        tag = worker_tag(worker.index) if worker is not None else ""
        new_id = (lambda: tag + random_hex(8)) if tag else (lambda: random_hex(8))
        self.load_config = load_config  # the config file read again (POST /api/config/reload)
        self.clock = clock
        self.bus = EventBus()
        self.database = open_database(config.data_dir, config.database)
        self.directory = CallDirectory()  # live calls as plugins see them
        self.plugins = PluginHost(config.plugins, config_file=config_file, clock=clock, report=self.bus.publish,
                                  make_api=lambda name, plugin_config: LiveApi(self, name, plugin_config),
                                  entry_points=entry_points)
        if self.plugins.plugins:  # without plugins, no one reads it: nothing on the event path
            self.bus.subscribe(Event, self.directory.on_event)
        if self.plugins.has["pbx_event"]:
            self.bus.subscribe(Event, self.plugins.on_event)
        passwords = {number: extension.password for number, extension in config.extensions.items()}
        self.registrar = Registrar(
            RegistrarSettings(
                min_expires=config.registrar.min_expires,
                max_expires=config.registrar.max_expires,
                default_expires=config.registrar.default_expires,
                max_bindings=config.registrar.max_bindings,
            ),
            domain=config.realm,
        )
        self.authenticator = DigestAuthenticator(
            config.realm,
            secret or (bytes.fromhex(worker.secret) if worker is not None else os.urandom(32)),
            passwords.get,
            nonce_lifetime=config.auth.nonce_lifetime,
            algorithms=tuple(config.auth.algorithms),
        )
        self.transactions = TransactionLayer(Timers(config.sip.t1, config.sip.t2, config.sip.t4))
        self.endpoint = SipEndpoint(
            EndpointSettings(realm=config.realm, user_agent=config.sip.user_agent),
            transactions=self.transactions,
            authenticator=self.authenticator,
            registrar=self.registrar,
            is_extension=passwords.__contains__,
            new_tag=new_tag,
            guard=SourceGuard(_guard_settings(config)),
        )
        invite_challenges = {number: extension.invite_challenge for number, extension in config.extensions.items()}
        self.endpoint.challenge_status = lambda user: invite_challenges.get(user or "", 407)
        self.transport = SipTransport(self.endpoint, self.bus, clock, trace=config.log.sip_trace)
        ports = config.media.rtp_ports
        low, high = port_range_of(ports.low, ports.high, worker.index, worker.count) if worker else (ports.low, ports.high)
        self.relay = MediaRelay(config.media.rtp_host, low, high, clock=clock)
        names = {number: extension.name for number, extension in config.extensions.items()}
        self.calls = CallManager(
            self.endpoint,
            Router(self.registrar, set(config.extensions)),
            self.relay,
            domain=config.realm,
            media_host=config.media.rtp_host,
            local_address=self._local_address,
            new_id=new_id,
            ring_timeout=config.calls.ring_timeout,
            display_name=names.get,
            controller_for=self._controller_for,
            emit=self.bus.publish,
            inband_dtmf=config.media.inband_dtmf,
            inactivity_timeout=config.media.inactivity_timeout,
        )
        self.calls.hang_up = lambda call, now, cause: self.hang_up(call, now, cause)  # queues and scenarios let go
        # SIP trunks: registrations, providers' calls in by DID, calls out (pbx/trunks/).
        self.trunks = TrunkService(
            config.trunks, config.outbound_routes, config.outbound_classes,
            {number: extension.outbound for number, extension in config.extensions.items()},
            endpoint=self.endpoint, new_id=new_id, route_inbound=self._route_did,
            user_agent=config.sip.user_agent,
        ) if config.trunks else None  # fmt: skip
        self.calls.trunks = self.trunks
        self.calls.srtp_numbers = frozenset(number for number, ext in config.extensions.items() if ext.srtp)
        self.prompts = PromptCache(config.media.prompts)
        self.media_clock = MediaClock(clock)  # one 20 ms tick for every stream we send or record
        self.wav_writer = WavWriter()
        self.recordings = Recordings(
            self.calls, self.media_clock, self.wav_writer, directory=config.recording.directory,
            layout=config.recording.layout, record_all=config.recording.calls == "all",
            recorded_numbers=frozenset(number for number, extension in config.extensions.items() if extension.record),
            emit=self.bus.publish, clock=clock,
        )  # fmt: skip
        self.bus.subscribe(CallAnswered, self.recordings.on_answered)
        self.bus.subscribe(CallEnded, self.recordings.on_ended)
        if self.plugins.has["pbx_recording_policy"]:
            self.bus.subscribe(CallAnswered, lambda event: self._ask_recording_policy(event.call_id, "answered"))
            self.bus.subscribe(AgentConnected, lambda event: self._ask_recording_policy(event.call_id, "connected"))
        # The IVR: scenarios from a directory, run by the calls that routes send to them.
        self.routes = InboundRoutes([(route.match, *route.target) for route in config.routes],
                                    config.default_route.target if config.default_route else None)
        self.scenarios = ScenarioLibrary(config.ivr.scenarios, self._check_context)
        self.ivr = IvrRuntime(
            media_clock=self.media_clock,
            prompts=PromptLibrary(SpeechRenderer(config.ivr.tts_cache), fallback_dir=config.media.prompts),
            execute=self.transport.execute, new_ssrc=lambda: secrets.randbits(32), recordings=self.recordings,
            functions=load_functions(config.ivr.functions, Path(config_file).resolve().parent),
        )  # fmt: skip
        self.queues = self._build_acd(config)
        self.ivr.queues = self.queues
        self.state = StateStore(self.database, self.registrar)  # registrations and agent logins kept across restarts
        for event_type in (RegistrationAdded, RegistrationRefreshed, RegistrationRemoved, RegistrationExpired,
                           AgentStateChanged):
            self.bus.subscribe(event_type, self.state.on_event)
        self._admin_runner: web.AppRunner | None = None
        self.audit: AuditLog | None = None
        self._tasks: set[asyncio.Task] = set()
        codes = config.feature_codes
        self._feature_codes = {codes.login, codes.logout, codes.pause, codes.unpause} if self.queues else set()
        # Supervisors listen, whisper and barge (feature codes, or the admin API).
        self.monitors = Monitors(
            self.calls, self.media_clock, execute=self.transport.execute, clock=clock,
            new_id=new_id, new_ssrc=lambda: secrets.randbits(32),
            codes={codes.listen: "listen", codes.whisper: "whisper", codes.barge: "barge"},
            supervisors=codes.supervisors, is_extension=config.extensions.__contains__,
            agents=lambda: {name: agent.extension for name, agent in self.queues.acd.agents.items()}
            if self.queues is not None else {},
        )  # fmt: skip
        self.bus.subscribe(CallEnded, self.monitors.on_call_ended)
        self.bus.subscribe(Event, self._log_event)
        self.channel: WorkerChannel | None = None
        self._routed_numbers: dict[str, bool] = {}  # _needs_first_worker's answers for the routes in force
        if worker is not None:
            self.transport.reuse_port = True
            self.calls.contact_user = contact_user(worker.index)
            dispatcher = Dispatcher(worker.count, self._needs_first_worker)
            self.channel = WorkerChannel(worker, dispatcher, self.transport, self.registrar, self.bus.publish, clock,
                                         tally=lambda: self._tally(self._counts()))
            for event_type in SHARED_EVENTS:
                self.bus.subscribe(event_type, self.channel.on_registration)

    def _controller_for(self, number: str, services) -> Any:
        """What answers a called number: a test extension (600 echo, 601 playback, 602 digits), a
        feature code, an inbound route's target, or None for an extension to ring (the bridge).
        With plugins that look callers up, the call first waits for them (LookupFirst)."""
        monitoring = self.monitors.controller_for(number)  # *222<agent> and the other monitoring codes
        if monitoring is not None:
            return monitoring
        tests = self.config.test_extensions
        if number in (tests.echo, tests.playback, tests.digits) or number in self._feature_codes:
            return self._route_to(number, services)
        if self.plugins.has["pbx_lookup_caller"] or self.plugins.has["pbx_routing_inputs"]:
            return LookupFirst(services, self.plugins.lookup,
                               lambda: self._route_to(number, services) or BridgeController(services),
                               execute=self.transport.execute, clock=self.clock,
                               deadline=2 * max(plugin.timeout for plugin in self.plugins.plugins))
        return self._route_to(number, services)

    def _route_to(self, number: str, services) -> Any:
        if not number or number in self.config.extensions:
            return None
        tests = self.config.test_extensions
        kind = {tests.echo: "echo", tests.playback: "playback", tests.digits: "digits"}.get(number)
        if kind is not None:
            return ServiceController(kind, services, self.media_clock, self.prompts, secrets.randbits(32))
        if self.queues is not None:
            codes = self.config.feature_codes
            feature = {codes.login: "login", codes.logout: "logout", codes.pause: "pause",
                       codes.unpause: "unpause"}.get(number)
            if feature is not None:
                return FeatureCodeController(self.queues, feature, lambda: secrets.randbits(32))
        destination = self.routes.match(number)
        if self._dials_out(number):
            return OutboundController(services, self.trunks)  # permission and trunks: pbx/trunks/dialout.py
        if destination is None:
            return None
        return self._controller_of(destination, number, services)

    def _controller_of(self, destination: Any, number: str, services) -> Any:
        """The controller of an inbound route's destination for a call to `number`."""
        if destination.kind == "scenario":
            scenario = self.scenarios.get(destination.name)
            if scenario is None:
                log.error("event=route_failed number=%s route=%s reason='no scenario %s loaded'", number,
                          destination.route, destination.name)
                return RefuseController(services, 503, f"scenario {destination.name} is not available")
            return IvrController(scenario, services, self.ivr, self.clock)
        if destination.kind == "queue":
            assert self.queues is not None  # the config refuses a route to a queue it does not define
            return QueueEntry(self.queues, destination.name, lambda: secrets.randbits(32))
        return BridgeController(services, target=destination.name)

    def _needs_first_worker(self, number: str) -> bool:
        """A call to `number` uses what worker 0 alone holds (pbx/workers/): a queue, a scenario,
        a feature code, monitoring, or a phone's TCP or TLS connection. Extensions on UDP, test
        extensions and calls out run on any worker."""
        routed = self._routed_numbers.get(number)
        if routed is None:
            tests = self.config.test_extensions
            routed = not (number in self.config.extensions or number in (tests.echo, tests.playback, tests.digits)
                          or self._dials_out(number))
            if len(self._routed_numbers) >= 4096:  # numbers dialled at random must not grow it
                self._routed_numbers.clear()
            self._routed_numbers[number] = routed
        if routed:
            return True
        return any(binding.source.transport != "udp" for binding in self.registrar.lookup(number, self.clock()))

    def _dials_out(self, number: str) -> bool:
        """`number` goes out on a trunk: no extension or inbound route takes it (a default route
        does not count) and an outbound route matches it."""
        if self.trunks is None or number in self.config.extensions:
            return False
        destination = self.routes.match(number)
        unrouted = destination is None or destination.route == "default"
        return unrouted and self.trunks.outbound.match(number) is not None

    def _route_did(self, did: str, services) -> Any:
        """A provider's call to `did` (pbx/trunks/identify.py): the inbound routes only, with
        the number as dialled or with/without its "+"; None when no route takes it."""
        matches = [self.routes.match(form) for form in number_forms(did)]
        destination = next((found for found in matches if found is not None and found.route != "default"), matches[0])
        if destination is None:
            return None
        if self.plugins.has["pbx_lookup_caller"] or self.plugins.has["pbx_routing_inputs"]:
            return LookupFirst(services, self.plugins.lookup,
                               lambda: self._controller_of(destination, did, services),
                               execute=self.transport.execute, clock=self.clock,
                               deadline=2 * max(plugin.timeout for plugin in self.plugins.plugins))
        return self._controller_of(destination, did, services)

    def cannot_connect(self, number: str) -> str | None:
        """Why a placed call could not be connected to `number` (api.originate asks before ringing)."""
        if self._dials_out(number):
            return None if self.trunks.placement_for(number) is not None else f"every trunk for {number!r} is busy"
        if number in self.config.extensions and self.routes.match(number) is None:
            return None
        destination = self.routes.match(number)
        if destination is None:
            return f"{number!r} is neither an extension nor a routed number"
        if destination.kind == "queue" and self.queues is None:
            return f"{number!r} routes to queue {destination.name!r}, and queues are not configured"
        if destination.kind == "extension":
            return None if destination.name in self.config.extensions else \
                f"{number!r} routes to {destination.name!r}, which is not an extension"
        return None

    def connect_answered(self, call: Any, leg: Any, session: Any, number: str, now: float) -> list[Any]:
        """A call the PBX placed was answered (api.originate): run what `number` routes to on it."""
        self.media_clock.add(session)
        placement = self.trunks.placement_for(number) if self._dials_out(number) else None
        if placement is not None:
            # Click to call an outside number: the IVR's `dial`, through a trunk for that number only.
            services = DialOut(self.calls, number, placement)
            return IvrController(click_to_call(number), services, self.ivr, self.clock).start_answered(
                call, leg, session, now)
        destination = self.routes.match(number)
        if destination is not None and destination.kind == "extension":
            number, destination = destination.name, None
        if destination is None and number in self.config.extensions:
            # Click to call: the answered phone hears ringback while the extension rings, then the
            # two are connected - the IVR's own `dial`, as a one-line scenario.
            controller = IvrController(click_to_call(number), self.calls, self.ivr, self.clock)
            return controller.start_answered(call, leg, session, now)
        if destination is not None and destination.kind == "scenario":
            return self._start_scenario(call, leg, session, destination.name, now)
        if destination is not None and destination.kind == "queue" and self.queues is not None:
            try:
                return self.queues.enqueue(call, leg, destination.name, priority=0, skills=(), timeout=None, now=now,
                                           media=session)
            except QueueRefused as refused:
                reason = str(refused)
        else:
            reason = f"{number} routes to no scenario or queue"
        log.warning("event=originate_not_connected call_id=%s number=%s reason=%r", call.id, number, reason)
        self.media_clock.remove(session)
        session.close(now)
        return leg.send(Hangup(Cause.UNAVAILABLE), now) + self.calls.end_call(call, Cause.UNAVAILABLE, 503, "system",
                                                                             now)

    def _ask_recording_policy(self, call_id: str, moment: str) -> None:
        """Ask the plugins whether to record this call now (answered, or connected to an agent)."""
        info = self.directory.calls.get(call_id)
        if info is None or call_id in self.recordings.active:
            return

        async def ask() -> None:
            decision = await self.plugins.recording_policy(info, moment)
            if decision is None or call_id in self.recordings.active or call_id not in self.calls.calls:
                return
            try:
                self.recordings.start(call_id, decision.layout, policy=decision.policy)  # type: ignore[arg-type]
            except (NoSuchCall, RecordingConflict) as error:
                log.warning("event=recording_not_started call_id=%s policy=%s reason=%r", call_id, decision.policy,
                            str(error))

        self._spawn(ask())

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_scenario(self, call: Any, leg: Any, session: Any, name: str, now: float) -> list[Any]:
        """Run scenario `name` on a call already answered (a queue's overflow or exit)."""
        scenario = self.scenarios.get(name)
        if scenario is None:
            log.error("event=scenario_missing scenario=%s call_id=%s", name, call.id)
            if session is not None:
                self.media_clock.remove(session)
                session.close(now)
            return leg.send(Hangup(Cause.FAILURE), now) + self.calls.end_call(call, Cause.FAILURE, 200, "system", now)
        controller = IvrController(scenario, self.calls, self.ivr, self.clock)
        return controller.start_answered(call, leg, session, now)

    def _check_context(self) -> CheckContext:
        # Without queues configured, queue names are not checked: queue actions take their
        # on-failure branch ("queues not configured") at run time.
        queues = set(self.config.queues) or None
        return CheckContext(queues=queues, functions=set(self.ivr.functions),
                            prompt_root=existing_directory(self.config.ivr.prompts))

    def _build_acd(self, config: Config) -> AcdService | None:
        """Queues and agents from the config; None when there are no queues."""
        if not config.queues:
            return None
        acd = Acd(random.Random())
        for name, queue in config.queues.items():
            settings = {field: getattr(queue, field) for field in QueueSettings.__struct_fields__}
            acd.add_queue(QueueSettings(**{**settings, "name": name}))
        memberships: dict[str, list[Membership]] = {}
        for name, queue in config.queues.items():
            for member in queue.members:
                memberships.setdefault(member.agent, []).append(
                    Membership(name, member.penalty, member.weight, dict(member.skills)))
        for name, agent in config.agents.items():
            acd.add_agent(name, agent.extension or name, memberships.get(name, []), static=agent.login == "static",
                          now=self.clock())
        try:
            hold_music = self.prompts.get("moh")
        except PromptError:
            hold_music = None
        service = AcdService(
            acd, self.calls, media_clock=self.media_clock, prompts=self.ivr.prompts, hold_music=hold_music,
            emit=self.bus.publish, execute=self.transport.execute, clock=self.clock, recordings=self.recordings,
            start_scenario=self._start_scenario,
            exit_keys={name: queue.exit_key for name, queue in config.queues.items() if queue.exit_key},
            exit_scenarios={name: queue.exit_to for name, queue in config.queues.items() if queue.exit_to},
            callback_keys={name: queue.callback_key for name, queue in config.queues.items() if queue.callback_key},
            new_ssrc=lambda: secrets.randbits(32),
        )  # fmt: skip
        self.bus.subscribe(CallStarted, service.on_call_started)  # the agent's phone in use outside the ACD
        self.bus.subscribe(CallEnded, service.on_call_ended)
        self.bus.subscribe(CallTransferred, service.on_call_transferred)  # the agent's part ends
        for event_type in (RegistrationAdded, RegistrationRemoved, RegistrationExpired):
            self.bus.subscribe(event_type, service.on_registration)
        return service

    def hang_up(self, call: Any, now: float, cause: Cause = Cause.NORMAL) -> list[Any]:
        """End a live call from outside it (the admin API, a plugin): a caller waiting in a queue
        leaves it (outcome "exited", the ringing agent gets its CANCEL), a scenario stops its timers
        and tasks, then every phone gets its BYE (or CANCEL while ringing)."""
        actions = self.queues.hang_up(call.id, now) if self.queues is not None else None
        if actions is not None:
            return actions
        if isinstance(call.controller, IvrController) and call.controller.call is call:
            return call.controller.hang_up(now)
        return self.calls.end_call(call, cause, 200, "system", now)

    def reload_scenarios(self) -> ReloadReport:
        """Read the scenario directory again (SIGHUP; the admin API will call it too). Calls in
        progress finish on the version they started with; a scenario that fails the checker is
        refused and the version already loaded stays."""
        return self.scenarios.reload()

    def apply_config(self, new: Config) -> ReloadPlan:
        """A config read again (POST /api/config/reload): what can change live is applied, the
        rest is answered as needing a restart (pbx/config_reload.py says which is which). The
        caller reads the scenarios again next (reload_scenarios), against the queues now
        configured. A queue strategy no registry knows refuses the whole reload (ValueError)
        before anything changes."""
        plan = plan_reload(self.config, new)
        acd = self.queues.acd if self.queues is not None else None
        if acd is None and (plan.queue_rules or plan.new_agents):
            raise ValueError("queues: this PBX runs no queues, and adding them needs a restart")
        for name in plan.queue_rules:
            strategy = plan.config.queues[name].strategy
            if acd is not None and strategy not in acd.registry:
                raise ValueError(f"queues.{name}.strategy: unknown queue strategy {strategy!r} "
                                 f"(known: {', '.join(acd.registry.names())})")
        now = self.clock()
        for name in plan.queue_rules:
            queue = plan.config.queues[name]
            settings = {field: getattr(queue, field) for field in QueueSettings.__struct_fields__}
            acd.change_queue(QueueSettings(**{**settings, "name": name}))
            for table, value in ((self.queues.exit_keys, queue.exit_key), (self.queues.exit_scenarios, queue.exit_to),
                                 (self.queues.callback_keys, queue.callback_key)):
                if value:
                    table[name] = value
                else:
                    table.pop(name, None)
        for name in plan.new_agents:
            agent = plan.config.agents[name]
            memberships = [Membership(queue_name, member.penalty, member.weight, dict(member.skills))
                           for queue_name, queue in plan.config.queues.items() for member in queue.members
                           if member.agent == name]
            acd.add_agent(name, agent.extension or name, memberships, static=agent.login == "static", now=now)
            if agent.login == "static" and self.registrar.lookup(agent.extension or name, now):
                self.transport.execute(self.queues.run(acd.login(name, now, reason="registered"), now))
        if "routes" in plan.applied or "default_route" in plan.applied:
            config = plan.config
            self.routes = InboundRoutes([(route.match, *route.target) for route in config.routes],
                                        config.default_route.target if config.default_route else None)
            self._routed_numbers = {}
        self.scenarios.directory = Path(plan.config.ivr.scenarios)
        self.config = plan.config
        log.info("event=config_reloaded applied=%s restart_needed=%s", plan.applied, plan.restart)
        return plan

    def _local_address(self, transport: str) -> tuple[str, int]:
        """Our address on a transport, for Via and Contact (the first listener bound for it)."""
        for kind, host, port in self.transport.bound:
            if kind == transport:
                return host, port
        kind, host, port = self.transport.bound[0]
        return host, port

    def status(self) -> dict[str, Any]:
        """GET /api/status: this process's counts at the top level; in worker mode, `worker` adds
        where it stands and, on worker 0, every worker's counts and their sums."""
        counts = self._counts()
        return {
            **counts,
            **({"trunks": self.trunks.status()} if self.trunks is not None else {}),
            **({"worker": self._worker_status(counts)} if self.worker is not None and self.channel is not None else {}),
        }

    def _counts(self) -> dict[str, int]:
        return {
            **self.endpoint.status(),
            **self.calls.status(),
            "tcp_connections": self.transport.connection_count,
            "events_published": self.bus.published,
        }

    def _tally(self, counts: dict[str, int]) -> Tally:
        """This worker's counts as it sends them to worker 0 (pbx/workers/tally.py)."""
        return tally_of(self.worker.index, {**counts, "handed_on": self.channel.forwarded,
                                            "handed_over": self.channel.received})

    def _worker_status(self, counts: dict[str, int]) -> dict[str, Any]:
        status = {"index": self.worker.index, "of": self.worker.count,
                  "handed_on": self.channel.forwarded, "handed_over": self.channel.received}
        if self.channel.tallies is not None:  # worker 0: the others' latest tallies, and the sums
            status.update(self.channel.tallies.report(self._tally(counts), self.clock()))
        return status

    async def start(self) -> None:
        await self._open_database()
        if existing_directory(self.config.ivr.prompts) is None:
            log.warning("event=prompts_missing directory=%s hint='make prompts renders them'", self.config.ivr.prompts)
        await self.plugins.start()
        for name, function in (await self.plugins.ivr_functions()).items():
            self.ivr.functions.setdefault(name, function)  # the config's own list wins over a plugin's
        self.reload_scenarios()
        await self._restore_state()
        if self.channel is not None:
            await self.channel.open()  # before the SIP port: what others own goes to them from the start
        for listen in self._listeners():
            if listen.transport == "udp":
                host, port = await self.transport.listen_udp(listen.host, listen.port)
            elif listen.transport == "tls":
                context = tls_server_context(listen.certificate, listen.private_key, listen.ca, listen.verify_clients)
                host, port = await self.transport.listen_tls(listen.host, listen.port, context)
                if listen.ca:
                    self.transport.set_client_authorities(listen.ca)
            else:
                host, port = await self.transport.listen_tcp(listen.host, listen.port)
            log.info("event=listening transport=%s address=%s:%s", listen.transport, host, port)
        if self.trunks is not None:
            await self.trunks.resolve()
            register = self.worker is None or self.worker.is_first  # one registration per provider
            self.transport.execute(self.trunks.start(self.clock(), self._local_address, register))
        admin = self.config.admin.listen
        if admin is not None:
            app = await self._admin_app()
            self._admin_runner = web.AppRunner(app, access_log=None)
            await self._admin_runner.setup()
            tls = self.config.admin.tls
            context = tls_server_context(tls.certificate, tls.private_key) if tls is not None else None
            site = web.TCPSite(self._admin_runner, admin.host, admin.port, ssl_context=context)
            await site.start()
            log.info("event=admin_listening address=%s://%s:%s", "https" if tls else "http", admin.host, admin.port)
        log.info("event=ready realm=%s extensions=%d", self.config.realm, len(self.config.extensions))

    def _listeners(self) -> list[Listen]:
        """The SIP listeners: the config's, or as the supervisor chose their ports for every
        worker; TCP and TLS connections stay with worker 0 (a connection cannot be handed on)."""
        if self.worker is None:
            return list(self.config.sip.listen)
        configured = {(listen.transport, listen.host): listen for listen in self.config.sip.listen}
        return [msgspec.structs.replace(configured[(kind, host)], port=port)
                for kind, host, port in self.worker.listen if kind == "udp" or self.worker.is_first]

    async def _admin_app(self) -> web.Application:
        """The admin API with its tokens (the config's and the database's) and audit log."""
        journal = EventJournal()
        self.bus.subscribe(Event, journal.on_event)
        store = TokenStore(self.database)
        await store.setup()
        configured = [TokenRecord(token.name, token.role, token.sha256, token.agent, source="config")
                      for token in self.config.admin.tokens]
        if os.environ.get(ADMIN_TOKEN_VARIABLE):  # a container's secret, or the test harness's
            configured.append(TokenRecord("environment", "admin", hash_secret(os.environ[ADMIN_TOKEN_VARIABLE]),
                                          source="environment"))
        if not configured and not await store.all():
            await first_admin_token(store, Path(self.config.data_dir), self.clock())
        self.audit = AuditLog(self.database)
        await self.audit.setup()
        self.bus.subscribe(Event, lambda event: audit_feature_code(self.audit, event))
        context = AdminContext(clock=self.clock, status=self.status, registrar=self.registrar, calls=self.calls,
                               recordings=self.recordings, queues=self.queues,
                               reload_scenarios=self.reload_scenarios,
                               plugin_metrics=self.plugins.metrics if self.plugins.has["pbx_metrics"] else None,
                               events=journal, app=self, monitors=self.monitors, load_config=self.load_config)
        return make_admin_app(context, tokens=Tokens(configured, store), audit=self.audit,
                              plugin_endpoints=await self.plugins.admin_routes())

    async def _open_database(self) -> None:
        """Reach the database before anything uses it: a server that is down or refuses us stops
        the start with one line naming it (no password), not a plugin disabled later on."""
        try:
            await self.database.fetch_one("SELECT 1 AS ok")
        except Exception as error:
            where = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", getattr(self.database, "target", "the database"))
            raise DatabaseUnavailable(f"cannot open the database {where}: {error}") from None

    async def _restore_state(self) -> None:
        """Bindings that have not expired go back into the registrar; agents logged in when the
        PBX stopped log in again (static ones whose phone is still registered), paused ones
        with their reason."""
        now = self.clock()
        kept = await self.state.restore(now)
        if self.queues is None:
            return
        acd = self.queues.acd
        for name, agent in acd.agents.items():
            state, reason = kept.get(name, ("logged-out", ""))
            if agent.static and self.registrar.lookup(agent.extension, now):
                outputs = acd.login(name, now, reason="restored")
            elif not agent.static and state != "logged-out":
                outputs = acd.login(name, now, reason="restored")
            else:
                continue
            if state == "paused":
                outputs += acd.pause(name, reason, now)
            self.transport.execute(self.queues.run(outputs, now))

    async def drain(self, seconds: float) -> None:
        """SIGTERM: take no new calls (503 with Retry-After; REGISTER and in-dialog requests go
        on), wait up to `seconds` for the calls in progress to end, then end the rest (a BYE
        each, so their CDRs are complete) and wait briefly for the phones' answers."""
        self.calls.draining_retry_after = DRAINING_RETRY_AFTER
        ended = asyncio.Event()
        self.bus.subscribe(CallEnded, lambda event: ended.set())
        log.info("event=draining calls=%d seconds=%s", len(self.calls.calls), seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.calls.calls and loop.time() < deadline:
            ended.clear()
            try:
                await asyncio.wait_for(ended.wait(), deadline - loop.time())
            except TimeoutError:
                break
        if self.calls.calls:
            log.info("event=drain_timeout calls=%d", len(self.calls.calls))
            for call in list(self.calls.calls.values()):
                self.transport.execute(self.hang_up(call, self.clock(), Cause.SHUTDOWN))
            deadline = loop.time() + HANGUP_GRACE
            while self.calls.hangups_in_flight and loop.time() < deadline:
                await asyncio.sleep(0.05)
        log.info("event=drained")

    async def stop(self) -> None:
        if self.trunks is not None:
            self.transport.execute(self.trunks.stop(self.clock()))  # Expires: 0 at each provider
        if self.channel is not None:
            self.channel.close()
        await self.transport.close()
        self.recordings.stop_all()  # their RecordingStopped reaches the plugins before they stop
        await self.plugins.stop()
        for plugin in self.plugins.plugins:
            for task in plugin.api.cancel_tasks():
                self._tasks.add(task)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.wav_writer.close_all()
        self.relay.close()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        if self.audit is not None:
            await self.audit.close()
        # Recordings in the writer thread's queue reach the disk before we exit.
        await asyncio.get_running_loop().run_in_executor(None, self.wav_writer.join, 10.0)
        await self.state.close()
        self.database.close()
        log.info("event=stopped")

    def _log_event(self, event: Event) -> None:
        if not log.isEnabledFor(logging.INFO):
            return  # formatting every field of every event is a cost per call (issue 16)
        fields = " ".join(f"{name}={value!r}" for name, value in _struct_items(event) if name != "at")
        log.info("event=%s %s", type(event).__name__, fields)


def _guard_settings(config: Config) -> GuardSettings:
    security = config.security
    return GuardSettings(
        ban_after=security.ban_after, ban_window=security.ban_window, ban_seconds=security.ban_seconds,
        per_source=RateLimit(security.per_source.invite, security.per_source.register, security.per_source.burst),
        per_user=RateLimit(security.per_user.invite, security.per_user.register, security.per_user.burst),
        trusted=security.trusted_networks,
    )  # fmt: skip


def _struct_items(event: Event):
    return ((name, getattr(event, name)) for name in event.__struct_fields__)


async def serve(config: Config, time_offset: float = 0.0, config_file: str = "config.yaml",
                load_config: Callable[[], Config] | None = None) -> None:
    """Run until SIGINT or SIGTERM; SIGHUP reloads the scenarios.

    SIGTERM drains first (`Pbx.drain`, up to calls.drain_seconds); a second SIGTERM, or a
    SIGINT, stops at once."""
    worker = WorkerPlace.from_environment()  # started by `pbx run --workers N` (pbx/workers/)
    pbx = Pbx(config, config_file=config_file, load_config=load_config, worker=worker)
    pbx.ivr.time_offset = time_offset
    await pbx.start()
    if worker is not None:
        os.write(worker.ready_fd, b"ready\n")  # the supervisor starts the next worker
        os.close(worker.ready_fd)
    # Each SIP message allocates many small objects that die young without cycles: let the
    # young collections run less often, and keep the collector off what lives long
    # (pbx/gc_watch.py: what survives is frozen every 0.2 s, a full collection runs hourly when idle).
    gc.set_threshold(50_000, 50, 100)
    collector = asyncio.get_running_loop().create_task(CollectorPolicy(lambda: len(pbx.calls.calls)).run())
    stalls = asyncio.get_running_loop().create_task(StallWatch().run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task] = []

    async def drain_then_stop() -> None:
        try:
            await pbx.drain(config.calls.drain_seconds)
        finally:
            stop.set()

    def on_sigterm() -> None:
        if draining:
            log.info("event=stop_now reason='second SIGTERM'")
            stop.set()
        else:
            draining.append(loop.create_task(drain_then_stop()))

    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGHUP, pbx.reload_scenarios)
    try:
        await stop.wait()
    finally:
        collector.cancel()
        stalls.cancel()
        for task in draining:
            task.cancel()
        await asyncio.gather(collector, stalls, *draining, return_exceptions=True)
        await pbx.stop()


def run(config: Config, time_offset: float = 0.0, config_file: str = "config.yaml",
        load_config: Callable[[], Config] | None = None) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config, time_offset, config_file, load_config))
    else:
        uvloop.run(serve(config, time_offset, config_file, load_config))
