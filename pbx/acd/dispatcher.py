"""The ACD core: agents and queues in, decisions out (sans-IO).

    acd = Acd(rng=random.Random(), registry=default_registry())
    acd.add_queue(QueueSettings(name="support", strategy="longest-idle", wrap_up=10))
    acd.add_agent("alice", "201", [Membership("support", penalty=0, skills={"pl": 5})], now=now)
    outputs = acd.login("alice", now)
    outputs = acd.join("c1", "+48600100200", "support", now, priority=0, skills={"pl": 3})

Every entry point takes `now` and returns a list of outputs (outputs.py): commands
for the call layer and events for the bus, in the order they happened. The call
layer reports back with `offer_answered`, `offer_failed`, `call_ended`,
`caller_left`, `callback_answered` and `callback_failed`; the adapter asks
`next_deadline()` and calls `handle_timer(now)` then (ring timeouts, wrap-up ends,
max waits, announcements, retries, penalty widening, callback retries).

Reports that arrive after the ACD moved on (an offer failing after it was
cancelled, a call ending twice) are races, not errors: they return []. An offer
answered after it was withdrawn returns CancelOffer so the agent's leg is hung
up. Using a name the ACD does not know is our own misuse and raises KeyError; an
agent operation the state machine refuses raises AgentStateError.

How decisions are made:
- Whenever something changes (a caller joins, an agent becomes available, an offer fails,
  a timer fires) the queues concerned are looked at, the one whose first caller is most
  urgent first. In each, callers are served in line order (priority, then join time);
  a caller who already rings someone is skipped (one offer at a time, or one ring-all
  round), so the next caller in line may take another available agent.
- Eligible agents for a caller: available, member of the queue, penalty within what the
  caller's wait allows (penalty_steps), holding every required skill at the minimum level
  (for every strategy), and not yet tried for this caller. Only the lowest penalty
  present is handed to the strategy (tiers).
- Agents who failed a caller are not offered that caller again until `retry_delay` has
  passed since nobody was left to try; then the caller starts over.
- A callback entry's turn comes when it is first in line with an eligible agent
  available: PlaceCallback. The agent is not reserved meanwhile; the answered customer
  waits again at their old place (usually still first) with no max wait.
- Max wait counts from this call's arrival; the line position from `joined_at`.

What this does not do: SIP, media, prompts, storage, bus publishing, clocks.
"""

from __future__ import annotations

from .agents import Agent, AgentEvent, AgentState, Membership
from .deadlines import Deadlines
from .ewt import WaitEstimate, remaining_seconds
from .outputs import (
    AgentConnected, AgentNoAnswer, AgentOffered, AgentStateChanged, AnnounceToCaller, CallbackCompleted,
    CallbackScheduled, CancelOffer, ConnectAgent, OfferCall, Outcome, Output, Overflow, PlaceCallback,
    QueueAbandoned, QueueJoined, QueueLeft, QueueOverflowed, QueueTimedOut, Refused, RemoveCaller,
)
from .queue import Entry, Queue, QueueSettings
from .reconciler import reconcile
from .snapshot import AcdSnapshot, take_snapshot
from .strategies import Candidate, Rng, StrategyRegistry, default_registry, has_skills

S, E = AgentState, AgentEvent


class Acd:
    def __init__(self, rng: Rng, *, registry: StrategyRegistry | None = None, reconcile_grace: float = 5.0) -> None:
        self.rng = rng
        self.registry = registry if registry is not None else default_registry()
        self.reconcile_grace = reconcile_grace  # the reconciler leaves states younger than this alone
        self.agents: dict[str, Agent] = {}
        self.queues: dict[str, Queue] = {}
        self.entries: dict[str, Entry] = {}  # call id -> its entry (a call waits in one queue at a time)
        self.available: dict[str, set[str]] = {}  # queue -> its members who are available now
        self.deadlines = Deadlines()
        self._dirty: set[str] = set()  # queues to look at before returning
        self._order = 0

    # Setting up ------------------------------------------------------------------------------------

    def add_queue(self, settings: QueueSettings) -> None:
        if settings.name in self.queues:
            raise ValueError(f"queue {settings.name!r} already exists")
        self.queues[settings.name] = Queue(settings, self.registry.make_strategy(settings.strategy))
        self.available[settings.name] = set()

    def change_queue(self, settings: QueueSettings) -> None:
        """New rules for a queue that exists (a config reload): the next decision follows them.
        Callers waiting keep their place; a deadline already set (a ring, a wait) runs out as set."""
        queue = self.queues[settings.name]
        if settings.strategy != queue.settings.strategy:
            queue.strategy = self.registry.make_strategy(settings.strategy)
        queue.settings = settings

    def add_agent(self, name: str, extension: str, memberships: list[Membership] = (), *,
                  static: bool = False, now: float = 0.0) -> None:
        """A new agent, logged out. Every membership's queue must exist."""
        if name in self.agents:
            raise ValueError(f"agent {name!r} already exists")
        unknown = [m.queue for m in memberships if m.queue not in self.queues]
        if unknown:
            raise KeyError(f"agent {name!r}: no such queue {unknown[0]!r}")
        for membership in memberships:
            self.queues[membership.queue].add_member(name)
        self.agents[name] = Agent(name, extension, list(memberships), static=static, now=now)

    # Callers ---------------------------------------------------------------------------------------

    def join(self, call_id: str, caller_number: str, queue: str, now: float, *, priority: int = 0,
             skills: dict[str, int] | None = None, preferred_agent: str | None = None) -> list[Output] | Refused:
        """A caller enters `queue` (higher priority is served first; `skills` are required minimums;
        `preferred_agent`, when available and qualified, is offered the call before the strategy's choice)."""
        if call_id in self.entries:
            raise ValueError(f"call {call_id!r} is already waiting in queue {self.entries[call_id].queue!r}")
        target = self.queues.get(queue)
        if target is None:
            return Refused(reason="unknown-queue")
        if target.is_full():
            return Refused(reason="full")
        if not target.settings.join_when_empty and self.is_empty(target):
            return Refused(reason="empty")
        resumed_at = target.resume_join_time(caller_number, now)
        self._order += 1
        entry = Entry(call_id, queue, caller_number, priority, dict(skills or {}),
                      joined_at=resumed_at if resumed_at is not None else now, arrived_at=now, order=self._order)
        entry.resumed = resumed_at is not None
        entry.preferred_agent = preferred_agent
        target.waiting.add(entry)
        self.entries[call_id] = entry
        settings = target.settings
        if settings.max_wait > 0:
            self.deadlines.set(("max-wait", call_id), now + settings.max_wait)
        if settings.announce_position_every > 0:
            self.deadlines.set(("announce", call_id), now + settings.announce_position_every)
        self._schedule_widening(target, entry, now)
        self._dirty.add(queue)
        joined = QueueJoined(at=now, call_id=call_id, queue=queue, caller_number=caller_number, priority=priority,
                             position=target.waiting.position(entry), resumed=entry.resumed)
        return [joined, *self._dispatch(now)]

    def caller_left(self, call_id: str, now: float, *, outcome: str = Outcome.ABANDONED) -> list[Output]:
        """The caller hung up (outcome "abandoned") or the call layer took them out ("exited": a key
        pressed to leave, a transfer, shutdown; "timed-out": the wait the scenario allowed ran out).
        An unknown call id (already removed) returns []."""
        if outcome not in (Outcome.ABANDONED, Outcome.EXITED, Outcome.TIMED_OUT):
            raise ValueError(f"a caller leaves as {Outcome.ABANDONED!r}, {Outcome.EXITED!r} or "
                             f"{Outcome.TIMED_OUT!r}, not {outcome!r}")
        entry = self.entries.get(call_id)
        if entry is None:
            return []
        queue = self.queues[entry.queue]
        position = queue.waiting.position(entry)
        outputs = self._withdraw_all(entry, "caller-left", now)
        wait = now - entry.arrived_at
        if outcome == Outcome.ABANDONED:
            outputs.append(QueueAbandoned(at=now, call_id=call_id, queue=entry.queue, position=position,
                                          wait_seconds=wait))
            if not entry.is_callback:
                queue.remember_abandon(entry.caller_number, entry.joined_at, now)
        elif outcome == Outcome.TIMED_OUT:
            outputs.append(QueueTimedOut(at=now, call_id=call_id, queue=entry.queue, wait_seconds=wait))
        else:
            outputs.append(QueueLeft(at=now, call_id=call_id, queue=entry.queue, wait_seconds=wait, reason=outcome))
        if entry.is_callback:
            outputs.append(self._callback_completed(entry, "abandoned", now))
        outputs += self._remove(entry, outcome)
        return outputs + self._dispatch(now)

    def request_callback(self, call_id: str, number: str, now: float) -> list[Output] | Refused:
        """The caller asks to be called back at `number` and will hang up; their place is kept.
        Refused when callbacks are off, already asked for, or the caller no longer waits (a race
        with an answer)."""
        entry = self.entries.get(call_id)
        if entry is None:
            return Refused(reason="not-waiting")
        queue = self.queues[entry.queue]
        if not queue.settings.callback.enabled:
            return Refused(reason="callbacks-disabled")
        if entry.is_callback:
            return Refused(reason="callback-already-scheduled")
        outputs = self._withdraw_all(entry, "callback-requested", now)
        entry.callback_number = number
        entry.is_virtual = True
        for kind in ("max-wait", "announce", "retry"):
            self.deadlines.cancel((kind, call_id))
        entry.tried.clear()
        entry.retry_at = None
        outputs.append(CallbackScheduled(at=now, call_id=call_id, queue=entry.queue, number=number,
                                         position=queue.waiting.position(entry)))
        self._dirty.add(entry.queue)
        return outputs + self._dispatch(now)

    def callback_answered(self, call_id: str, now: float) -> list[Output]:
        """The customer answered our callback: they wait again, at their old place (no max wait)."""
        entry = self.entries.get(call_id)
        if entry is None or not entry.is_dialing:
            return []
        entry.is_dialing = False
        entry.is_virtual = False
        self._dirty.add(entry.queue)
        return self._dispatch(now)

    def callback_failed(self, call_id: str, reason: str, now: float) -> list[Output]:
        """Our callback was not answered: retry after the interval, or give up after the retries."""
        entry = self.entries.get(call_id)
        if entry is None or not entry.is_dialing:
            return []
        entry.is_dialing = False
        settings = self.queues[entry.queue].settings.callback
        if entry.callback_attempts > settings.retries:
            outputs: list[Output] = [self._callback_completed(entry, "failed", now)]
            return outputs + self._remove(entry, Outcome.CALLBACK_FAILED) + self._dispatch(now)
        entry.retry_at = now + settings.retry_interval
        self.deadlines.set(("callback", call_id), entry.retry_at)
        return []

    # Offers and calls ------------------------------------------------------------------------------

    def offer_answered(self, agent_name: str, call_id: str, now: float) -> list[Output]:
        agent = self.agents[agent_name]
        entry = self.entries.get(call_id)
        if agent.state is not S.OFFERED or agent.call_id != call_id or entry is None:
            return [CancelOffer(agent=agent_name, call_id=call_id, reason="offer-withdrawn")]
        self.deadlines.cancel(("offer", agent_name))
        ring = now - (agent.offered_at or now)
        outputs: list[Output] = [self._change(agent, E.ANSWER, now, "answered")]
        agent.call_id, agent.queue, agent.answered_at = call_id, entry.queue, now
        agent.calls_taken += 1
        agent.consecutive_no_answers = 0
        entry.offers.discard(agent_name)
        outputs += self._withdraw_all(entry, "answered-elsewhere", now)
        outputs.append(ConnectAgent(agent=agent_name, call_id=call_id, queue=entry.queue))
        outputs.append(AgentConnected(at=now, agent=agent_name, call_id=call_id, queue=entry.queue,
                                      wait_seconds=now - entry.arrived_at, ring_seconds=ring))
        if entry.is_callback:
            outputs.append(self._callback_completed(entry, "answered", now))
            outputs += self._remove(entry, Outcome.CALLBACK_ANSWERED)
        else:
            outputs += self._remove(entry, Outcome.ANSWERED)
        return outputs + self._dispatch(now)

    def offer_failed(self, agent_name: str, call_id: str, reason: str, now: float) -> list[Output]:
        """No answer, busy, rejected: the caller goes on to the next agent; N misses in a row pause the agent."""
        agent = self.agents[agent_name]
        if agent.state is not S.OFFERED or agent.call_id != call_id:
            return []
        entry = self.entries[call_id]
        settings = self.queues[entry.queue].settings
        self.deadlines.cancel(("offer", agent_name))
        outputs: list[Output] = [self._change(agent, E.NO_ANSWER, now, f"offer failed: {reason}")]
        entry.offers.discard(agent_name)
        entry.tried.add(agent_name)
        agent.consecutive_no_answers += 1
        agent.missed_offers += 1
        outputs.append(AgentNoAnswer(at=now, agent=agent_name, call_id=call_id, queue=entry.queue, reason=reason,
                                     consecutive=agent.consecutive_no_answers))
        if 0 < settings.autopause_after <= agent.consecutive_no_answers:
            agent.consecutive_no_answers = 0
            outputs.append(self._change(agent, E.PAUSE, now, "auto-pause: missed offers"))
        self._dirty.add(entry.queue)
        return outputs + self._dispatch(now)

    def call_ended(self, agent_name: str, call_id: str, now: float, *, reason: str = "call ended") -> list[Output]:
        """The agent's queue call is over (either side hung up): wrap-up starts."""
        agent = self.agents[agent_name]
        if agent.state is not S.ON_CALL or agent.call_id != call_id:
            return []
        queue = self.queues.get(agent.queue) if agent.queue else None
        talk = now - (agent.answered_at if agent.answered_at is not None else now)
        agent.talk_seconds += talk
        agent.last_call_ended = now
        wrap_up = 0.0
        if queue is not None:
            queue.handle_time.observe(talk)
            wrap_up = queue.settings.wrap_up
        outputs: list[Output] = [self._change(agent, E.HANG_UP, now, reason)]
        agent.wrap_up_until = now + wrap_up
        if wrap_up > 0:
            self.deadlines.set(("wrap-up", agent_name), agent.wrap_up_until)
        else:
            outputs += self._end_wrap_up(agent, now)
        return outputs + self._dispatch(now)

    # Agents ----------------------------------------------------------------------------------------

    def login(self, agent_name: str, now: float, *, reason: str = "login") -> list[Output]:
        """Log in (a dynamic agent's feature code, or a static agent's phone registering). Repeats are no-ops."""
        agent = self.agents[agent_name]
        agent.pending_logout = None
        if agent.state is not S.LOGGED_OUT:
            return []
        return [self._change(agent, E.LOG_IN, now, reason), *self._dispatch(now)]

    def logout(self, agent_name: str, now: float, *, reason: str = "logout") -> list[Output]:
        """Log out now, or after the wrap-up when on a call. A ringing offer is withdrawn first."""
        agent = self.agents[agent_name]
        if agent.state is S.LOGGED_OUT:
            return []
        if agent.state is S.ON_CALL:
            agent.pending_logout = reason
            return []
        outputs = self._withdraw_offer_of(agent, "agent-logging-out", now)
        self.deadlines.cancel(("wrap-up", agent_name))
        outputs.append(self._change(agent, E.LOG_OUT, now, reason))
        return outputs + self._dispatch(now)

    def pause(self, agent_name: str, reason: str, now: float) -> list[Output]:
        """Pause with a reason code (break, lunch, ...): now, or after the wrap-up when on a call."""
        agent = self.agents[agent_name]
        if agent.state is S.ON_CALL:
            agent.pending_pause = reason
            return []
        if agent.state is S.LOGGED_OUT:
            agent.apply(E.PAUSE, now, reason)  # raises AgentStateError: a logged-out agent cannot pause
        outputs = self._withdraw_offer_of(agent, "agent-pausing", now)
        self.deadlines.cancel(("wrap-up", agent_name))
        outputs.append(self._change(agent, E.PAUSE, now, reason))
        return outputs + self._dispatch(now)

    def unpause(self, agent_name: str, now: float, *, reason: str = "unpause") -> list[Output]:
        agent = self.agents[agent_name]
        agent.pending_pause = None
        if agent.state is not S.PAUSED:
            if agent.state is S.LOGGED_OUT:
                agent.apply(E.UNPAUSE, now, reason)  # raises AgentStateError
            return []
        agent.consecutive_no_answers = 0
        return [self._change(agent, E.UNPAUSE, now, reason), *self._dispatch(now)]

    def phone_in_use(self, agent_name: str, call_id: str, in_use: bool, now: float) -> list[Output]:
        """The agent's phone started (or ended) `call_id`, a call the ACD did not place: a direct
        call, a call the agent dialled, a click-to-call. While it lasts the agent is not offered queue
        calls; when the last one ends, waiting callers are offered at once. The state is unchanged
        (an available agent on a direct call stays "available", with `in_use`)."""
        agent = self.agents[agent_name]
        was_available = agent.is_available
        if in_use:
            agent.direct_calls.add(call_id)
        else:
            agent.direct_calls.discard(call_id)
        if agent.is_available == was_available:
            return []
        for queue in agent.memberships:
            if agent.is_available:
                self.available[queue].add(agent.name)
            else:
                self.available[queue].discard(agent.name)
        if not agent.is_available:
            return []
        self._dirty.update(agent.memberships)
        return self._dispatch(now)

    # Time ------------------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self.deadlines.next()

    def handle_timer(self, now: float) -> list[Output]:
        outputs: list[Output] = []
        estimates: dict[str, WaitEstimate] = {}
        while due := self.deadlines.pop_due(now):
            for kind, name in due:
                outputs += self._fire(kind, name, now, estimates)
        return outputs + self._dispatch(now)

    def _fire(self, kind: str, name: str, now: float, estimates: dict[str, WaitEstimate]) -> list[Output]:
        if kind == "offer":
            agent = self.agents[name]
            call_id = agent.call_id or ""
            cancel = CancelOffer(agent=name, call_id=call_id, reason="no-answer")
            return [cancel, *self.offer_failed(name, call_id, "no-answer", now)]
        if kind == "wrap-up":
            agent = self.agents[name]
            return self._end_wrap_up(agent, now) if agent.state is S.WRAP_UP else []
        entry = self.entries.get(name)
        if entry is None:
            return []
        queue = self.queues[entry.queue]
        if kind == "max-wait":
            return self._time_out(queue, entry, now)
        if kind == "announce":
            self.deadlines.set(("announce", name), now + queue.settings.announce_position_every)
            if entry.offers or entry.is_virtual:
                return []
            if queue.name not in estimates:
                estimates[queue.name] = self.wait_estimate(queue.name, now)
            position = queue.waiting.position(entry)
            return [AnnounceToCaller(call_id=name, queue=queue.name, position=position,
                                     ewt_seconds=estimates[queue.name].for_position(position))]
        if kind == "retry":
            entry.tried.clear()
            entry.retry_at = None
        elif kind == "callback":
            entry.retry_at = None
        elif kind == "widen":
            self._schedule_widening(queue, entry, now)
        self._dirty.add(queue.name)
        return []

    # Questions -------------------------------------------------------------------------------------

    def is_empty(self, queue: Queue) -> bool:
        """No member logged in ("no-agents-logged-in") or none logged in and unpaused ("no-agents-staffed")."""
        staffed_only = queue.settings.empty_means == "no-agents-staffed"
        for name in queue.members:
            agent = self.agents[name]
            if agent.is_staffed if staffed_only else agent.is_logged_in:
                return False
        return True

    def wait_estimate(self, queue_name: str, now: float) -> WaitEstimate:
        """EWT for every position of a queue right now (see ewt.py for the formula)."""
        queue = self.queues[queue_name]
        talk, wrap_up = queue.handle_time.seconds, queue.settings.wrap_up
        remaining = []
        for name in queue.members:
            agent = self.agents[name]
            left = remaining_seconds(agent.state.value, now=now, talk_average=talk, wrap_up=wrap_up,
                                     answered_at=agent.answered_at, wrap_up_until=agent.wrap_up_until)
            if left is not None:
                remaining.append(left)
        return WaitEstimate(remaining, talk + wrap_up)

    def snapshot(self, now: float) -> AcdSnapshot:
        return take_snapshot(self, now)

    def reconcile(self, active_agent_calls: set[tuple[str, str]], now: float) -> list[Output]:
        """Repair agent states that contradict the call layer's view (see reconciler.py)."""
        return reconcile(self, active_agent_calls, now)

    # Deciding --------------------------------------------------------------------------------------

    def _dispatch(self, now: float) -> list[Output]:
        """Offer waiting callers to available agents in every queue something happened to."""
        outputs: list[Output] = []
        while self._dirty:
            queues = sorted((self.queues[name] for name in self._dirty), key=_head_key)
            self._dirty.clear()
            for queue in queues:
                if queue.settings.leave_when_empty and len(queue.waiting) and self.is_empty(queue):
                    outputs += self._empty_out(queue, now)
                    continue
                available = self.available[queue.name]
                for entry in queue.waiting:
                    if not available:
                        break
                    if entry.offers or entry.is_dialing or entry.retry_at is not None:
                        continue
                    outputs += self._serve(queue, entry, available, now)
        return outputs

    def _serve(self, queue: Queue, entry: Entry, available: set[str], now: float) -> list[Output]:
        limit = queue.settings.max_penalty(now - entry.joined_at)
        candidates = []
        passed_over = False
        for name in available:
            agent = self.agents[name]
            membership = agent.memberships[queue.name]
            if limit is not None and membership.penalty > limit:
                continue
            if entry.skills and not has_skills(membership.skills, entry.skills):
                continue
            if name in entry.tried:
                passed_over = True
                continue
            candidates.append(Candidate(name, membership.penalty, membership.weight, membership.skills,
                                        agent.calls_taken, agent.talk_seconds, agent.idle_since, queue.rank[name]))
        if not candidates:
            if passed_over or entry.tried:
                entry.retry_at = now + queue.settings.retry_delay
                self.deadlines.set(("retry", entry.call_id), entry.retry_at)
            return []
        if entry.is_virtual:  # a callback's turn: call the customer; an agent gets them once they answer
            entry.is_dialing = True
            entry.callback_attempts += 1
            return [PlaceCallback(call_id=entry.call_id, number=entry.callback_number or "", queue=queue.name,
                                  attempt=entry.callback_attempts)]
        preferred = [c for c in candidates if c.name == entry.preferred_agent]
        if preferred:
            return self._offer(queue, entry, self.agents[preferred[0].name], now)
        tier = min(c.penalty for c in candidates)
        candidates = [c for c in candidates if c.penalty == tier]
        chosen = queue.strategy.order(queue.name, entry, candidates, now, self.rng)
        if not queue.strategy.rings_all:
            chosen = chosen[:1]
        outputs: list[Output] = []
        for name in chosen:
            outputs += self._offer(queue, entry, self.agents[name], now)
        return outputs

    def _offer(self, queue: Queue, entry: Entry, agent: Agent, now: float) -> list[Output]:
        change = self._change(agent, E.OFFER, now, f"offered {entry.call_id}")
        agent.call_id, agent.queue, agent.offered_at = entry.call_id, queue.name, now
        entry.offers.add(agent.name)
        settings = queue.settings
        self.deadlines.set(("offer", agent.name), now + settings.ring_timeout)
        return [change, AgentOffered(at=now, agent=agent.name, call_id=entry.call_id, queue=queue.name),
                OfferCall(agent=agent.name, extension=agent.extension, call_id=entry.call_id, queue=queue.name,
                          timeout=settings.ring_timeout, whisper=queue.name if settings.whisper else None)]

    # Changing --------------------------------------------------------------------------------------

    def _change(self, agent: Agent, event: AgentEvent, now: float, reason: str) -> AgentStateChanged:
        """Every agent transition goes through here, to keep the per-queue available sets true."""
        was_available = agent.is_available
        change = agent.apply(event, now, reason)
        if agent.is_available != was_available:
            for queue in agent.memberships:
                if agent.is_available:
                    self.available[queue].add(agent.name)
                else:
                    self.available[queue].discard(agent.name)
        if agent.is_available or agent.state in (S.LOGGED_OUT, S.PAUSED):
            self._dirty.update(agent.memberships)
        return change

    def _end_wrap_up(self, agent: Agent, now: float) -> list[Output]:
        self.deadlines.cancel(("wrap-up", agent.name))
        if agent.pending_logout is not None:
            return [self._change(agent, E.LOG_OUT, now, agent.pending_logout)]
        if agent.pending_pause is not None:
            reason, agent.pending_pause = agent.pending_pause, None
            return [self._change(agent, E.PAUSE, now, reason)]
        return [self._change(agent, E.WRAP_UP_END, now, "wrap-up ended")]

    def _withdraw(self, agent: Agent, entry: Entry, reason: str, now: float) -> list[Output]:
        self.deadlines.cancel(("offer", agent.name))
        entry.offers.discard(agent.name)
        change = self._change(agent, E.WITHDRAW, now, f"offer withdrawn: {reason}")
        return [CancelOffer(agent=agent.name, call_id=entry.call_id, reason=reason), change]

    def _withdraw_all(self, entry: Entry, reason: str, now: float) -> list[Output]:
        outputs: list[Output] = []
        for name in sorted(entry.offers):
            outputs += self._withdraw(self.agents[name], entry, reason, now)
        return outputs

    def _withdraw_offer_of(self, agent: Agent, reason: str, now: float) -> list[Output]:
        if agent.state is not S.OFFERED:
            return []
        return self._withdraw(agent, self.entries[agent.call_id or ""], reason, now)

    def _remove(self, entry: Entry, outcome: str) -> list[Output]:
        """The one place an entry leaves: its RemoveCaller."""
        self.queues[entry.queue].waiting.remove(entry)
        del self.entries[entry.call_id]
        for kind in ("max-wait", "announce", "retry", "callback", "widen"):
            self.deadlines.cancel((kind, entry.call_id))
        self._dirty.add(entry.queue)
        return [RemoveCaller(call_id=entry.call_id, queue=entry.queue, outcome=outcome)]

    def _time_out(self, queue: Queue, entry: Entry, now: float) -> list[Output]:
        outputs = self._withdraw_all(entry, "caller-timed-out", now)
        wait = now - entry.arrived_at
        target = queue.settings.overflow
        if target is None:
            outputs.append(QueueTimedOut(at=now, call_id=entry.call_id, queue=queue.name, wait_seconds=wait))
            return outputs + self._remove(entry, Outcome.TIMED_OUT)
        outputs.append(QueueOverflowed(at=now, call_id=entry.call_id, queue=queue.name, wait_seconds=wait,
                                       target=target))
        outputs.append(Overflow(call_id=entry.call_id, target=target))
        return outputs + self._remove(entry, Outcome.OVERFLOWED)

    def _empty_out(self, queue: Queue, now: float) -> list[Output]:
        """leave_when_empty: live callers leave; callbacks keep their place for later."""
        outputs: list[Output] = []
        for entry in list(queue.waiting):
            if entry.is_virtual:
                continue
            outputs += self._withdraw_all(entry, "queue-empty", now)
            outputs.append(QueueLeft(at=now, call_id=entry.call_id, queue=queue.name,
                                     wait_seconds=now - entry.arrived_at, reason=Outcome.LEFT_EMPTY))
            outputs += self._remove(entry, Outcome.LEFT_EMPTY)
        return outputs

    def _callback_completed(self, entry: Entry, outcome: str, now: float) -> CallbackCompleted:
        return CallbackCompleted(at=now, call_id=entry.call_id, queue=entry.queue, number=entry.callback_number or "",
                                 outcome=outcome, attempts=entry.callback_attempts,
                                 wait_seconds=now - entry.joined_at)

    def _schedule_widening(self, queue: Queue, entry: Entry, now: float) -> None:
        """Wake up when the caller's wait reaches the next penalty step, to offer the wider tier."""
        waited = now - entry.joined_at
        later = [step.after_seconds for step in queue.settings.penalty_steps if step.after_seconds > waited]
        if later:
            self.deadlines.set(("widen", entry.call_id), entry.joined_at + min(later))


def _head_key(queue: Queue) -> tuple:
    for entry in queue.waiting:
        return entry.sort_key
    return (1, float("inf"), 0)
