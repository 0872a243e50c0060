// The rows of a live table (nodes or pods), kept off the main thread: this worker follows
// the server's events itself, parses each frame, filters and sorts every row, and sends the
// page only the rows in view. A frame of 10,000 pods costs the page the drawing of a few
// dozen rows, never the parsing or sorting of all of them.
//
// Page -> worker: {type: "start", kind: "nodes"|"pods", text (the first answer, as
//   fetched by the page), live (the SSE path), history (the last hour's path), view};
//   {type: "view", view}
//   view: {filter: {namespace, node, name}, sort: {key, descending}, first, last}
// Worker -> page: {reason: "initial"|"frame"|"view"|"history", total, matched, first,
//   rows (each with `spark`: its last hour's CPU, when known), namespaces (pods, only
//   when the set changed)}
"use strict";

let kind = "pods";
let all = [];
let shown = [];
let view = { filter: {}, sort: { key: "name", descending: false }, first: 0, last: 0 };
let namespaces = "";
/// The last hour's CPU of each row (key -> values), read once a minute.
let sparks = new Map();

const rowKey = (row) => (kind === "nodes" ? row.name : row.key);

/// The last hour in 5-minute buckets, every row at once; a failure keeps the previous lines.
async function loadHistory(path) {
  try {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    const next = new Map();
    for (const [key, points] of Object.entries(body.series ?? {})) next.set(key, points.map((p) => p.cpu ?? 0));
    sparks = next;
    post("history");
  } catch (error) {
    console.warn("history skipped", error);
  }
}

/// What a column sorts by: a field, or for a node's status the text its badges show.
function sortValue(row, key) {
  if (kind === "nodes" && key === "status") {
    return (row.stale ? "stale" : "") + (row.conditions ?? []).filter((c) => c.type !== "Ready" && c.status === "True").map((c) => c.type).join(" ");
  }
  const value = row[key];
  return typeof value === "number" ? value : value == null ? "" : String(value);
}

function take(text) {
  const parsed = JSON.parse(text);
  if (kind === "nodes") {
    all = parsed.nodes ?? [];
  } else {
    all = parsed.pods ?? parsed;
    for (const p of all) p.key = `${p.namespace}/${p.name}`;
  }
}

/// Filters and sorts every row; keys are computed once per row and compared without locale
/// rules (code point order).
function order() {
  const f = view.filter ?? {};
  const name = (f.name ?? "").trim().toLowerCase(), node = (f.node ?? "").trim(), namespace = f.namespace ?? "";
  const rows = kind === "nodes"
    ? all.filter((n) => !name || n.name.toLowerCase().includes(name))
    : all.filter((p) => (!namespace || p.namespace === namespace) && (!node || (p.node ?? "").includes(node)) && (!name || p.name.toLowerCase().includes(name)));
  const key = view.sort?.key ?? "name", sign = view.sort?.descending ? -1 : 1;
  const keyed = rows.map((row) => ({ row, v: sortValue(row, key) }));
  keyed.sort((a, b) => sign * (a.v < b.v ? -1 : a.v > b.v ? 1 : 0));
  shown = keyed.map((k) => k.row);
}

function post(reason) {
  const first = Math.max(0, Math.min(view.first ?? 0, shown.length));
  const rows = shown.slice(first, Math.max(first, view.last ?? 0));
  for (const row of rows) row.spark = sparks.get(rowKey(row));
  const message = { reason, total: all.length, matched: shown.length, first, rows };
  if (kind === "pods") {
    const names = [...new Set(all.map((p) => p.namespace))].sort();
    const joined = names.join("\n");
    if (joined !== namespaces) { namespaces = joined; message.namespaces = names; }
  }
  postMessage(message);
}

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "start") {
    kind = message.kind;
    view = message.view;
    take(message.text);
    order();
    post("initial");
    if (message.history) {
      loadHistory(message.history);
      setInterval(() => loadHistory(message.history), 60_000);
    }
    const source = new EventSource(message.live);
    source.onmessage = (frame) => {
      try { take(frame.data); } catch (error) { console.warn("frame skipped", error); return; }
      order();
      post("frame");
    };
  } else if (message.type === "view") {
    const before = JSON.stringify([view.filter, view.sort]);
    view = message.view;
    if (JSON.stringify([view.filter, view.sort]) !== before) order();
    post("view");
  }
};
