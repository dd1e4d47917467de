// The KPI plugin's figures as the boards show them: the live window (GET /api/plugins/kpi/live),
// summed over the queues shown, and today per interval (GET /api/plugins/kpi/report/intervals).
// Rates are recomputed from the counts (never averaged), as docs/kpi.md defines them:
// SL = answered within target / offered, ASA = answered wait / answered.
// When the KPI plugin is not enabled these answer null and the boards say so.

import { ApiError } from "./common.js";

async function fetchOrNull(api, path) {
  try {
    return await api.get(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function total(rows, field) {
  return rows.reduce((sum, row) => sum + (row[field] ?? 0), 0);
}

function weighted(rows, field, weight) {
  const counted = rows.filter((row) => row[field] !== null && row[field] !== undefined && row[weight]);
  const over = total(counted, weight);
  return over ? counted.reduce((sum, row) => sum + row[field] * row[weight], 0) / over : null;
}

// { sl, goal, target_seconds, asa, abandon_rate, offered, answered, abandoned, oldest_wait } or null.
export async function liveFigures(api, queue) {
  const live = await fetchOrNull(api, "/api/plugins/kpi/live");
  if (live === null) return null;
  const shown = live.filter((row) => !queue || row.queue === queue);
  const figures = shown.map((row) => row.figures);
  const offered = total(figures, "offered");
  const answered = total(figures, "answered");
  return {
    sl: offered ? total(figures, "answered_within") / offered : null,
    goal: figures.length ? figures[0].goal : 0.8,
    target_seconds: figures.length ? figures[0].target_seconds : 20,
    asa: weighted(figures, "asa", "answered"),
    abandon_rate: offered ? total(figures, "abandoned") / offered : null,
    offered, answered, abandoned: total(figures, "abandoned"),
    oldest_wait: Math.max(0, ...shown.map((row) => row.oldest_wait ?? 0)),
  };
}

// Today's points, one per interval of the day (zeros where no calls): GET /report/intervals
// sums the queues itself. [{ label: "09:15", offered, answered, abandoned, asa, sl }]
export async function dayFigures(api, queue, interval) {
  const query = new URLSearchParams({ interval });
  if (queue) query.set("queue", queue);
  const points = await fetchOrNull(api, `/api/plugins/kpi/report/intervals?${query}`);
  if (points === null) return null;
  // The label is the interval's start in the plugin's time zone, ISO 8601: keep its "HH:MM".
  return points.map((point) => ({ ...point, label: point.label.slice(11, 16) }));
}
