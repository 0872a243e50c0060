// The dependency graph page: the API's graph drawn on a Canvas, laid out in a Web Worker
// (layout.js), live over /sse/graph with every vertex kept where it is; above 2,000 vertices
// namespaces fold into single vertices that open on click. The vertices and edges are also
// listed as tables: the text equivalent.
import { api, h, live, go, announce, state } from "/web/assets/app.js";

const FOLD_ABOVE = 2000;
const filters = [["namespace", "Namespace", "text"], ["service", "Service", "text"], ["depth", "Depth", "number"], ["top", "Top edges", "number"],
  ["min_bytes", "Min bytes", "number"], ["window", "Window", "text"], ["from", "From", "datetime-local"], ["to", "To", "datetime-local"]];

function rate(n) {
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/// Namespaces folded into one vertex each (all but those opened), edges summed between them.
function fold(graph, opened) {
  if (graph.nodes.length <= FOLD_ABOVE) return { ...graph, folded: [] };
  const home = new Map(), vertices = new Map(), folded = new Map();
  for (const v of graph.nodes) {
    const ns = v.namespace ?? "";
    if (ns && !opened.has(ns)) {
      const id = `namespace:${ns}`;
      home.set(v.id, id);
      const f = folded.get(ns) ?? { id, label: `${ns} (0)`, type: "namespace", namespace: ns, members: 0 };
      f.members++; f.label = `${ns} (${f.members})`;
      folded.set(ns, f);
    } else { home.set(v.id, v.id); vertices.set(v.id, v); }
  }
  for (const f of folded.values()) vertices.set(f.id, f);
  const edges = new Map();
  for (const e of graph.edges) {
    const source = home.get(e.source) ?? e.source, target = home.get(e.target) ?? e.target;
    if (source === target) continue;
    const key = `${source}->${target}`;
    const sum = edges.get(key) ?? { id: key, source, target, label: "", bytes_sent_per_second: 0, bytes_received_per_second: 0, retransmits_per_second: 0, active_connections: 0, members: 0 };
    sum.bytes_sent_per_second += e.bytes_sent_per_second ?? 0; sum.bytes_received_per_second += e.bytes_received_per_second ?? 0;
    sum.retransmits_per_second += e.retransmits_per_second ?? 0; sum.active_connections += e.active_connections ?? 0; sum.members++;
    sum.label = sum.members === 1 ? e.label : `${sum.members} edges`;
    edges.set(key, sum);
  }
  return { ...graph, nodes: [...vertices.values()], edges: [...edges.values()], folded: [...folded.keys()] };
}

export async function graph(main, params) {
  const form = h("form", { class: "filters", "aria-label": "Graph filters" });
  for (const [name, label, type] of filters) {
    const input = h("input", { id: `graph-${name}`, name, type, value: params.get(name) ?? "", size: type === "number" ? 6 : 14 });
    form.append(h("label", { for: `graph-${name}` }, label, input));
  }
  form.append(h("button", { type: "submit", class: "primary" }, "Apply"), h("button", { type: "button", id: "graph-relayout" }, "Relayout"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name] of filters) { const value = form.elements[name].value.trim(); if (value) next.set(name, value); }
    go(`/web/graph${next.toString() ? `?${next}` : ""}`);
  });
  const canvas = h("canvas", { id: "graph-canvas", role: "img", tabindex: "0",
    "aria-label": "The dependency graph. Keys: arrows move it, + and - zoom, ] and [ select the next and previous vertex, Enter opens a folded namespace or the selected vertex's neighbourhood, Escape clears the selection. The tables below list its vertices and edges." });
  const tip = h("div", { class: "tip", role: "tooltip", hidden: true });
  const panel = h("aside", { class: "panel", "aria-live": "polite" }, h("p", { class: "muted" }, "Hover or click a vertex or an edge for its figures."));
  const note = h("p", { class: "muted", id: "graph-note" });
  const lists = h("div", { id: "graph-lists" });
  main.replaceChildren(h("h1", {}, "Dependency graph"), form, note, h("div", { class: "graph-area" }, canvas, tip, panel), lists);

  const query = new URLSearchParams();
  for (const [name] of filters) if (params.get(name)) query.set(name, name === "from" || name === "to" ? new Date(params.get(name)).toISOString().replace(/\.\d+Z$/, "Z") : params.get(name));
  const past = query.has("from") || query.has("to");
  const opened = new Set();
  let raw = null, shown = null, positions = {}, selected = null, hover = null;
  let view = { scale: 1, x: 0, y: 0 }, fitted = false;
  const worker = new Worker("/web/assets/layout.js");
  state.cleanup.push(() => worker.terminate());
  let pending = false, again = false, relayout = false;

  const colours = () => { const s = getComputedStyle(document.documentElement); return { fg: s.getPropertyValue("--fg"), line: s.getPropertyValue("--muted"), bad: s.getPropertyValue("--bad"), accent: s.getPropertyValue("--accent"), panel: s.getPropertyValue("--panel") }; };
  const width = (e) => 1 + Math.log10(1 + (e.bytes_sent_per_second ?? 0) + (e.bytes_received_per_second ?? 0)) / 1.5;

  function draw() {
    const ratio = window.devicePixelRatio || 1, box = canvas.getBoundingClientRect();
    canvas.width = box.width * ratio; canvas.height = box.height * ratio;
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, box.width, box.height);
    if (!shown) return;
    const c = colours();
    if (!fitted && Object.keys(positions).length) {
      const xs = Object.values(positions).map((p) => p.x), ys = Object.values(positions).map((p) => p.y);
      const w = Math.max(...xs) - Math.min(...xs) + 200, hgt = Math.max(...ys) - Math.min(...ys) + 80;
      view.scale = Math.min(box.width / w, box.height / hgt, 1.5);
      view.x = -Math.min(...xs) * view.scale + 40; view.y = -Math.min(...ys) * view.scale + 30;
      fitted = true;
    }
    g.setTransform(ratio * view.scale, 0, 0, ratio * view.scale, ratio * view.x, ratio * view.y);
    const neighbours = new Set();
    if (selected) for (const e of shown.edges) { if (e.source === selected) neighbours.add(e.target); if (e.target === selected) neighbours.add(e.source); }
    // Namespace boxes.
    const boxes = new Map();
    for (const v of shown.nodes) {
      const p = positions[v.id]; if (!p || !v.namespace || v.type === "namespace") continue;
      const b = boxes.get(v.namespace) ?? { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
      b.x0 = Math.min(b.x0, p.x); b.y0 = Math.min(b.y0, p.y); b.x1 = Math.max(b.x1, p.x); b.y1 = Math.max(b.y1, p.y);
      boxes.set(v.namespace, b);
    }
    if (shown.nodes.length <= 500) {
      g.lineWidth = 1; g.strokeStyle = c.line; g.fillStyle = c.line; g.font = "11px system-ui";
      for (const [ns, b] of boxes) { g.globalAlpha = 0.35; g.strokeRect(b.x0 - 20, b.y0 - 26, b.x1 - b.x0 + 160, b.y1 - b.y0 + 44); g.globalAlpha = 0.8; g.fillText(ns, b.x0 - 16, b.y0 - 14); }
      g.globalAlpha = 1;
    }
    for (const e of shown.edges) {
      const a = positions[e.source], b = positions[e.target]; if (!a || !b) continue;
      const dim = selected && e.source !== selected && e.target !== selected;
      g.globalAlpha = dim ? 0.15 : 0.8;
      g.strokeStyle = (e.retransmits_per_second ?? 0) > 0 ? c.bad : c.line;
      g.setLineDash((e.retransmits_per_second ?? 0) > 0 ? [6, 3] : []);
      g.lineWidth = width(e) * (hover === e ? 2 : 1);
      g.beginPath(); g.moveTo(a.x, a.y); g.lineTo(b.x, b.y); g.stroke();
      // The arrowhead at the target.
      const angle = Math.atan2(b.y - a.y, b.x - a.x), tx = b.x - Math.cos(angle) * 9, ty = b.y - Math.sin(angle) * 9;
      g.setLineDash([]); g.beginPath(); g.moveTo(tx, ty); g.lineTo(tx - Math.cos(angle - 0.4) * 8, ty - Math.sin(angle - 0.4) * 8); g.lineTo(tx - Math.cos(angle + 0.4) * 8, ty - Math.sin(angle + 0.4) * 8); g.closePath();
      g.fillStyle = g.strokeStyle; g.fill();
    }
    g.globalAlpha = 1; g.font = "12px system-ui";
    for (const v of shown.nodes) {
      const p = positions[v.id]; if (!p) continue;
      const dim = selected && v.id !== selected && !neighbours.has(v.id);
      g.globalAlpha = dim ? 0.25 : 1;
      g.fillStyle = v.type === "namespace" ? c.panel : v.type === "external" ? c.line : c.accent;
      g.strokeStyle = c.fg; g.lineWidth = v.id === selected || hover === v ? 2.5 : 1;
      g.beginPath();
      if (v.type === "namespace") g.rect(p.x - 10, p.y - 10, 20, 20); else g.arc(p.x, p.y, 8, 0, Math.PI * 2);
      g.fill(); g.stroke();
      if (view.scale > 0.35 || v.id === selected) { g.fillStyle = c.fg; g.fillText(v.label ?? v.id, p.x + 12, p.y + 4); }
    }
    g.globalAlpha = 1;
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left - view.x) / view.scale, y = (event.clientY - box.top - view.y) / view.scale;
    let best = null, distance = 12 / view.scale;
    for (const v of shown?.nodes ?? []) { const p = positions[v.id]; if (!p) continue; const d = Math.hypot(p.x - x, p.y - y); if (d < distance) { best = v; distance = d; } }
    if (best) return best;
    for (const e of shown?.edges ?? []) {
      const a = positions[e.source], b = positions[e.target]; if (!a || !b) continue;
      const l2 = (b.x - a.x) ** 2 + (b.y - a.y) ** 2 || 1, t = Math.max(0, Math.min(1, ((x - a.x) * (b.x - a.x) + (y - a.y) * (b.y - a.y)) / l2));
      const d = Math.hypot(a.x + t * (b.x - a.x) - x, a.y + t * (b.y - a.y) - y);
      if (d < 5 / view.scale) return e;
    }
    return null;
  }

  /// A folded namespace opened into its vertices.
  function openNamespace(item) { opened.add(item.namespace); selected = null; update(raw); }
  /// The graph around one vertex (a page of its own).
  const neighbourhood = (item) => go(`/web/graph?namespace=${encodeURIComponent(item.namespace ?? "")}&service=${encodeURIComponent(item.label ?? "")}&depth=1`);
  /// Zooms by `factor` about the canvas point (mx, my).
  function zoomAt(mx, my, factor) { view.x = mx - (mx - view.x) * factor; view.y = my - (my - view.y) * factor; view.scale *= factor; }

  function describe(item) {
    if (!item) return [h("p", { class: "muted" }, "Hover or click a vertex or an edge for its figures.")];
    if (item.source) return [h("h2", {}, `${item.source} → ${item.target}`), h("dl", {},
      h("dt", {}, "Protocol and port"), h("dd", {}, item.label || ""), h("dt", {}, "Sent"), h("dd", {}, rate(item.bytes_sent_per_second ?? 0)),
      h("dt", {}, "Received"), h("dd", {}, rate(item.bytes_received_per_second ?? 0)), h("dt", {}, "Active connections"), h("dd", {}, String(item.active_connections ?? 0)),
      h("dt", {}, "Retransmits"), h("dd", {}, `${(item.retransmits_per_second ?? 0).toFixed(2)}/s`))];
    const edges = shown.edges.filter((e) => e.source === item.id || e.target === item.id);
    const actions = [];
    if (item.type === "namespace") actions.push(h("button", { type: "button", onclick: () => openNamespace(item) }, `Open ${item.namespace}`));
    else if (!past) actions.push(h("button", { type: "button", onclick: () => neighbourhood(item) }, "Show only its neighbourhood"));
    return [h("h2", {}, item.label ?? item.id), h("p", { class: "muted" }, `${item.type}${item.namespace ? ` in ${item.namespace}` : ""}`),
      h("p", {}, `${edges.length} edge${edges.length === 1 ? "" : "s"}: ${rate(edges.reduce((s, e) => s + (e.bytes_sent_per_second ?? 0) + (e.bytes_received_per_second ?? 0), 0))} in all`), ...actions];
  }

  // An edge's figure cells in the table, by edge id: a frame that changes no vertex or edge
  // only rewrites these (and redraws the canvas); no relayout, no new rows.
  const figureCells = new Map();
  let topology = "";
  function fill([bytes, connections, retransmits], e) {
    bytes.textContent = rate((e.bytes_sent_per_second ?? 0) + (e.bytes_received_per_second ?? 0));
    connections.textContent = String(e.active_connections ?? 0);
    retransmits.textContent = (e.retransmits_per_second ?? 0) > 0 ? `${e.retransmits_per_second.toFixed(2)}/s (retransmitting)` : "0";
  }

  function tables() {
    const open = [...lists.querySelectorAll("details")].map((d) => d.open);
    // The keyboard's way into the graph: each vertex and edge is a button that selects it.
    const pick = (item) => () => {
      if (item.type === "namespace") { openNamespace(item); return; }
      if (!item.source) selected = item.id;
      panel.replaceChildren(...describe(item));
      draw();
    };
    const vertexRows = shown.nodes.map((v) => h("tr", { "data-vertex": v.id }, h("td", {}, h("button", { type: "button", class: "link", onclick: pick(v) }, v.label ?? v.id)),
      h("td", {}, v.type ?? ""), h("td", {}, v.namespace ?? "")));
    figureCells.clear();
    const edgeRows = shown.edges.map((e) => {
      const cells = [h("td", { class: "num" }), h("td", { class: "num" }), h("td", { class: "num" })];
      figureCells.set(e.id, cells);
      fill(cells, e);
      return h("tr", { "data-edge": e.id }, h("td", {}, h("button", { type: "button", class: "link", onclick: pick(e) }, e.source)), h("td", {}, e.target), h("td", {}, e.label ?? ""), ...cells);
    });
    lists.replaceChildren(
      h("details", { open: !!open[0] }, h("summary", {}, `Vertices (${shown.nodes.length})`), h("table", { id: "graph-vertices" }, h("thead", {}, h("tr", {}, h("th", {}, "Vertex"), h("th", {}, "Type"), h("th", {}, "Namespace"))), h("tbody", {}, vertexRows))),
      h("details", { open: !!open[1] }, h("summary", {}, `Edges (${shown.edges.length})`), h("table", { id: "graph-edges" }, h("thead", {}, h("tr", {}, h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "Protocol"), h("th", { class: "num" }, "Bytes"), h("th", { class: "num" }, "Connections"), h("th", { class: "num" }, "Retransmits"))), h("tbody", {}, edgeRows))));
  }

  function layout() {
    if (pending) { again = true; return; }
    pending = true;
    const previous = {};
    for (const v of shown.nodes) if (positions[v.id]) previous[v.id] = positions[v.id];
    worker.postMessage({ vertices: shown.nodes.map((v) => ({ id: v.id, namespace: v.namespace })), edges: shown.edges.map((e) => ({ source: e.source, target: e.target })), previous, relayout });
    relayout = false;
  }
  worker.onmessage = (event) => {
    pending = false;
    positions = event.data.positions;
    note.textContent = `${shown.nodes.length} vertices, ${shown.edges.length} edges, ${event.data.mode} layout` +
      (shown.folded.length ? `; ${shown.folded.length} namespaces folded into single vertices (more than ${FOLD_ABOVE} vertices): click one to open it` : "") +
      (past ? "; a past window" : "; live");
    draw();
    if (again) { again = false; layout(); }
  };

  function update(graph) {
    raw = graph;
    shown = fold(graph, opened);
    const next = `${shown.nodes.map((v) => v.id).join("\n")}\n\n${shown.edges.map((e) => e.id).join("\n")}`;
    if (next === topology) {
      for (const e of shown.edges) { const cells = figureCells.get(e.id); if (cells) fill(cells, e); }
      draw();
    } else {
      topology = next;
      tables();
      layout();
    }
    panel.replaceChildren(...describe(selected ? shown.nodes.find((v) => v.id === selected) : null));
  }

  canvas.addEventListener("pointermove", (event) => {
    if (drag) { view.x += event.movementX; view.y += event.movementY; draw(); return; }
    const item = at(event);
    if (item !== hover) { hover = item; draw(); }
    tip.hidden = !item;
    if (item) { tip.textContent = item.source ? `${item.label}: ${rate((item.bytes_sent_per_second ?? 0) + (item.bytes_received_per_second ?? 0))}` : item.label ?? item.id; tip.style.left = `${event.offsetX + 14}px`; tip.style.top = `${event.offsetY + 14}px`; }
  });
  let drag = false, moved = false;
  canvas.addEventListener("pointerdown", () => { drag = true; moved = false; });
  canvas.addEventListener("pointerup", (event) => {
    drag = false;
    const item = at(event);
    if (item && !item.source) { selected = selected === item.id ? null : item.id; if (item.type === "namespace") { openNamespace(item); return; } }
    panel.replaceChildren(...describe(item ?? null));
    draw();
  });
  canvas.addEventListener("pointerleave", () => { drag = false; tip.hidden = true; });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY < 0 ? 1.15 : 1 / 1.15, box = canvas.getBoundingClientRect();
    zoomAt(event.clientX - box.left, event.clientY - box.top, factor);
    draw();
  }, { passive: false });
  // The canvas from the keyboard: move, zoom, and walk the vertices in the table's order.
  canvas.addEventListener("keydown", (event) => {
    const step = 40, box = canvas.getBoundingClientRect();
    const zoom = (factor) => zoomAt(box.width / 2, box.height / 2, factor);
    const walk = (by) => {
      const vertices = shown?.nodes ?? [];
      if (!vertices.length) return;
      const at = vertices.findIndex((v) => v.id === selected);
      const item = vertices[(at < 0 ? (by > 0 ? 0 : vertices.length - 1) : (at + by + vertices.length) % vertices.length)];
      selected = item.id;
      panel.replaceChildren(...describe(item));
    };
    switch (event.key) {
      case "ArrowLeft": view.x += step; break;
      case "ArrowRight": view.x -= step; break;
      case "ArrowUp": view.y += step; break;
      case "ArrowDown": view.y -= step; break;
      case "+": case "=": zoom(1.15); break;
      case "-": zoom(1 / 1.15); break;
      case "]": walk(1); break;
      case "[": walk(-1); break;
      case "Escape": selected = null; panel.replaceChildren(...describe(null)); break;
      case "Enter": {
        const item = shown?.nodes.find((v) => v.id === selected);
        if (!item) return;
        if (item.type === "namespace") { openNamespace(item); return; }
        if (!past) neighbourhood(item);
        return;
      }
      default: return;
    }
    event.preventDefault();
    draw();
  });
  document.getElementById("graph-relayout").addEventListener("click", () => { relayout = true; fitted = false; layout(); });
  const resize = () => draw();
  window.addEventListener("resize", resize);
  state.cleanup.push(() => window.removeEventListener("resize", resize));

  const suffix = query.toString() ? `?${query}` : "";
  update(await api(`/api/graph/dependencies${suffix}`));
  if (!past) {
    const liveQuery = new URLSearchParams(query);
    live(`/sse/graph${liveQuery.toString() ? `?${liveQuery}` : ""}`, (frame) => { update(frame); announce(`Graph updated at ${new Date().toLocaleTimeString()}`); });
  }
}
