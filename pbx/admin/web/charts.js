// SVG drawn by hand: the service-level gauge and the day's charts per interval (bars of calls
// offered / answered / abandoned; lines of ASA and service level). Each function redraws the
// whole <svg> it is given from its figures; sizes are in the viewBox's units and the SVG scales
// with the page (a TV across the room or a laptop).

const SVG = "http://www.w3.org/2000/svg";

function node(tag, attributes = {}, text = null) {
  const made = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== null) made.textContent = text;
  return made;
}

function clear(svg) {
  while (svg.firstChild) svg.firstChild.remove();
}

// A point on a circle of `radius` around (cx, cy), `turn` 0..1 clockwise from the gauge's start.
const SWEEP = 240; // degrees of the gauge's arc, open at the bottom
function polar(cx, cy, radius, turn) {
  const angle = ((-90 - SWEEP / 2 + SWEEP * turn) * Math.PI) / 180;
  return [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
}

function arc(cx, cy, radius, from, to) {
  const [x1, y1] = polar(cx, cy, radius, from);
  const [x2, y2] = polar(cx, cy, radius, to);
  const large = (to - from) * SWEEP > 180 ? 1 : 0;
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${radius} ${radius} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

// The service level (0..1, or null for "no calls in the window") against its goal (0..1):
// green at or above the goal, amber within 10 points under it, red further down.
export function drawGauge(svg, share, goal, caption) {
  clear(svg);
  svg.setAttribute("viewBox", "0 0 200 170");
  const [cx, cy, radius] = [100, 100, 80];
  svg.append(node("path", { d: arc(cx, cy, radius, 0, 1), class: "gauge-track" }));
  const level = share === null || share === undefined ? null : Math.max(0, Math.min(1, share));
  const mood = level === null ? "none" : level >= goal ? "good" : level >= goal - 0.1 ? "warn" : "bad";
  svg.dataset.mood = mood;
  if (level !== null && level > 0) {
    svg.append(node("path", { d: arc(cx, cy, radius, 0, Math.max(level, 0.004)), class: `gauge-value ${mood}` }));
  }
  if (goal) {
    const [x1, y1] = polar(cx, cy, radius - 16, goal);
    const [x2, y2] = polar(cx, cy, radius + 16, goal);
    svg.append(node("line", { x1, y1, x2, y2, class: "gauge-goal" }));
  }
  svg.append(node("text", { x: cx, y: cy + 12, class: "gauge-number" }, level === null ? "–" : `${Math.round(level * 100)}%`));
  svg.append(node("text", { x: cx, y: cy + 38, class: "gauge-caption" }, caption));
  svg.append(node("text", { x: cx, y: 165, class: "gauge-caption" }, goal ? `goal ${Math.round(goal * 100)}%` : ""));
}

const PAD = { left: 44, right: 44, top: 14, bottom: 34 };

function frame(svg, width, height) {
  clear(svg);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return { x0: PAD.left, x1: width - PAD.right, y0: height - PAD.bottom, y1: PAD.top };
}

// The top of an axis of four equal steps of 1, 2 or 5 times a power of ten, at or above `value`
// (and at least `least`): 0-4-8-12-16 ... 0-5-10-15-20, ticks people read at a glance.
function axisTop(value, least = 4) {
  const wanted = Math.max(value || 0, least);
  let magnitude = 10 ** Math.floor(Math.log10(wanted / 4));
  for (;;) {
    for (const step of [1, 2, 5]) {
      if (4 * step * magnitude >= wanted) return 4 * step * magnitude;
    }
    magnitude *= 10;
  }
}

function axis(svg, box, side, top, format) {
  const x = side === "left" ? box.x0 : box.x1;
  for (let tick = 0; tick <= 4; tick += 1) {
    const y = box.y0 - ((box.y0 - box.y1) * tick) / 4;
    if (side === "left") svg.append(node("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "grid" }));
    svg.append(node("text", { x: side === "left" ? x - 6 : x + 6, y: y + 4, class: `tick ${side}` }, format((top * tick) / 4)));
  }
}

function labels(svg, box, slots, names) {
  const every = Math.ceil(names.length / 12); // at most a dozen labels under the bars
  names.forEach((name, index) => {
    if (index % every) return;
    svg.append(node("text", { x: box.x0 + slots * (index + 0.5), y: box.y0 + 20, class: "tick bottom" }, name));
  });
}

function legend(svg, box, entries) {
  let x = box.x0;
  for (const [name, kind] of entries) {
    svg.append(node("rect", { x, y: 0, width: 10, height: 10, class: `key ${kind}` }));
    svg.append(node("text", { x: x + 14, y: 9, class: "legend" }, name));
    x += 20 + name.length * 7.5;
  }
}

// rows: [{ label, offered, answered, abandoned }] in time order.
export function drawVolumes(svg, rows) {
  const box = frame(svg, 640, 240);
  box.y1 += 12;
  const top = axisTop(Math.max(0, ...rows.map((row) => row.offered)));
  axis(svg, box, "left", top, (value) => String(Math.round(value)));
  const slot = (box.x1 - box.x0) / Math.max(rows.length, 1);
  const bar = Math.min(slot / 4, 18);
  rows.forEach((row, index) => {
    const left = box.x0 + slot * index + (slot - 3 * bar) / 2;
    ["offered", "answered", "abandoned"].forEach((kind, offset) => {
      const height = ((box.y0 - box.y1) * row[kind]) / top;
      const rect = node("rect", { x: left + offset * bar, y: box.y0 - height, width: bar - 1, height, class: `bar ${kind}` });
      rect.append(node("title", {}, `${row.label} ${kind}: ${row[kind]}`));
      svg.append(rect);
    });
  });
  labels(svg, box, slot, rows.map((row) => row.label));
  legend(svg, box, [["offered", "offered"], ["answered", "answered"], ["abandoned", "abandoned"]]);
}

// rows: [{ label, asa (seconds or null), sl (0..1 or null) }]: ASA on the left axis, SL on the right.
export function drawSpeed(svg, rows, goal) {
  const box = frame(svg, 640, 240);
  box.y1 += 12;
  const top = axisTop(Math.max(0, ...rows.map((row) => row.asa ?? 0)), 20);
  axis(svg, box, "left", top, (value) => `${Math.round(value)}s`);
  axis(svg, box, "right", 1, (value) => `${Math.round(value * 100)}%`);
  const slot = (box.x1 - box.x0) / Math.max(rows.length, 1);
  const x = (index) => box.x0 + slot * (index + 0.5);
  if (goal) {
    const y = box.y0 - (box.y0 - box.y1) * goal;
    svg.append(node("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "goal-line" }));
  }
  const line = (pick, scale, kind) => {
    const points = rows.map((row, index) => [index, pick(row)]).filter(([, value]) => value !== null && value !== undefined);
    if (!points.length) return;
    const y = (value) => box.y0 - ((box.y0 - box.y1) * value) / scale;
    const path = points.map(([index, value], order) => `${order ? "L" : "M"} ${x(index).toFixed(1)} ${y(value).toFixed(1)}`);
    svg.append(node("path", { d: path.join(" "), class: `line ${kind}` }));
    for (const [index, value] of points) {
      const dot = node("circle", { cx: x(index), cy: y(value), r: 3, class: `dot ${kind}` });
      const shown = kind === "sl" ? `${Math.round(value * 100)}%` : `${Math.round(value)}s`;
      dot.append(node("title", {}, `${rows[index].label} ${kind}: ${shown}`));
      svg.append(dot);
    }
  };
  line((row) => row.asa, top, "asa");
  line((row) => row.sl, 1, "sl");
  labels(svg, box, slot, rows.map((row) => row.label));
  legend(svg, box, [["ASA (left)", "asa"], ["service level (right)", "sl"]]);
}
