// The supervisor page: the live queues, waiting callers, agents and calls as tables, with what a
// supervisor does about them: pause, unpause, log in or out an agent (with a reason), hang up or
// transfer a call, and listen to, whisper to or barge into an agent's call from their own phone
// (POST /api/calls/{call_id}/monitor). The KPI alerts are listed as they cross.
//
// Every action is a request with the supervisor's token: the PBX checks the role and audits it.
// URL: /supervisor#token=...

import {
  Api, ApiError, ask, debounce, describeAlert, duration, element, showDone, showError, showStatus, shownState, stateName, tick,
  timer, withToken,
} from "./common.js";
import { AlertWatch, LiveBoard } from "./live.js";

const PHONE_KEY = "pbx-supervisor-phone";
const PAUSE_REASONS = ["break", "lunch", "meeting", "training", "coaching", "other"];
const CALL_EVENTS = ["CallStarted", "CallAnswered", "CallEnded", "CallTransferred"];
const MONITOR_EVENTS = ["MonitorStarted", "MonitorModeChanged", "MonitorStopped"];
const MODES = ["listen", "whisper", "barge"];
const CALLS_POLL_MS = 10000;

let api;

// Runs an action, then says how it went; `refresh` re-reads what it changed.
async function act(what, request, refresh) {
  try {
    await request();
    showDone(what);
  } catch (error) {
    showError(error);
  }
  await refresh();
}

function button(label, onClick, { danger = false, title = null } = {}) {
  const made = element("button", { type: "button", class: danger ? "danger" : null, title }, label);
  made.addEventListener("click", onClick);
  return made;
}

function myPhone() {
  return document.getElementById("my-phone").value.trim();
}

// Listen, whisper and barge buttons for a live call.
function monitorButtons(callId, refresh) {
  const monitor = (mode) => async () => {
    let supervisor = myPhone();
    if (!supervisor) {
      const answer = await ask("Which phone should ring?", [{ name: "phone", label: "Your extension", required: true }]);
      if (!answer) return;
      supervisor = answer.phone;
      document.getElementById("my-phone").value = supervisor;
      localStorage.setItem(PHONE_KEY, supervisor);
    }
    await act(`${mode}: your phone ${supervisor} rings`,
              () => api.post(`/api/calls/${encodeURIComponent(callId)}/monitor`, { mode, supervisor }), refresh);
  };
  return [
    button("Listen", monitor("listen"), { title: "hear both parties; nobody hears you" }),
    button("Whisper", monitor("whisper"), { title: "the agent hears you, the caller does not" }),
    button("Barge", monitor("barge"), { title: "join the call: all three hear each other" }),
  ];
}

function callButtons(callId, refresh) {
  const path = (action) => `/api/calls/${encodeURIComponent(callId)}/${action}`;
  return [
    button("Transfer", async () => {
      const answer = await ask("Transfer the call", [{ name: "to", label: "To (extension, queue number…)", required: true }]);
      if (answer) await act(`transferred to ${answer.to}`, () => api.post(path("transfer"), { to: answer.to }), refresh);
    }),
    button("Hang up", async () => {
      if (await ask("Hang up this call?", [])) await act("hung up", () => api.post(path("hangup")), refresh);
    }, { danger: true }),
  ];
}

// What a supervisor may do to an agent in its state; each change is audited as forced by them.
function agentButtons(agent, refresh) {
  const change = (action, done, body = {}) =>
    act(`${agent.agent} ${done}`, () => api.post(`/api/agents/${encodeURIComponent(agent.agent)}/${action}`, body), refresh);
  const withReason = (title, action, done, options) => async () => {
    const reason = options
      ? { name: "reason", label: "Reason", options }
      : { name: "reason", label: "Reason", placeholder: "why (kept in the audit log)" };
    const answer = await ask(`${title} ${agent.agent}`, [reason]);
    if (answer) await change(action, done, answer.reason ? { reason: answer.reason } : {});
  };
  const buttons = [];
  if (agent.state === "logged-out") {
    buttons.push(button("Log in", () => change("login", "logged in")));
  } else {
    buttons.push(agent.state === "paused"
      ? button("Unpause", () => change("unpause", "unpaused"))
      : button("Pause", withReason("Pause", "pause", "paused", PAUSE_REASONS)));
    buttons.push(button("Log out", withReason("Log out", "logout", "logged out"), { danger: true }));
  }
  if (agent.call_id && agent.state === "on-call") buttons.push(...monitorButtons(agent.call_id, refresh));
  return buttons;
}

function showQueues(board) {
  const waiting = board.waiting();
  const rows = [...board.queues.values()].map((queue) => element("tr", { "data-queue": queue.name }, [
    element("td", {}, queue.name),
    element("td", { class: "number" }, String(waiting.filter((caller) => caller.queue === queue.name).length)),
    element("td", { class: "number" }, duration(queue.longest_wait_seconds)),
    element("td", { class: "number" }, String(queue.staffed ?? "–")),
    element("td", { class: "number" }, String(queue.available ?? "–")),
  ]));
  document.querySelector("#queues tbody").replaceChildren(...rows);
}

function showWaiting(board, refresh) {
  const rows = board.waiting().map((caller) => element("tr", { "data-call-id": caller.call_id, "data-caller": caller.caller }, [
    element("td", {}, caller.caller_name ? `${caller.caller_name} (${caller.caller})` : caller.caller),
    element("td", {}, caller.queue),
    element("td", { class: "number" }, String(caller.position)),
    element("td", { class: "number" }, String(caller.priority ?? 0)),
    element("td", { class: "number" }, timer(caller.since)),
    element("td", { class: "number" }, caller.ewt_seconds === null ? "–" : duration(caller.ewt_seconds)),
    element("td", { class: "actions" }, callButtons(caller.call_id, refresh)),
  ]));
  document.querySelector("#waiting tbody").replaceChildren(...rows);
  document.getElementById("waiting-empty").hidden = rows.length > 0;
}

function showAgents(board, refresh) {
  const rows = board.agentList().map((agent) => element("tr", { "data-agent": agent.agent, "data-state": agent.state }, [
    element("td", {}, agent.agent),
    element("td", {}, agent.extension ?? ""),
    element("td", {}, element("span", { class: `state-badge state-${shownState(agent)}` }, stateName(shownState(agent)))),
    element("td", {}, agent.reason ?? ""),
    element("td", { class: "number" }, timer(agent.since)),
    element("td", {}, (agent.queues || []).join(", ")),
    element("td", { class: "actions" }, agentButtons(agent, refresh)),
  ]));
  document.querySelector("#agents tbody").replaceChildren(...rows);
}

async function showCalls(refresh) {
  const calls = await api.get("/api/calls");
  const rows = calls.map((call) => element("tr", { "data-call-id": call.id, "data-state": call.state }, [
    element("td", {}, call.caller_name ? `${call.caller_name} (${call.caller})` : call.caller),
    element("td", {}, call.callee),
    element("td", {}, [call.agent ? `agent ${call.agent}` : call.queue ? `queue ${call.queue}` : call.ivr ?? call.state,
                       call.on_hold_by ? " (on hold)" : ""]),
    element("td", { class: "number" }, timer(Date.now() - call.duration_seconds * 1000)),
    element("td", { class: "actions" }, [
      ...(call.state === "answered" && call.agent ? monitorButtons(call.id, refresh) : []),
      ...callButtons(call.id, refresh),
    ]),
  ]));
  document.querySelector("#calls tbody").replaceChildren(...rows);
  document.getElementById("calls-empty").hidden = rows.length > 0;
}

// The supervisors on calls now: switch the mode or stop (the supervisor's phone is hung up).
async function showMonitors(refresh) {
  let monitors;
  try {
    monitors = await api.get("/api/monitors");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    document.getElementById("monitors").closest("section").hidden = true; // monitoring does not run here
    return;
  }
  const live = monitors.filter((monitor) => monitor.state !== "stopped");
  const rows = live.map((monitor) => {
    const id = encodeURIComponent(monitor.monitor_id);
    return element("tr", { "data-monitor-id": monitor.monitor_id, "data-mode": monitor.mode, "data-state": monitor.state }, [
      element("td", {}, monitor.supervisor),
      element("td", {}, monitor.agent),
      element("td", {}, monitor.mode),
      element("td", {}, monitor.state),
      element("td", { class: "number" }, timer(Date.now() - monitor.seconds * 1000)),
      element("td", { class: "actions" }, [
        ...MODES.filter((mode) => mode !== monitor.mode).map((mode) =>
          button(mode[0].toUpperCase() + mode.slice(1), () =>
            act(`now ${mode}`, () => api.patch(`/api/monitors/${id}`, { mode }), refresh))),
        button("Stop", () => act("monitoring stopped", () => api.delete(`/api/monitors/${id}`), refresh), { danger: true }),
      ]),
    ]);
  });
  document.querySelector("#monitors tbody").replaceChildren(...rows);
  document.getElementById("monitors-empty").hidden = rows.length > 0;
}

function showAlerts(watch) {
  const items = watch.history.map((event) => element("li", {
    "data-state": event.type === "KpiThresholdCrossed" ? event.state : "alert",
  }, [
    element("time", {}, new Date(api.local(event.at)).toLocaleTimeString()), " ",
    event.type === "KpiThresholdCrossed"
      ? `${event.state === "alert" ? "ALERT" : "back to normal"}: ${describeAlert(event)}`
      : `Adherence: ${event.agent} is ${event.actual}, planned ${event.planned} (${duration(event.seconds)})`,
  ]));
  document.getElementById("alert-list").replaceChildren(...items);
  document.getElementById("alerts-empty").hidden = items.length > 0;
}

withToken(async (token) => {
  api = new Api(token);
  const phone = document.getElementById("my-phone");
  phone.value = localStorage.getItem(PHONE_KEY) || "";
  phone.addEventListener("change", () => localStorage.setItem(PHONE_KEY, phone.value.trim()));
  let board;
  const refreshAll = async () => {
    await Promise.all([board.refresh(), showCalls(refreshAll), showMonitors(refreshAll)]).catch(showError);
  };
  const callsSoon = debounce(() => showCalls(refreshAll).catch(showError), 250);
  const monitorsSoon = debounce(() => showMonitors(refreshAll).catch(showError), 250);
  board = new LiveBoard(api, token, {
    extraTypes: [...CALL_EVENTS, ...MONITOR_EVENTS],
    onChange: () => {
      showQueues(board);
      showWaiting(board, refreshAll);
      showAgents(board, refreshAll);
    },
    onEvent: (event) => {
      if (CALL_EVENTS.includes(event.type) || event.type === "AgentConnected") callsSoon();
      if (MONITOR_EVENTS.includes(event.type)) monitorsSoon();
    },
    onStatus: showStatus,
  });
  try {
    await board.refresh(); // a refused token fails here, before anything else is drawn
  } catch (error) {
    board.close();
    throw error;
  }
  await showCalls(refreshAll);
  await showMonitors(refreshAll);
  const watch = new AlertWatch(token, () => showAlerts(watch));
  setInterval(() => showCalls(refreshAll).catch(showError), CALLS_POLL_MS);
  setInterval(tick, 1000);
});
