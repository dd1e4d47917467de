// The live picture of the queues shared by the wallboard and the supervisor page: waiting
// callers, agents, queue totals and KPI alerts, kept from the REST API and the event stream.
//
// The stream moves the picture at once (a QueueJoined event adds the caller's row before any
// request is made); each queue or agent event also asks for a fresh snapshot of /api/queues and
// /api/agents (debounced), and a slow poll refreshes it anyway, so the picture converges on the
// PBX's own state even if an event was missed. Events that arrive while a snapshot is on its way
// are applied again on top of it, so an older snapshot never undoes a newer event.
//
// Times: the PBX's clock may differ from the browser's; `api.local(at)` turns a PBX time into
// this browser's milliseconds (the offset is learnt from the agents' `since` and
// `seconds_in_state`), and a wait or a time in state is counted from that local moment.

import { EventStream, debounce } from "./common.js";

// The events that change what the boards show.
export const QUEUE_EVENTS = [
  "QueueJoined", "AgentOffered", "AgentNoAnswer", "AgentConnected", "QueueAbandoned", "QueueTimedOut",
  "QueueOverflowed", "QueueLeft", "CallbackScheduled", "CallbackCompleted", "AgentStateChanged", "CallEnded",
  "CallerIdentified",
];
const LEAVING = new Set(["AgentConnected", "QueueAbandoned", "QueueTimedOut", "QueueOverflowed", "QueueLeft", "CallEnded",
                         "CallbackCompleted"]);
const POLL_MS = 15000;

export class LiveBoard {
  // onChange() is called after every change; `queue` limits the picture to one queue (or null).
  // extraTypes: more event types the page wants to see in onEvent (calls, monitors).
  constructor(api, token, { queue = null, extraTypes = [], onChange = () => {}, onStatus = () => {}, onEvent = () => {} } = {}) {
    this.api = api;
    this.queue = queue;
    this.onChange = onChange;
    this.onEventSeen = onEvent;
    this.queues = new Map(); // name -> { name, staffed, available, longest_wait_seconds }
    this.callers = new Map(); // call id -> { call_id, caller, caller_name, queue, position, priority, ewt_seconds, since }
    this.agents = new Map(); // agent -> { agent, extension, state, reason, since, queues, call_id }
    this.names = new Map(); // call id -> the caller's name a CRM lookup found (before the caller queues)
    this.fetching = null; // the events seen while a snapshot is on its way, or null
    this.refreshSoon = debounce(() => this.refresh(), 250);
    const types = [...new Set([...QUEUE_EVENTS, ...extraTypes])];
    this.stream = new EventStream(token, { types }, (event) => this.onEvent(event), onStatus);
    this.poll = setInterval(() => this.refresh(), POLL_MS);
  }

  // Reads /api/queues and /api/agents and rebuilds the picture from them.
  async refresh() {
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = [];
    try {
      const [queues, agents] = await Promise.all([this.api.get("/api/queues"), this.api.get("/api/agents")]);
      const fetchedAt = Date.now();
      this.rebuild(queues, agents, fetchedAt);
      for (const event of this.fetching) this.apply(event);
    } finally {
      this.fetching = null;
    }
    this.onChange();
    if (this.again) {
      this.again = false;
      this.refreshSoon();
    }
  }

  rebuild(queues, agents, fetchedAt) {
    this.queues.clear();
    this.callers.clear();
    this.agents.clear();
    for (const row of agents) {
      this.api.learnClock(row.since, row.seconds_in_state);
    }
    for (const queue of queues) {
      if (this.queue && queue.name !== this.queue) continue;
      this.queues.set(queue.name, {
        name: queue.name, staffed: queue.staffed, available: queue.available,
        longest_wait_seconds: queue.longest_wait_seconds,
      });
      for (const caller of queue.waiting) {
        this.callers.set(caller.call_id, {
          ...caller, caller_name: caller.caller_name ?? this.names.get(caller.call_id) ?? null, queue: queue.name,
          since: fetchedAt - caller.wait_seconds * 1000,
        });
      }
    }
    for (const row of agents) {
      if (this.queue && !(row.queues || []).includes(this.queue)) continue;
      this.agents.set(row.agent, { ...row, since: fetchedAt - row.seconds_in_state * 1000 });
    }
  }

  onEvent(event) {
    if (event === null) { // the stream lost events: read the whole picture again
      this.refresh();
      return;
    }
    this.onEventSeen(event);
    if (this.fetching) this.fetching.push(event);
    if (this.apply(event)) this.onChange();
    this.refreshSoon();
  }

  // Moves the picture by one event; true when something shown changed.
  apply(event) {
    if (event.queue && this.queue && event.queue !== this.queue) return false;
    const type = event.type;
    if (type === "CallerIdentified") {
      if (!event.name) return false;
      this.names.set(event.call_id, event.name);
      if (this.names.size > 1000) this.names.delete(this.names.keys().next().value);
      const waiting = this.callers.get(event.call_id);
      if (waiting) waiting.caller_name = event.name;
      return Boolean(waiting);
    }
    if (type === "QueueJoined" || type === "CallbackScheduled") {
      if (this.callers.has(event.call_id)) return false;
      this.callers.set(event.call_id, {
        call_id: event.call_id, caller: event.caller_number ?? event.number, queue: event.queue,
        caller_name: this.names.get(event.call_id) ?? null,
        position: event.position, priority: event.priority ?? 0, ewt_seconds: null, since: this.api.local(event.at),
      });
      return true;
    }
    let changed = false;
    if (type === "CallEnded") this.names.delete(event.call_id);
    if (LEAVING.has(type) && this.callers.has(event.call_id)) {
      const gone = this.callers.get(event.call_id);
      this.callers.delete(event.call_id);
      for (const caller of this.callers.values()) {
        if (caller.queue === gone.queue && caller.position > gone.position) caller.position -= 1;
      }
      changed = true;
    }
    const agent = event.agent !== undefined ? this.agents.get(event.agent) : undefined;
    if (agent && type === "AgentStateChanged") {
      Object.assign(agent, { state: event.new, reason: event.reason, since: this.api.local(event.at) });
      if (event.new !== "offered" && event.new !== "on-call" && event.new !== "wrap-up") agent.call_id = null;
      changed = true;
    } else if (agent && (type === "AgentOffered" || type === "AgentConnected")) {
      agent.call_id = event.call_id;
      changed = true;
    }
    return changed;
  }

  waiting() {
    return [...this.callers.values()].sort((a, b) => a.queue.localeCompare(b.queue) || a.position - b.position);
  }

  agentList() {
    return [...this.agents.values()].sort((a, b) => a.agent.localeCompare(b.agent, undefined, { numeric: true }));
  }

  close() {
    clearInterval(this.poll);
    this.stream.close();
  }
}

// The KPI alerts: which KPI is past its threshold now (from KpiThresholdCrossed events, the
// journal's past ones replayed first), and the list of crossings for the supervisor.
export class AlertWatch {
  constructor(token, onChange) {
    this.active = new Map(); // "kpi|scope|name" -> the event that put it in alert
    this.history = []; // every crossing seen, newest first
    this.onChange = onChange;
    this.stream = new EventStream(token, { types: ["KpiThresholdCrossed", "AdherenceAlert"], from: 0 },
                                  (event) => this.onEvent(event));
  }

  onEvent(event) {
    if (event === null) return; // older crossings are gone: what follows is still right
    this.history.unshift(event);
    this.history.length = Math.min(this.history.length, 200);
    if (event.type === "KpiThresholdCrossed") {
      const key = `${event.kpi}|${event.scope}|${event.name}`;
      if (event.state === "alert") this.active.set(key, event);
      else this.active.delete(key);
    }
    this.onChange();
  }
}
