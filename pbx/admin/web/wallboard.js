// The wallboard: a live service-level gauge, the callers waiting, the agents with their state and
// time in state, today's charts per interval, and a banner while a KPI is past its threshold.
// Read-only: it needs a token of any role but the agent's.
//
// URL: /wallboard#token=...   options in the query: ?queue=support (one queue), ?interval=15min
// (the charts' bucket: 15min, hour; hour by default).

import {
  Api, debounce, describeAlert, element, kpiValue, percent, showError, showStatus, shownState, stateName, tick, timer, withToken,
} from "./common.js";
import { drawGauge, drawSpeed, drawVolumes } from "./charts.js";
import { AlertWatch, LiveBoard } from "./live.js";
import { dayFigures, liveFigures } from "./kpis.js";

const options = new URLSearchParams(location.search);
const QUEUE = options.get("queue") || null;
const INTERVAL = options.get("interval") || "hour";
const KPI_POLL_MS = 5000;
const CHART_POLL_MS = 60000;
const CHART_DELAY_MS = 1000; // the KPI plugin writes its records in batches: let them land
const CHART_TRIGGERS = new Set(["AgentConnected", "QueueAbandoned", "QueueTimedOut", "QueueOverflowed", "QueueLeft",
                                "CallEnded"]);

let targetSeconds = 20; // the service-level target (seconds) and goal, from the KPI plugin when it runs
let goal = 0.8;

function showWaiting(board) {
  const rows = board.waiting().map((caller) => element("tr", {
    "data-call-id": caller.call_id, "data-caller": caller.caller, "data-queue": caller.queue,
    class: caller.priority > 0 ? "priority" : null,
  }, [
    element("td", { class: "caller" }, [
      caller.caller_name ? element("span", { class: "name" }, caller.caller_name) : null,
      element("span", { class: "number" }, caller.caller),
    ]),
    element("td", {}, caller.queue),
    element("td", { class: "number" }, String(caller.position)),
    element("td", { class: "number" }, timer(caller.since, { "data-warn-after": String(targetSeconds) })),
  ]));
  document.querySelector("#waiting tbody").replaceChildren(...rows);
  document.getElementById("waiting-count").textContent = String(rows.length);
  document.getElementById("waiting-empty").hidden = rows.length > 0;
}

function showAgents(board) {
  const agents = board.agentList();
  const tiles = agents.map((agent) => element("div", {
    class: `agent state-${shownState(agent)}`, "data-agent": agent.agent, "data-state": agent.state,
  }, [
    element("div", { class: "agent-name" }, agent.agent),
    element("div", { class: "agent-state" }, stateName(shownState(agent))),
    timer(agent.since),
    element("div", { class: "agent-reason" }, agent.reason && agent.state === "paused" ? agent.reason : ""),
  ]));
  document.getElementById("agents").replaceChildren(...tiles);
  const count = (state) => agents.filter((agent) => agent.state === state).length;
  document.getElementById("agent-summary").textContent = [
    [count("available"), "available"], [count("offered"), "ringing"], [count("on-call"), "on call"],
    [count("wrap-up"), "wrap-up"], [count("paused"), "paused"],
  ].filter(([number], index) => number || index === 0).map(([number, what]) => `${number} ${what}`).join(" · ");
}

function showAlerts(watch) {
  const banner = document.getElementById("alerts");
  const active = [...watch.active.values()].filter((event) => !QUEUE || event.scope !== "queue" || event.name === QUEUE);
  banner.replaceChildren(...active.map((event) =>
    element("div", { class: "alert", "data-kpi": event.kpi, "data-queue": event.name }, describeAlert(event))));
  banner.hidden = active.length === 0;
}

async function showKpis(api) {
  const figures = await liveFigures(api, QUEUE);
  const list = document.getElementById("kpis");
  if (figures === null) {
    drawGauge(document.getElementById("gauge"), null, 0, "KPI plugin off");
    list.replaceChildren();
    return;
  }
  targetSeconds = figures.target_seconds;
  goal = figures.goal;
  drawGauge(document.getElementById("gauge"), figures.sl, figures.goal, `answered within ${figures.target_seconds}s`);
  const entries = [
    ["Offered", String(figures.offered)], ["Answered", String(figures.answered)],
    ["Abandoned", `${figures.abandoned} (${percent(figures.abandon_rate)})`], ["ASA", kpiValue("asa", figures.asa)],
  ];
  list.replaceChildren(...entries.flatMap(([name, value]) => [element("dt", {}, name), element("dd", {}, value)]));
}

async function showCharts(api) {
  const rows = await dayFigures(api, QUEUE, INTERVAL);
  const note = document.getElementById("charts-note");
  if (rows === null) {
    note.textContent = "the KPI plugin is not enabled";
    return;
  }
  note.textContent = rows.some((row) => row.offered) ? `per ${INTERVAL === "hour" ? "hour" : "quarter"}` : "no calls yet today";
  drawVolumes(document.getElementById("volumes"), rows);
  drawSpeed(document.getElementById("speed"), rows, goal);
}

function every(milliseconds, action) {
  const run = () => action().catch(showError);
  run();
  return setInterval(run, milliseconds);
}

withToken(async (token) => {
  const api = new Api(token);
  document.getElementById("scope").textContent = QUEUE ? `· ${QUEUE}` : "";
  // The day's report counts a caller once they leave the queue (answered or not) or hang up: redraw then.
  const chartsSoon = debounce(() => showCharts(api).catch(showError), CHART_DELAY_MS);
  const board = new LiveBoard(api, token, {
    queue: QUEUE,
    onChange: () => {
      showWaiting(board);
      showAgents(board);
    },
    onEvent: (event) => {
      if (CHART_TRIGGERS.has(event.type)) chartsSoon();
    },
    onStatus: showStatus,
  });
  try {
    await board.refresh(); // a refused token fails here, before anything else is drawn
  } catch (error) {
    board.close();
    throw error;
  }
  const watch = new AlertWatch(token, () => {
    showAlerts(watch);
    showKpis(api).catch(showError); // a crossing means the figures moved
  });
  every(KPI_POLL_MS, () => showKpis(api));
  every(CHART_POLL_MS, () => showCharts(api));
  const everySecond = () => {
    tick();
    document.getElementById("clock").textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  };
  everySecond();
  setInterval(everySecond, 1000);
});
