// Charts drawn as SVG, each with its figures as a table beside it (the text equivalent that
// screen readers and tests read).
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/// A line chart of series [{name, points: [{t: Date, v: number}]}], with hover values and
/// drag to zoom (`onZoom(from, to)`); `format(v)` writes a value.
export function lineChart({ title, series, format, onZoom }) {
  const width = 800, height = 220, left = 60, right = 10, top = 10, bottom = 24;
  const all = series.flatMap((s) => s.points);
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption);
  if (all.length === 0) {
    const empty = document.createElement("p");
    empty.className = "muted";
    empty.textContent = "No points in this window.";
    figure.append(empty);
    return figure;
  }
  const t0 = Math.min(...all.map((p) => p.t.getTime())), t1 = Math.max(...all.map((p) => p.t.getTime()));
  const vmax = Math.max(...all.map((p) => p.v), 0) || 1;
  const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1)) * (width - left - right);
  const y = (v) => top + (1 - v / vmax) * (height - top - bottom);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: chart; the table below has its figures` });
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  for (const fraction of [0, 0.5, 1]) {
    const label = svg("text", { x: left - 6, y: y(vmax * fraction) + 4, "text-anchor": "end" });
    label.textContent = format(vmax * fraction);
    root.append(label);
  }
  for (const [i, t] of [[0, t0], [1, t1]]) {
    const label = svg("text", { x: i ? width - right : left, y: height - 6, "text-anchor": i ? "end" : "start" });
    label.textContent = new Date(t).toLocaleString();
    root.append(label);
  }
  series.forEach((s, index) => {
    const line = svg("polyline", { class: index ? "line second" : "line", points: s.points.map((p) => `${x(p.t.getTime()).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") });
    root.append(line);
  });
  const cursor = svg("line", { class: "axis", y1: top, y2: height - bottom, visibility: "hidden" });
  const readout = svg("text", { x: left + 4, y: top + 12 });
  const selection = svg("rect", { y: top, height: height - top - bottom, fill: "currentColor", opacity: 0.12, visibility: "hidden" });
  root.append(cursor, readout, selection);
  const toTime = (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    return t0 + ((px - left) / (width - left - right)) * (t1 - t0);
  };
  let dragFrom = null;
  root.addEventListener("pointermove", (event) => {
    const t = toTime(event);
    const nearest = series.map((s) => s.points.reduce((best, p) => (!best || Math.abs(p.t - t) < Math.abs(best.t - t) ? p : best), null));
    if (!nearest[0]) return;
    cursor.setAttribute("x1", x(nearest[0].t.getTime())); cursor.setAttribute("x2", x(nearest[0].t.getTime()));
    cursor.setAttribute("visibility", "visible");
    readout.textContent = `${nearest[0].t.toLocaleTimeString()}  ` + series.map((s, i) => nearest[i] ? `${s.name} ${format(nearest[i].v)}` : "").join("  ");
    if (dragFrom !== null) {
      const a = x(Math.min(dragFrom, t)), b = x(Math.max(dragFrom, t));
      selection.setAttribute("x", a); selection.setAttribute("width", Math.max(b - a, 0)); selection.setAttribute("visibility", "visible");
    }
  });
  root.addEventListener("pointerleave", () => { cursor.setAttribute("visibility", "hidden"); readout.textContent = ""; });
  if (onZoom) {
    root.addEventListener("pointerdown", (event) => { dragFrom = toTime(event); });
    root.addEventListener("pointerup", (event) => {
      const from = dragFrom, to = toTime(event);
      dragFrom = null;
      selection.setAttribute("visibility", "hidden");
      if (from !== null && Math.abs(to - from) > (t1 - t0) / 100) onZoom(new Date(Math.min(from, to)), new Date(Math.max(from, to)));
    });
  }
  figure.append(root);
  // The text equivalent: every point's time and values.
  const details = document.createElement("details");
  details.className = "figures";
  const summary = document.createElement("summary");
  summary.textContent = `Figures (${series[0].points.length} points)`;
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const name of ["Time", ...series.map((s) => s.name)]) { const th = document.createElement("th"); th.textContent = name; head.append(th); }
  const body = table.createTBody();
  const times = [...new Set(all.map((p) => p.t.getTime()))].sort((a, b) => a - b);
  const byTime = series.map((s) => new Map(s.points.map((p) => [p.t.getTime(), p.v])));
  for (const t of times) {
    const row = body.insertRow();
    row.insertCell().textContent = new Date(t).toISOString();
    byTime.forEach((values) => { const cell = row.insertCell(); cell.className = "num"; cell.textContent = values.has(t) ? format(values.get(t)) : ""; });
  }
  details.append(summary, table);
  figure.append(details);
  return figure;
}

/// A small line of the values (a table row's last hour); its title says the range.
export function sparkline(values, label) {
  const root = svg("svg", { class: "spark", viewBox: "0 0 80 18", role: "img", "aria-label": label });
  if (values.length > 1) {
    const max = Math.max(...values) || 1;
    root.append(svg("polyline", { points: values.map((v, i) => `${((i / (values.length - 1)) * 78 + 1).toFixed(1)},${(17 - (v / max) * 16).toFixed(1)}`).join(" ") }));
  }
  return root;
}
