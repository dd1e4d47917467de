// What every admin page shares: the API token, calls to the REST API, the live event stream,
// small dialogs, and number and time formats. Plain ES module, no dependencies.
//
// The token comes from the URL fragment on first open (`/wallboard#token=...`: a fragment is
// never sent to the server nor logged), is kept in localStorage, and is asked for with a small
// form when absent or refused. It goes to the API as `Authorization: Bearer <token>` and to
// the WebSocket as `?access_token=` (browsers cannot set headers on a WebSocket).

const TOKEN_KEY = "pbx-admin-token";

// The token ------------------------------------------------------------------------------------

export function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    localStorage.setItem(TOKEN_KEY, given);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
  return localStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

// Shows the token form; resolves once a token was entered (the page then starts over).
export function askToken(why) {
  return new Promise((resolve) => {
    const form = element("form", { id: "token-form", class: "token-form" }, [
      element("h2", {}, "PBX admin token"),
      element("p", {}, why || "Paste the API token your administrator gave you."),
      element("input", { name: "token", type: "password", autocomplete: "off", required: "", "aria-label": "token" }),
      element("button", { type: "submit" }, "Open"),
    ]);
    form.addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      localStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
      form.remove();
      resolve(localStorage.getItem(TOKEN_KEY));
    });
    document.body.append(form);
    form.elements.token.focus();
  });
}

// Starts `main(token)` with a token, asking for one when there is none or the API refuses it.
export async function withToken(main) {
  let token = takeToken();
  if (!token) token = await askToken();
  try {
    await main(token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetToken();
      await askToken("The PBX refused that token: " + error.message);
      location.reload();
      return;
    }
    showError(error);
  }
}

// The REST API ---------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the PBX answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
    this.offset = 0; // PBX clock minus this browser's clock, in seconds (see learnClock)
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let value = null;
    try {
      value = text ? JSON.parse(text) : null;
    } catch {
      value = { message: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, value);
    return value;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body = {}) {
    return this.request("POST", path, body);
  }

  patch(path, body = {}) {
    return this.request("PATCH", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }

  // Learns the PBX's clock from an answer holding both a moment and the seconds since it.
  learnClock(at, secondsSince) {
    if (typeof at === "number" && typeof secondsSince === "number") {
      this.offset = at + secondsSince - Date.now() / 1000;
    }
  }

  // A PBX time (seconds since the epoch) as this browser's milliseconds.
  local(at) {
    return (at - this.offset) * 1000;
  }
}

// The event stream -----------------------------------------------------------------------------

// A WebSocket on /api/events that reconnects by itself and resumes from the last event id, so a
// dropped connection loses nothing the PBX's journal still holds. Each message holds one or more
// frames, one per line: {"id": N, "event": {"type": ..., ...}} or {"reset": true, "oldest_id": M}.
//   new EventStream(token, { types: [...], agent, queue, call_id, from: 0 }, onEvent, onStatus)
// onEvent(event, id) gets each event; on a {"reset"} frame (events were lost) onEvent(null).
export class EventStream {
  constructor(token, filters, onEvent, onStatus = () => {}) {
    this.token = token;
    this.filters = filters;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastId = filters.from ?? null;
    this.delay = 500;
    this.closed = false;
    this.open();
  }

  url() {
    const query = new URLSearchParams({ access_token: this.token });
    for (const name of ["queue", "agent", "call_id"]) {
      if (this.filters[name]) query.set(name, this.filters[name]);
    }
    if (this.filters.types) query.set("types", this.filters.types.join(","));
    if (this.lastId !== null) query.set("last_event_id", String(this.lastId));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/events?${query}`;
  }

  open() {
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.delay = 500;
      this.onStatus("live");
    });
    socket.addEventListener("message", (message) => {
      // One message carries every frame of the PBX's flush, one JSON frame per line.
      for (const line of message.data.split("\n")) {
        if (!line) continue;
        const frame = JSON.parse(line);
        if (frame.reset) {
          this.onEvent(null, null);
          continue;
        }
        this.lastId = frame.id;
        this.onEvent(frame.event, frame.id);
      }
    });
    socket.addEventListener("close", () => {
      if (this.closed) return;
      this.onStatus("reconnecting");
      setTimeout(() => this.closed || this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  close() {
    this.closed = true;
    this.socket.close();
  }
}

// Calls `action` at most once per `wait` ms, the last request winning (a burst of events makes
// one refetch, not fifty).
export function debounce(action, wait) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, wait);
  };
}

// The page -------------------------------------------------------------------------------------

// element("td", { class: "wait", "data-call-id": id }, [child, "text"])
export function element(tag, attributes = {}, children = []) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) made.setAttribute(name, value === true ? "" : value);
  }
  made.append(...[children].flat().filter((child) => child !== null && child !== undefined));
  return made;
}

export function showStatus(state) {
  const badge = document.getElementById("connection");
  if (!badge) return;
  badge.dataset.state = state;
  badge.textContent = state === "live" ? "live" : "reconnecting…";
}

export function showError(error) {
  const area = document.getElementById("messages") || document.body;
  const note = element("div", { class: "message error", role: "alert" }, error.message || String(error));
  area.append(note);
  setTimeout(() => note.remove(), 8000);
}

export function showDone(text) {
  const area = document.getElementById("messages") || document.body;
  const note = element("div", { class: "message done", role: "status" }, text);
  area.append(note);
  setTimeout(() => note.remove(), 4000);
}

// A small modal form: ask("Pause 1001", [{ name: "reason", label: "Reason", options: [...] }])
// resolves to { reason: "lunch" }, or null when cancelled.
export function ask(title, fields) {
  return new Promise((resolve) => {
    const inputs = fields.map((field) => {
      const input = field.options
        ? element("select", { name: field.name }, field.options.map((option) => element("option", { value: option }, option)))
        : element("input", { name: field.name, value: field.value ?? "", required: field.required ? "" : null,
                             placeholder: field.placeholder ?? "" });
      return element("label", {}, [field.label, input]);
    });
    const dialog = element("dialog", { class: "ask" }, element("form", { method: "dialog" }, [
      element("h3", {}, title), ...inputs,
      element("menu", {}, [element("button", { value: "cancel", formnovalidate: "" }, "Cancel"),
                           element("button", { value: "ok", class: "primary" }, "OK")]),
    ]));
    dialog.addEventListener("close", () => {
      const form = dialog.querySelector("form");
      const values = Object.fromEntries(fields.map((field) => [field.name, form.elements[field.name].value.trim()]));
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Formats --------------------------------------------------------------------------------------

// 75 -> "1:15", 3725 -> "1:02:05"
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`;
}

export function clockTime(milliseconds) {
  return new Date(milliseconds).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// The KPIs a KpiThresholdCrossed event can name (plugins/kpi QueueFigures), for people.
const KPI_NAMES = {
  sl: "Service level", sl_answered: "Service level (answered)", sl_no_short: "Service level (no short abandons)",
  sl_abandons: "Service level (with abandons)", asa: "Average speed of answer", avg_wait: "Average wait",
  longest_wait: "Longest wait", abandon_rate: "Abandon rate", abandon_rate_no_short: "Abandon rate (no short)",
  aht: "Average handle time", transfer_rate: "Transfer rate", offered: "Calls offered", answered: "Calls answered",
  abandoned: "Calls abandoned",
};

export function kpiName(kpi) {
  return KPI_NAMES[kpi] || kpi;
}

// A KPI's value as people read it: shares as percentages, times as m:ss, counts as they are.
export function kpiValue(kpi, value) {
  if (value === null || value === undefined) return "–";
  if (kpi.startsWith("sl") || kpi.endsWith("_rate")) return percent(value);
  if (["asa", "avg_wait", "longest_wait", "aht"].includes(kpi)) return value < 60 ? `${value.toFixed(1)}s` : duration(value);
  return String(Math.round(value * 100) / 100);
}

// "Service level in support 62% (threshold 80%)"
export function describeAlert(event) {
  const where = event.scope === "pbx" || !event.name ? "overall" : `${event.scope === "agent" ? "agent" : "in"} ${event.name}`;
  const [value, threshold] = [kpiValue(event.kpi, event.value), kpiValue(event.kpi, event.threshold)];
  return `${kpiName(event.kpi)} ${where}: ${value} (threshold ${threshold})`;
}

// Agent states (pbx/acd/agents.py AgentState) as people say them.
const STATE_NAMES = {
  "logged-out": "Logged out", available: "Available", offered: "Ringing", "on-call": "On call",
  "wrap-up": "Wrap-up", paused: "Paused", "in-use": "On another call",
};

export function stateName(state) {
  return STATE_NAMES[state] || state;
}

// What to show for an agent: an available agent whose phone is on a call the queue did not
// place (`in_use`: a direct call, a click-to-call) is busy for the queue.
export function shownState(agent) {
  return agent.in_use && agent.state === "available" ? "in-use" : agent.state;
}

// Every element with data-since (this browser's milliseconds) shows the time since then; the
// pages call it every second so waits and times in state tick.
export function tick(root = document) {
  const now = Date.now();
  for (const timer of root.querySelectorAll("[data-since]")) {
    const seconds = (now - Number(timer.dataset.since)) / 1000;
    timer.textContent = duration(seconds);
    if (timer.dataset.warnAfter) {
      timer.dataset.level = seconds >= 2 * timer.dataset.warnAfter ? "bad" : seconds >= timer.dataset.warnAfter ? "warn" : "";
    }
  }
}

// A timer element counting from `since` (this browser's milliseconds).
export function timer(since, attributes = {}) {
  return element("span", { class: "timer", "data-since": String(Math.round(since)), ...attributes },
                 duration((Date.now() - since) / 1000));
}
