"""A seeded day of PBX bus events, as the PBX publishes them, for KPI tests and demos.

    events = simulate_day(random.Random(7), start=midnight)   # sdk.events Structs, `at` non-decreasing

It plays a small contact centre: agents log in, pause (lunch, training) and log out on two
shifts; callers arrive as a Poisson process whose rate follows the day; most go through the
"main" IVR scenario (menu: 1 sales, 2 support, 3 self-service), some dial the sales queue
straight (801), some an extension (300x), a few are refused by the PBX (503). In the queues
callers are offered to the longest-idle agent, who answers or lets it ring out; callers give
up (some within seconds), time out (sales), overflow to voicemail (support) or ask to be called
back (support), and the queue later calls them back. Agents hold calls, blind-transfer some,
and wrap up; callers leave survey dispositions (csat=, nps=, ces=); every answered leg reports
its CallQuality. Some callers call again within hours.

The order and the fields follow the PBX code: pbx/acd/dispatcher.py (agent transitions exactly
as pbx/acd/agents.py allows, offers, AgentConnected's wait from the caller's arrival, the
callback's CallbackCompleted after AgentConnected), pbx/acd/service.py and controllers.py (a
callback is a new outbound call with `linked_id` and callee "callback:<queue>"; the queue keeps
the first call's id; no CallAnswered is published when the customer picks up; the agent stays
on-call until the call ends, even after transferring it), pbx/ivr/controller.py (IvrExited
"queue" when an agent answers, "caller_hangup" when the caller leaves the queue or asks for a
callback) and pbx/calls (CallEnded's figures, CallTransferred when the target answers).

It is a model, not the ACD: strategies, skills, penalties and ring-all are left out. It reads no
clock: time starts at `start` and moves by the random draws of the `random.Random` it is given,
so a seed gives the same day every time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from typing import Any

from sdk.events import (
    AgentConnected, AgentNoAnswer, AgentOffered, AgentStateChanged, CallAnswered, CallbackCompleted,
    CallbackScheduled, CallDisposition, CallEnded, CallHeld, CallQuality, CallResumed, CallRinging, CallStarted,
    CallTransferred, Event, IvrExited, IvrKeyChosen, IvrNodeEntered, IvrNoInput, IvrStarted, OverflowTarget,
    QueueAbandoned, QueueJoined, QueueLeft, QueueOverflowed, QueueTimedOut,
)

SCENARIO = "main"


class QueueModel:
    def __init__(self, name: str, *, wrap_up: float, max_wait: float, overflow: OverflowTarget | None = None,
                 callbacks: bool = False) -> None:
        self.name = name
        self.wrap_up = wrap_up
        self.max_wait = max_wait
        self.overflow = overflow
        self.callbacks = callbacks
        self.waiting: list[Entry] = []  # in line order
        self.members: list[str] = []


class Entry:
    """A caller in a queue: `key` is the first call's id (kept through a callback)."""

    def __init__(self, key: str, call: Call, queue: str, now: float, order: int) -> None:
        self.key = key
        self.call = call  # the live call carrying the customer (the callback's call after one)
        self.queue = queue
        self.joined_at = self.arrived_at = now
        self.order = order
        self.offer: str | None = None
        self.tried: set[str] = set()
        self.retry_at: float | None = None
        self.virtual = False  # a callback waiting for its turn
        self.dialing = False
        self.attempts = 0
        self.callback_number = ""
        self.timers: list[Timer] = []


class Call:
    def __init__(self, call_id: str, caller: str, callee: str, now: float, *, ivr: bool = False) -> None:
        self.id = call_id
        self.caller = caller
        self.callee = callee
        self.started_at = now
        self.ringing_at: float | None = None
        self.answered_at: float | None = None
        self.ended = False
        self.ivr = ivr  # in the scenario (it gets IvrExited when it leaves)
        self.held_by: str | None = None
        self.parties: list[tuple[str, str]] = [("caller", caller)]  # (party, number) whose legs report quality


class Agent:
    def __init__(self, name: str, extension: str) -> None:
        self.name = name
        self.extension = extension
        self.state = "logged-out"
        self.entry: Entry | None = None
        self.call: Call | None = None
        self.offered_at = 0.0
        self.idle_since = 0.0
        self.pending_pause: str | None = None
        self.pending_logout: str | None = None
        self.consecutive = 0
        self.timer: Timer | None = None  # the offer's or the wrap-up's


class Timer:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


# The agent state machine of pbx/acd/agents.py, as (state, event) -> state.
TRANSITIONS = {
    ("logged-out", "log in"): "available", ("available", "log out"): "logged-out",
    ("available", "offer"): "offered", ("available", "pause"): "paused", ("offered", "answer"): "on-call",
    ("offered", "no answer"): "available", ("offered", "withdraw"): "available", ("on-call", "hang up"): "wrap-up",
    ("wrap-up", "wrap-up end"): "available", ("wrap-up", "pause"): "paused", ("wrap-up", "log out"): "logged-out",
    ("paused", "unpause"): "available", ("paused", "pause"): "paused", ("paused", "log out"): "logged-out",
}


class Simulator:
    def __init__(self, rng: random.Random, start: float, *, agents: int = 20, peak_per_hour: float = 330.0) -> None:
        self.rng = rng
        self.start = start
        self.now = start
        self.events: list[Event] = []
        self._heap: list[tuple[float, int, Timer, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._ids = itertools.count(1)
        self.peak_per_hour = peak_per_hour
        self.queues = {
            "sales": QueueModel("sales", wrap_up=10.0, max_wait=180.0),
            "support": QueueModel("support", wrap_up=20.0, max_wait=300.0,
                                  overflow=OverflowTarget(kind="voicemail", name="support"), callbacks=True),
        }
        self.agents: dict[str, Agent] = {}
        for index in range(agents):
            agent = Agent(f"agent{index + 1:02d}", str(2001 + index))
            self.agents[agent.name] = agent
            for queue in (("sales", "support"), ("support",), ("sales",))[index % 3]:
                self.queues[queue].members.append(agent.name)
        self.entries: dict[str, Entry] = {}
        self.connected: dict[str, tuple[Agent, Entry]] = {}  # live call id -> its agent
        self.recent: list[tuple[float, str]] = []  # (when, number) of earlier callers
        self.retry_delay = 5.0
        self.ring_timeout = 15.0
        self.callback_retries = 2
        self.callback_interval = 120.0

    # The engine ----------------------------------------------------------------------------------

    def at(self, when: float, action: Callable[..., None], *arguments: Any) -> Timer:
        timer = Timer()
        heapq.heappush(self._heap, (round(max(when, self.now), 3), next(self._order), timer, action, arguments))
        return timer

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def run(self) -> list[Event]:
        self._plan_agents()
        self.at(self.start + 7 * 3600, self._arrival)
        while self._heap:
            when, _, timer, action, arguments = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.now = when
            action(*arguments)
        return self.events

    def _new_id(self) -> str:
        return f"sim-{next(self._ids):06d}"

    # Agents' day ---------------------------------------------------------------------------------

    def _plan_agents(self) -> None:
        for index, agent in enumerate(self.agents.values()):
            shift = 7 * 3600 if index % 2 == 0 else 13 * 3600
            begin = self.start + shift + self.rng.uniform(-300, 600)
            self.at(begin, self.login, agent)
            lunch = begin + 4 * 3600 + self.rng.uniform(-900, 900)
            self.at(lunch, self.pause, agent, "lunch")
            self.at(lunch + self.rng.uniform(1800, 2400), self.unpause, agent)
            if index % 3 == 1:
                training = begin + self.rng.uniform(3600, 2.5 * 3600)
                self.at(training, self.pause, agent, "training")
                self.at(training + 1200, self.unpause, agent)
            self.at(begin + 8 * 3600 + self.rng.uniform(-600, 900), self.logout, agent)

    def change(self, agent: Agent, event: str, reason: str) -> None:
        target = TRANSITIONS[(agent.state, event)]  # a KeyError here is a bug of the model
        old, agent.state = agent.state, target
        if target == "available" and old in ("logged-out", "paused"):
            agent.idle_since = self.now
        self.emit(AgentStateChanged(at=self.now, agent=agent.name, old=old, new=target, reason=reason))

    def login(self, agent: Agent) -> None:
        agent.pending_logout = None
        if agent.state == "logged-out":
            self.change(agent, "log in", "login")
            self.dispatch()

    def logout(self, agent: Agent) -> None:
        if agent.state == "logged-out":
            return
        if agent.state == "on-call":
            agent.pending_logout = "logout"
            return
        self._withdraw_offer_of(agent, "agent-logging-out")
        self._cancel_agent_timer(agent)
        self.change(agent, "log out", "logout")
        self.dispatch()

    def pause(self, agent: Agent, reason: str) -> None:
        if agent.state == "logged-out":
            return
        if agent.state == "on-call":
            agent.pending_pause = reason
            return
        self._withdraw_offer_of(agent, "agent-pausing")
        self._cancel_agent_timer(agent)
        self.change(agent, "pause", reason)
        self.dispatch()

    def unpause(self, agent: Agent) -> None:
        agent.pending_pause = None
        if agent.state == "paused":
            agent.consecutive = 0
            self.change(agent, "unpause", "unpause")
            self.dispatch()

    def _cancel_agent_timer(self, agent: Agent) -> None:
        if agent.timer is not None:
            agent.timer.cancel()
            agent.timer = None

    # Arrivals ------------------------------------------------------------------------------------

    def rate(self, hour: float) -> float:
        """Calls per second at `hour` of the day: a morning and an afternoon peak, 07:30 to 20:30."""
        if not 7.5 <= hour < 20.5:
            return 0.0
        shape = 0.35 + math.exp(-((hour - 10.5) / 1.6) ** 2) + 0.8 * math.exp(-((hour - 15.0) / 1.8) ** 2)
        return self.peak_per_hour * shape / 1.35 / 3600

    def _arrival(self) -> None:
        """Thinning (Lewis and Shedler): candidates at the peak rate, kept with rate(t) / peak."""
        peak = self.peak_per_hour / 3600
        hour = (self.now - self.start) / 3600
        if hour >= 20.5:
            return
        if self.rng.random() < self.rate(hour) / peak:
            self._new_caller()
        self.at(self.now + self.rng.expovariate(peak), self._arrival)

    def _number(self) -> str:
        self.recent = [(when, number) for when, number in self.recent if self.now - when < 4 * 3600]
        if self.recent and self.rng.random() < 0.18:
            return self.rng.choice(self.recent)[1]
        number = f"+3361{self.rng.randrange(10**7):07d}"
        self.recent.append((self.now, number))
        return number

    def _new_caller(self) -> None:
        number = self._number()
        roll = self.rng.random()
        if roll < 0.03:
            callee = "800"
        elif roll < 0.13:
            callee = f"300{self.rng.randint(1, 6)}"
        elif roll < 0.33:
            callee = "801"
        else:
            callee = "800"
        call = Call(self._new_id(), number, callee, self.now)
        name = self.rng.choice([None, None, "Dupont", "Martin"])
        self.emit(CallStarted(at=self.now, call_id=call.id, caller=number, callee=callee, caller_name=name))
        if roll < 0.03:
            # Refused before any answer (no RTP ports: RFC 3261 21.5.4, 503).
            self.at(self.now + 0.05, self.end_call, call, "failure", 503, "system")
        elif roll < 0.13:
            self._direct(call)
        elif roll < 0.33:
            self._answer_by_pbx(call)
            self.join(call, "sales")
        else:
            self._answer_by_pbx(call)
            self._ivr(call)

    def _answer_by_pbx(self, call: Call) -> None:
        call.answered_at = call.ringing_at = self.now
        self.emit(CallAnswered(at=self.now, call_id=call.id, callee=call.callee, codec="PCMA", ring_seconds=0.0))

    # A call to an extension ----------------------------------------------------------------------

    def _direct(self, call: Call) -> None:
        self.at(self.now + 0.3, self._ringing, call)

    def _ringing(self, call: Call) -> None:
        call.ringing_at = self.now
        self.emit(CallRinging(at=self.now, call_id=call.id, callee=call.callee, early_media=False))
        roll = self.rng.random()
        if roll < 0.75:
            self.at(self.now + self.rng.uniform(2, 15), self._phone_answered, call)
        elif roll < 0.9:
            self.at(self.now + self.rng.uniform(3, 20), self.end_call, call, "cancelled", 487, "caller")
        else:
            self.at(self.now + 30, self.end_call, call, "no_answer", 480, "system")

    def _phone_answered(self, call: Call) -> None:
        call.answered_at = self.now
        call.parties.append(("callee", call.callee))
        self.emit(CallAnswered(at=self.now, call_id=call.id, callee=call.callee, codec="PCMA",
                               ring_seconds=round(self.now - (call.ringing_at or self.now), 3)))
        talk = self.rng.lognormvariate(4.5, 0.7)
        if self.rng.random() < 0.15:
            self.at(self.now + talk * 0.3, self._hold, call, call.callee, talk * 0.2)
        self.at(self.now + talk, self.end_call, call, "normal", 200, self.rng.choice(["caller", "callee"]))

    # The IVR ---------------------------------------------------------------------------------------

    def _ivr(self, call: Call) -> None:
        call.ivr = True
        self.emit(IvrStarted(at=self.now, call_id=call.id, scenario=SCENARIO, version=1))
        self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node="welcome", kind="block"))
        if self.rng.random() < 0.04:
            self.at(self.now + self.rng.uniform(1, 4), self._ivr_hang_up, call)
            return
        self.at(self.now + 4.0, self._menu, call, 1)

    def _menu(self, call: Call, attempt: int) -> None:
        self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node="menu", kind="menu"))
        roll = self.rng.random()
        if roll < 0.04:
            self.at(self.now + self.rng.uniform(1, 6), self._ivr_hang_up, call)
        elif roll < 0.09 and attempt < 3:
            self.at(self.now + 8.0, self._no_input, call, attempt)
        else:
            self.at(self.now + self.rng.uniform(2, 8), self._key, call)

    def _no_input(self, call: Call, attempt: int) -> None:
        self.emit(IvrNoInput(at=self.now, call_id=call.id, scenario=SCENARIO, node="menu", attempt=attempt))
        self._menu(call, attempt + 1)

    def _key(self, call: Call) -> None:
        key = self.rng.choices(["1", "2", "3"], [0.4, 0.45, 0.15])[0]
        self.emit(IvrKeyChosen(at=self.now, call_id=call.id, scenario=SCENARIO, menu="menu", key=key))
        if key == "3":
            self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node="balance", kind="block"))
            if self.rng.random() < 0.3:
                self.at(self.now + self.rng.uniform(3, 30), self._ivr_hang_up, call)
            else:
                self.at(self.now + self.rng.uniform(15, 60), self._self_served, call)
            return
        queue = "sales" if key == "1" else "support"
        self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node=queue, kind="block"))
        self.join(call, queue)

    def _self_served(self, call: Call) -> None:
        self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node="goodbye", kind="block"))
        if self.rng.random() < 0.3:
            self.emit(CallDisposition(at=self.now, call_id=call.id, value=f"csat={self.rng.randint(1, 5)}"))
        self._ivr_exit(call, self.rng.choice(["hangup", "finished"]))
        self.end_call(call, "normal", 200, "system")

    def _ivr_hang_up(self, call: Call) -> None:
        self._ivr_exit(call, "caller_hangup")
        self.end_call(call, "normal", 200, "caller")

    def _ivr_exit(self, call: Call, how: str) -> None:
        if call.ivr:
            call.ivr = False
            self.emit(IvrExited(at=self.now, call_id=call.id, scenario=SCENARIO, how=how, node=SCENARIO))

    def _back_to_scenario(self, call: Call, node: str, how: str, then: float) -> None:
        """The queue gave the call back (timed out, overflowed, exited): the on-failure branch."""
        if not call.ivr:
            self.end_call(call, "normal", 200, "system")
            return
        self.emit(IvrNodeEntered(at=self.now, call_id=call.id, scenario=SCENARIO, node=node, kind="block"))
        self._ivr_exit(call, how)
        if how == "voicemail":
            self.at(self.now + then, self.end_call, call, "normal", 200, "caller")
        else:
            self.end_call(call, "normal", 200, "system")

    # Queues ------------------------------------------------------------------------------------------

    def join(self, call: Call, queue_name: str) -> None:
        queue = self.queues[queue_name]
        entry = Entry(call.id, call, queue_name, self.now, next(self._order))
        queue.waiting.append(entry)
        self.entries[entry.key] = entry
        self.emit(QueueJoined(at=self.now, call_id=call.id, queue=queue_name, caller_number=call.caller, priority=0,
                              position=len(queue.waiting)))
        entry.timers.append(self.at(self.now + queue.max_wait, self._max_wait, entry))
        self._give_patience(entry)
        if queue.callbacks and self.rng.random() < 0.25:
            entry.timers.append(self.at(self.now + self.rng.uniform(15, 60), self._ask_callback, entry))
        if self.rng.random() < 0.01:
            entry.timers.append(self.at(self.now + self.rng.uniform(10, 60), self._exit_key, entry))
        self.dispatch()

    def _give_patience(self, entry: Entry) -> None:
        patience = self.rng.uniform(0.5, 5.0) if self.rng.random() < 0.06 else self.rng.expovariate(1 / 150)
        entry.timers.append(self.at(self.now + patience, self.caller_left, entry, "abandoned"))

    def _position(self, entry: Entry) -> int:
        return self.queues[entry.queue].waiting.index(entry) + 1

    def _remove(self, entry: Entry) -> None:
        self.queues[entry.queue].waiting.remove(entry)
        del self.entries[entry.key]
        for timer in entry.timers:
            timer.cancel()

    def caller_left(self, entry: Entry, how: str) -> None:
        """The caller hung up while waiting ("abandoned"), or pressed the exit key ("exited")."""
        if entry.key not in self.entries or entry.virtual or entry.dialing:
            return
        position = self._position(entry)
        self._withdraw(entry, "caller-left")
        wait = self.now - entry.arrived_at
        if how == "abandoned":
            self.emit(QueueAbandoned(at=self.now, call_id=entry.key, queue=entry.queue, position=position,
                                     wait_seconds=wait))
        else:
            self.emit(QueueLeft(at=self.now, call_id=entry.key, queue=entry.queue, wait_seconds=wait, reason=how))
        if entry.attempts:
            self._callback_completed(entry, "abandoned")
        self._remove(entry)
        call = entry.call
        if how == "abandoned":
            self._ivr_exit(call, "caller_hangup")
            self.end_call(call, "normal", 200, "caller")
        else:
            self._back_to_scenario(call, "sorry", "hangup", 0)
        self.dispatch()

    def _exit_key(self, entry: Entry) -> None:
        self.caller_left(entry, "exited")

    def _max_wait(self, entry: Entry) -> None:
        if entry.key not in self.entries or entry.virtual:
            return
        queue = self.queues[entry.queue]
        self._withdraw(entry, "caller-timed-out")
        wait = self.now - entry.arrived_at
        self._remove(entry)
        if queue.overflow is None:
            self.emit(QueueTimedOut(at=self.now, call_id=entry.key, queue=entry.queue, wait_seconds=wait))
            self._back_to_scenario(entry.call, "sorry", "hangup", 0)
        else:
            self.emit(QueueOverflowed(at=self.now, call_id=entry.key, queue=entry.queue, wait_seconds=wait,
                                      target=queue.overflow))
            self._back_to_scenario(entry.call, "voicemail", "voicemail", self.rng.uniform(10, 60))
        self.dispatch()

    def _ask_callback(self, entry: Entry) -> None:
        if entry.key not in self.entries or entry.virtual or entry.attempts:
            return
        self._withdraw(entry, "callback-requested")
        entry.virtual = True
        entry.callback_number = entry.call.caller
        for timer in entry.timers:
            timer.cancel()
        entry.timers = []
        entry.tried.clear()
        entry.retry_at = None
        self.emit(CallbackScheduled(at=self.now, call_id=entry.key, queue=entry.queue, number=entry.callback_number,
                                    position=self._position(entry)))
        self.dispatch()  # as the ACD: its turn may come at once, before this call is released
        self._ivr_exit(entry.call, "caller_hangup")  # the scenario hears the caller leave the queue
        self.end_call(entry.call, "normal", 200, "system")

    # Dispatching -------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Offer waiting callers to the longest-idle available member, queue by queue, in line order."""
        queues = sorted(self.queues.values(), key=lambda q: q.waiting[0].joined_at if q.waiting else math.inf)
        for queue in queues:
            for entry in list(queue.waiting):
                if entry.offer is not None or entry.dialing or entry.retry_at is not None:
                    continue
                available = [self.agents[name] for name in queue.members if self.agents[name].state == "available"]
                if not available:
                    break
                candidates = [agent for agent in available if agent.name not in entry.tried]
                if not candidates:
                    entry.retry_at = self.now + self.retry_delay
                    entry.timers.append(self.at(entry.retry_at, self._retry, entry))
                    continue
                if entry.virtual:
                    self._place_callback(entry)
                    continue
                agent = min(candidates, key=lambda a: (a.idle_since, a.name))
                self._offer(entry, agent)

    def _retry(self, entry: Entry) -> None:
        entry.retry_at = None
        entry.tried.clear()
        self.dispatch()

    def _offer(self, entry: Entry, agent: Agent) -> None:
        self.change(agent, "offer", f"offered {entry.key}")
        agent.entry, agent.offered_at = entry, self.now
        entry.offer = agent.name
        self.emit(AgentOffered(at=self.now, agent=agent.name, call_id=entry.key, queue=entry.queue))
        if self.rng.random() < 0.93:
            agent.timer = self.at(self.now + self.rng.uniform(1.0, 8.0), self._agent_answered, agent)
        else:
            agent.timer = self.at(self.now + self.ring_timeout, self._offer_failed, agent)

    def _withdraw(self, entry: Entry, reason: str) -> None:
        if entry.offer is None:
            return
        agent = self.agents[entry.offer]
        self._cancel_agent_timer(agent)
        entry.offer, agent.entry = None, None
        self.change(agent, "withdraw", f"offer withdrawn: {reason}")

    def _withdraw_offer_of(self, agent: Agent, reason: str) -> None:
        if agent.state == "offered" and agent.entry is not None:
            entry = agent.entry
            self._withdraw(entry, reason)

    def _offer_failed(self, agent: Agent) -> None:
        entry = agent.entry
        assert entry is not None
        agent.timer, agent.entry, entry.offer = None, None, None
        self.change(agent, "no answer", "offer failed: no-answer")
        entry.tried.add(agent.name)
        agent.consecutive += 1
        self.emit(AgentNoAnswer(at=self.now, agent=agent.name, call_id=entry.key, queue=entry.queue,
                                reason="no-answer", consecutive=agent.consecutive))
        self.dispatch()

    def _agent_answered(self, agent: Agent) -> None:
        entry = agent.entry
        assert entry is not None
        agent.timer, entry.offer = None, None
        self.change(agent, "answer", "answered")
        agent.consecutive = 0
        call = entry.call
        agent.call = call
        self.emit(AgentConnected(at=self.now, agent=agent.name, call_id=entry.key, queue=entry.queue,
                                 wait_seconds=self.now - entry.arrived_at, ring_seconds=self.now - agent.offered_at))
        if entry.attempts:
            self._callback_completed(entry, "answered")
        self._remove(entry)
        self._ivr_exit(call, "queue")
        self.connected[call.id] = (agent, entry)
        call.parties.append(("callee", agent.extension))
        self._talk(call, agent)
        self.dispatch()

    def _talk(self, call: Call, agent: Agent) -> None:
        talk = self.rng.lognormvariate(5.1, 0.6)
        end = self.now + talk
        if self.rng.random() < 0.2:
            self.at(self.now + talk * 0.4, self._hold, call, agent.extension, talk * 0.2)
        if self.rng.random() < 0.08:
            moment = self.now + talk * 0.7
            if self.rng.random() < 0.5:
                self.at(moment - 15.0, self._hold, call, agent.extension, None)
            self.at(moment, self._transfer, call, agent)
            end = moment + self.rng.uniform(30, 240)
        self._survey(call, end)
        self.at(end, self.end_call, call, "normal", 200, self.rng.choice(["caller", "callee"]))

    def _hold(self, call: Call, by: str, seconds: float | None) -> None:
        if call.ended or call.held_by is not None:
            return
        call.held_by = by
        self.emit(CallHeld(at=self.now, call_id=call.id, by=by))
        if seconds is not None:
            self.at(self.now + seconds, self._resume, call, by)

    def _resume(self, call: Call, by: str) -> None:
        if call.ended or call.held_by != by:
            return
        call.held_by = None
        self.emit(CallResumed(at=self.now, call_id=call.id, by=by))

    def _transfer(self, call: Call, agent: Agent) -> None:
        """A blind transfer to 3002, published when the target answers (the hold ends silently)."""
        if call.ended:
            return
        target = "3002"
        self.emit(CallTransferred(at=self.now, call_id=call.id, kind="blind", transferor=agent.extension,
                                  transferee=call.caller, target=target))
        call.held_by = None
        call.parties = [party for party in call.parties if party != ("callee", agent.extension)]
        call.parties.append(("callee", target))
        self.emit(CallQuality(**self._quality(call.id, "callee", agent.extension)))

    def _survey(self, call: Call, end: float) -> None:
        if self.rng.random() < 0.35:
            self.at(end - 1.0, self._disposition, call, f"csat={self.rng.randint(1, 5)}")
            if self.rng.random() < 0.1:
                self.at(end - 0.5, self._disposition, call, f"csat={self.rng.randint(1, 5)}")
        if self.rng.random() < 0.15:
            self.at(end - 0.8, self._disposition, call, f"nps={self.rng.randint(0, 10)}")
        if self.rng.random() < 0.1:
            self.at(end - 0.7, self._disposition, call, f"ces={self.rng.randint(1, 7)}")
        if self.rng.random() < 0.05:
            self.at(end - 0.6, self._disposition, call, "sold")

    def _disposition(self, call: Call, value: str) -> None:
        if not call.ended:
            self.emit(CallDisposition(at=self.now, call_id=call.id, value=value))

    # Callbacks ---------------------------------------------------------------------------------------

    def _place_callback(self, entry: Entry) -> None:
        entry.dialing = True
        entry.attempts += 1
        call = Call(self._new_id(), entry.callback_number, f"callback:{entry.queue}", self.now)
        self.emit(CallStarted(at=self.now, call_id=call.id, caller=call.caller, callee=call.callee,
                              direction="outbound", linked_id=entry.key))
        if self.rng.random() < 0.7:
            self.at(self.now + self.rng.uniform(3, 12), self._callback_answered, entry, call)
        else:
            self.at(self.now + self.rng.uniform(15, 25), self._callback_failed, entry, call)

    def _callback_answered(self, entry: Entry, call: Call) -> None:
        # service.callback_answered: the call is answered without a CallAnswered on the bus.
        call.answered_at = call.ringing_at = self.now
        entry.dialing = False
        entry.virtual = False
        entry.call = call
        self._give_patience(entry)
        self.dispatch()

    def _callback_failed(self, entry: Entry, call: Call) -> None:
        self.end_call(call, "no_answer", 480, "callee")
        entry.dialing = False
        if entry.attempts > self.callback_retries:
            self._callback_completed(entry, "failed")
            self._remove(entry)
            self.dispatch()
            return
        entry.retry_at = self.now + self.callback_interval
        entry.timers.append(self.at(entry.retry_at, self._callback_retry, entry))

    def _callback_retry(self, entry: Entry) -> None:
        entry.retry_at = None
        self.dispatch()

    def _callback_completed(self, entry: Entry, outcome: str) -> None:
        self.emit(CallbackCompleted(at=self.now, call_id=entry.key, queue=entry.queue, number=entry.callback_number,
                                    outcome=outcome, attempts=entry.attempts, wait_seconds=self.now - entry.joined_at))

    # Ending ------------------------------------------------------------------------------------------

    def _quality(self, call_id: str, party: str, number: str) -> dict[str, Any]:
        packets = self.rng.randint(1000, 20000)
        loss = self.rng.choice([0.0, 0.0, 0.5, 1.0, 3.0])
        lost = int(packets * loss / 100)
        return dict(at=self.now, call_id=call_id, party=party, number=number, codec="PCMA", packets=packets,
                    lost=lost, loss_percent=loss, jitter_ms=round(self.rng.uniform(1, 40), 1),
                    mos=round(self.rng.uniform(2.9, 4.4), 2), ssrc_changes=0, rtcp_reports=packets // 250,
                    remote_loss_percent=None, remote_jitter_ms=None, round_trip_ms=None)

    def end_call(self, call: Call, cause: str, status: int, hangup_by: str) -> None:
        if call.ended:
            return
        call.ended = True
        answered = call.answered_at is not None
        if answered:
            for party, number in call.parties:
                self.emit(CallQuality(**self._quality(call.id, party, number)))
        ring_end = call.answered_at if answered else self.now
        self.emit(CallEnded(
            at=self.now, call_id=call.id, caller=call.caller, callee=call.callee, cause=cause, status=status,
            hangup_by=hangup_by, answered=answered, total_seconds=round(self.now - call.started_at, 3),
            ring_seconds=round(ring_end - (call.ringing_at or ring_end), 3),
            talk_seconds=round(self.now - call.answered_at, 3) if answered else 0.0))
        talked = self.connected.pop(call.id, None)
        if talked is not None:
            self._agent_call_ended(*talked)

    def _agent_call_ended(self, agent: Agent, entry: Entry) -> None:
        agent.call = None
        agent.entry = None
        self.change(agent, "hang up", "call ended")
        agent.idle_since = self.now  # the ACD's longest-idle counts from the call's end
        agent.timer = self.at(self.now + self.queues[entry.queue].wrap_up, self._wrap_up_ended, agent)

    def _wrap_up_ended(self, agent: Agent) -> None:
        agent.timer = None
        if agent.state != "wrap-up":
            return
        if agent.pending_logout is not None:
            reason, agent.pending_logout = agent.pending_logout, None
            self.change(agent, "log out", reason)
        elif agent.pending_pause is not None:
            reason, agent.pending_pause = agent.pending_pause, None
            self.change(agent, "pause", reason)
        else:
            self.change(agent, "wrap-up end", "wrap-up ended")
        self.dispatch()


def simulate_day(rng: random.Random, start: float, *, agents: int = 20, peak_per_hour: float = 330.0) -> list[Event]:
    """A day of bus events from `start` (local midnight, say): arrivals 07:30 to 20:30."""
    return Simulator(rng, start, agents=agents, peak_per_hour=peak_per_hour).run()
