// The agent page: the agent's own state with buttons (available, pause with a reason, log out),
// the call it is offered or on (who calls, from which queue; transfer or hang up), and the CRM
// screen pop (ScreenPop events for this agent).
//
// An agent's token names its agent (GET /api/me); a supervisor or admin may open any agent's
// page with ?agent=1001. The event stream is filtered to this agent (the PBX insists on it for
// an agent's token).
// URL: /agent#token=...

import { Api, ApiError, ask, element, showError, showStatus, stateName, tick, EventStream, withToken } from "./common.js";

const PAUSE_REASONS = ["break", "lunch", "meeting", "training", "other"];
const AGENT_EVENTS = ["AgentStateChanged", "AgentOffered", "AgentNoAnswer", "AgentConnected", "ScreenPop"];
const ON_A_CALL = new Set(["offered", "on-call", "wrap-up"]);

let api;
let me = null; // { agent, state, reason, since (local ms), queue, call_id }
let call = null; // { call_id, queue, caller, caller_name, since (local ms) }

async function whoAmI() {
  const asked = new URLSearchParams(location.search).get("agent");
  const principal = await api.get("/api/me");
  if (principal.role === "agent") return principal.agent;
  if (asked) return asked;
  const answer = await ask("Which agent?", [{ name: "agent", label: "Agent", required: true }]);
  return answer ? answer.agent : null;
}

async function load(name) {
  const row = await api.get(`/api/agents/${encodeURIComponent(name)}`);
  api.learnClock(row.since, row.seconds_in_state);
  me = { ...row, since: Date.now() - row.seconds_in_state * 1000 };
  if (me.call_id && (!call || call.call_id !== me.call_id)) {
    call = { call_id: me.call_id, queue: row.queue, caller: null, caller_name: null, since: me.since };
    learnCall(call.call_id);
  }
  if (!me.call_id) call = null;
  show();
}

// Who is calling, from GET /api/calls/{id} (an agent's token reads the calls it is on).
async function learnCall(callId) {
  try {
    const view = await api.get(`/api/calls/${encodeURIComponent(callId)}`);
    if (call && call.call_id === callId) {
      Object.assign(call, { caller: view.caller, caller_name: view.caller_name, queue: view.queue ?? call.queue });
      show();
    }
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) showError(error); // 404: the call ended meanwhile
  }
}

function show() {
  const section = document.getElementById("me");
  section.className = `state-${me.state}`;
  section.dataset.state = me.state;
  document.getElementById("my-state").textContent = stateName(me.state);
  const stateTimer = document.getElementById("my-timer");
  stateTimer.dataset.since = String(Math.round(me.since));
  document.getElementById("my-reason").textContent = me.state === "paused" && me.reason ? me.reason : "";
  document.getElementById("available").disabled = !["logged-out", "paused"].includes(me.state);
  document.getElementById("pause").disabled = ["logged-out", "paused"].includes(me.state);
  document.getElementById("logout").disabled = me.state === "logged-out";
  document.getElementById("no-call").hidden = call !== null;
  document.getElementById("call").hidden = call === null;
  if (call) {
    document.getElementById("call").dataset.callId = call.call_id;
    document.getElementById("call-what").textContent =
      me.state === "offered" ? "Ringing" : me.state === "wrap-up" ? "Wrap-up after the call" : "On call";
    document.getElementById("call-timer").dataset.since = String(Math.round(call.since));
    const who = call.caller_name ? `${call.caller_name} (${call.caller})` : call.caller;
    document.getElementById("call-detail").textContent =
      [who ? `caller ${who}` : null, call.queue ? `queue ${call.queue}` : null].filter(Boolean).join(" · ");
    document.getElementById("transfer").disabled = me.state !== "on-call";
    document.getElementById("hangup").disabled = me.state !== "on-call";
  }
  tick();
}

// "preferred_agent" -> "Preferred agent"
function label(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function showScreenPop(event) {
  const panel = document.getElementById("screen-pop");
  panel.dataset.callId = event.call_id;
  const { vip, found, source, ...details } = event.fields; // the lookup's own flags, not the customer's data
  document.getElementById("pop-name").replaceChildren(event.name || `Unknown caller ${event.caller}`,
                                                      vip === "true" ? element("span", { class: "vip" }, "VIP") : "");
  const fields = { Number: event.caller, Customer: event.customer_id, Queue: event.queue, ...details };
  document.getElementById("pop-fields").replaceChildren(...Object.entries(fields)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .flatMap(([name, value]) => [element("dt", {}, label(name)), element("dd", {}, String(value))]));
  panel.hidden = false;
}

function onEvent(event, name) {
  if (event === null) return load(name).catch(showError);
  const at = api.local(event.at);
  switch (event.type) {
    case "AgentStateChanged":
      Object.assign(me, { state: event.new, reason: event.reason, since: at });
      if (!ON_A_CALL.has(event.new)) call = null;
      break;
    case "AgentOffered":
      call = { call_id: event.call_id, queue: event.queue, caller: null, caller_name: null, since: at };
      document.getElementById("screen-pop").hidden = true; // the last call's record
      learnCall(event.call_id);
      break;
    case "AgentConnected":
      if (!call || call.call_id !== event.call_id) learnCall(event.call_id);
      call = { caller: null, caller_name: null, ...(call || {}), call_id: event.call_id, queue: event.queue, since: at };
      break;
    case "ScreenPop":
      if (call && call.call_id === event.call_id) call.caller = event.caller;
      showScreenPop(event);
      break;
    default:
      return;
  }
  show();
}

function wire(name) {
  const path = (action) => `/api/agents/${encodeURIComponent(name)}/${action}`;
  const run = async (request) => {
    try {
      await request();
    } catch (error) {
      showError(error);
    }
    await load(name).catch(showError);
  };
  document.getElementById("available").addEventListener("click", () =>
    run(() => api.post(path(me.state === "logged-out" ? "login" : "unpause"), {})));
  document.getElementById("pause").addEventListener("click", async () => {
    const answer = await ask("Pause", [{ name: "reason", label: "Reason", options: PAUSE_REASONS }]);
    if (answer) await run(() => api.post(path("pause"), { reason: answer.reason }));
  });
  const callPath = (action) => `/api/calls/${encodeURIComponent(call.call_id)}/${action}`;
  document.getElementById("transfer").addEventListener("click", async () => {
    const answer = await ask("Transfer the caller", [{ name: "to", label: "To (extension, queue number…)", required: true }]);
    if (answer && call) await run(() => api.post(callPath("transfer"), { to: answer.to }));
  });
  document.getElementById("hangup").addEventListener("click", () => call && run(() => api.post(callPath("hangup"))));
  document.getElementById("logout").addEventListener("click", async () => {
    const answer = await ask("Log out", [{ name: "reason", label: "Reason", placeholder: "end of shift" }]);
    if (answer) await run(() => api.post(path("logout"), { reason: answer.reason || "end of shift" }));
  });
}

withToken(async (token) => {
  api = new Api(token);
  const name = await whoAmI();
  if (!name) return;
  document.getElementById("agent-name").textContent = name;
  document.title = `Agent ${name}`;
  await load(name);
  wire(name);
  new EventStream(token, { types: AGENT_EVENTS, agent: name }, (event) => onEvent(event, name), showStatus);
  setInterval(tick, 1000);
});
