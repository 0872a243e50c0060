// The pages. Each renders into `main` from the API, and live pages follow the server's
// events; every figure drawn as a bar or line is also written as text.
import { api, apiText, h, live, go, announce, state } from "/web/assets/app.js";
import { lineChart, sparkline } from "/web/assets/charts.js";

// MARK: formatting

export const format = {
  cores: (nano) => (nano >= 1e9 ? `${(nano / 1e9).toFixed(2)} cores` : `${Math.round(nano / 1e6)}m`),
  bytes: (n) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
  },
  percent: (p) => `${Number(p).toFixed(1)}%`,
};

/// A quantity such as "500m", "2", "2Gi" or "1500Mi" as a number (cores or bytes).
export function quantity(text) {
  if (typeof text === "number") return text;
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(text || "0"));
  if (!match) return 0;
  const factors = { "": 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(match[1]) * (factors[match[2]] ?? 1);
}

/// A usage bar with its figure as text; `request` and `limit` marks (fractions of `capacity`).
function bar(used, capacity, text, { request, limit } = {}) {
  const fraction = capacity > 0 ? Math.min(used / capacity, 1) : 0;
  const fill = h("span", { class: `fill${fraction >= 0.9 ? " full" : fraction >= 0.75 ? " high" : ""}` });
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  const track = h("span", { class: "bar", "aria-hidden": "true" }, fill);
  for (const [value, kind] of [[request, "request"], [limit, "limit"]]) {
    if (!value || !capacity) continue;
    const mark = h("span", { class: `mark ${kind}`, title: `${kind} ${text.split(" of ")[0]}` });
    mark.style.left = `${Math.min((value / capacity) * 100, 100).toFixed(1)}%`;
    track.append(mark);
  }
  return h("span", {}, track, h("span", {}, text));
}

/// A row's last hour as a sparkline, its figures in words (the peak and the newest). The
/// lines change once a minute, the rows at every frame: a row's line is kept and moved into
/// its new row while its values are the same.
const sparks = new Map();
function spark(key, values, text, what) {
  if (!values || values.length < 2) return h("span", { class: "muted" }, values?.length === 1 ? text(values[0]) : "");
  const signature = values.join(",");
  const kept = sparks.get(key);
  if (kept && kept.signature === signature) return kept.node;
  if (sparks.size > 20000) sparks.clear();
  const node = sparkline(values, `${what} over the last hour: peak ${text(Math.max(...values))}, now ${text(values[values.length - 1])}`);
  sparks.set(key, { signature, node });
  return node;
}

// MARK: a virtualized, sortable, live table

/// A live table whose rows are kept by a worker (rows.js): the worker follows the server's
/// events, parses, filters and sorts every row, and sends only the rows around the view;
/// only the rows in view are in the DOM. A frame of 10,000 pods costs this thread a few
/// dozen rows drawn.
/// columns: [{label, width, key (what the worker sorts by), value(row) (the text), cell(row) -> Node|string?,
///   shows(row) (everything the cell shows, when more than its value: the cell is redrawn when it changes), numeric}].
function liveTable({ kind, label, columns, key, initialSort, initial, live: livePath, history, filter, onRows }) {
  const rowHeight = 32, overscan = 40;
  let sort = initialSort ?? { column: 0, descending: false };
  let matched = 0, loadedFirst = 0, loaded = [], waiting = false;
  const template = columns.map((c) => c.width ?? "1fr").join(" ");
  const head = h("div", { class: "head", role: "row" });
  const viewport = h("div", { class: "viewport", tabindex: "0", role: "rowgroup", "aria-label": `${label}, scrollable` });
  const spacer = h("div", {});
  viewport.append(spacer);
  const root = h("div", { class: "grid", role: "table", "aria-label": label });
  root.style.setProperty("--columns", template);
  root.append(head, viewport);
  const worker = new Worker("/web/assets/rows.js");
  // Nothing of a previous page (or session) is kept.
  sparks.clear();
  state.cleanup.push(() => { worker.terminate(); sparks.clear(); });
  columns.forEach((column, index) => {
    const cell = h("div", { role: "columnheader", class: column.numeric ? "num" : "" }, column.key === undefined ? column.label :
      h("button", { type: "button", onclick: () => { sort = { column: index, descending: sort.column === index ? !sort.descending : !!column.numeric }; marks(); request(); } }, column.label));
    head.append(cell);
  });
  function marks() {
    head.querySelectorAll("[role=columnheader]").forEach((cell, index) => {
      if (index === sort.column) cell.setAttribute("aria-sort", sort.descending ? "descending" : "ascending"); else cell.removeAttribute("aria-sort");
    });
  }
  /// The rows in view, with a few above and below.
  function visible() {
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - 5);
    const last = Math.min(matched, Math.ceil((viewport.scrollTop + (viewport.clientHeight || 900) + 1) / rowHeight) + 5);
    return { first, last };
  }
  function view() {
    const { first, last } = visible();
    return { filter: filter(), sort: { key: columns[sort.column].key, descending: sort.descending }, first: Math.max(0, first - overscan), last: Math.max(last, first + 40) + overscan };
  }
  function request() { waiting = true; worker.postMessage({ type: "view", view: view() }); }
  // The rows in the DOM by key, each with what its cells show: a frame rewrites only the
  // cells whose figures changed (a row's CPU and memory, not its names and badges).
  let drawn = new Map();
  function draw() {
    spacer.style.height = `${matched * rowHeight}px`;
    const { first, last } = visible();
    const rows = [], next = new Map();
    for (let i = first; i < last; i++) {
      const item = loaded[i - loadedFirst];
      if (!item) {
        const row = h("div", { class: "row pending", role: "row", "aria-rowindex": i + 2 }, h("div", { role: "cell" }, "…"));
        row.style.top = `${i * rowHeight}px`;
        rows.push(row);
        continue;
      }
      const rowKey = key(item);
      let kept = drawn.get(rowKey);
      if (!kept) {
        const row = h("div", { class: "row", role: "row", "data-key": rowKey });
        kept = { row, cells: columns.map((column) => row.appendChild(h("div", { role: "cell", class: column.numeric ? "num" : "" }))), shown: [] };
      }
      kept.row.setAttribute("aria-rowindex", i + 2);
      kept.row.style.top = `${i * rowHeight}px`;
      columns.forEach((column, index) => {
        const shown = column.shows ? column.shows(item) : String(column.value(item));
        if (kept.shown[index] === shown) return;
        kept.shown[index] = shown;
        const content = column.cell ? column.cell(item) : column.value(item);
        kept.cells[index].replaceChildren(...[content].flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));
      });
      next.set(rowKey, kept);
      rows.push(kept.row);
    }
    drawn = next;
    viewport.replaceChildren(spacer, ...rows);
    // Scrolled beyond the rows at hand: ask for the rows around the view.
    if (!waiting && (first < loadedFirst || last > loadedFirst + loaded.length)) request();
  }
  viewport.addEventListener("scroll", () => requestAnimationFrame(draw));
  let started;
  const ready = new Promise((resolve) => { started = resolve; });
  worker.onmessage = (event) => {
    // A frame's main-thread time is a performance measure (BENCHMARKS.md reads them).
    const begun = performance.now();
    const message = event.data;
    matched = message.matched;
    loadedFirst = message.first;
    loaded = message.rows;
    if (message.reason === "view" || message.reason === "initial") waiting = false;
    onRows(message);
    draw();
    if (message.reason === "initial") started();
    if (message.reason === "frame") performance.measure("clustermon:live-update", { start: begun });
  };
  worker.onerror = (event) => console.warn("table worker", event.message);
  marks();
  return {
    element: root,
    /// Fetches the first rows (on this page, as any other request) and starts the worker;
    /// resolves once they are drawn.
    async start() {
      const text = await apiText(initial);
      worker.postMessage({ type: "start", kind, text, live: livePath, history, view: view() });
      await ready;
    },
    /// The filter changed.
    refresh() { viewport.scrollTop = 0; request(); },
  };
}

// MARK: sign-in

async function login(main, next) {
  const failure = h("p", { class: "error", role: "alert" });
  const signIn = async (body) => {
    failure.textContent = "";
    try {
      state.session = await api("/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      go(next && next.startsWith("/web") && !next.startsWith("/web/login") ? next : "/web/", true);
    } catch (error) {
      failure.textContent = error.status === 401 ? "Sign-in refused: the token or the username and password are not valid." : `Sign-in failed: ${error.message}`;
    }
  };
  const token = h("textarea", { id: "token", name: "token", autocomplete: "off", spellcheck: "false", required: true });
  const tokenForm = h("form", { onsubmit: (e) => { e.preventDefault(); signIn({ token: token.value.trim() }); } },
    h("fieldset", {}, h("legend", {}, "With a token"), h("label", { for: "token" }, "JWT"), token,
      h("button", { type: "submit", class: "primary" }, "Sign in")));
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const passwordForm = h("form", { onsubmit: (e) => { e.preventDefault(); signIn({ username: username.value, password: password.value }); } },
    h("fieldset", {}, h("legend", {}, "With the API username and password (admin)"),
      h("label", { for: "username" }, "Username"), username, h("label", { for: "password" }, "Password"), password,
      h("button", { type: "submit" }, "Sign in")));
  main.replaceChildren(h("div", { class: "login" }, h("h1", {}, "Sign in to clustermon"), failure, tokenForm, passwordForm));
  token.focus();
}

// MARK: overview

function podRows(list) {
  const pods = list.pods ?? list;
  for (const p of pods) p.key = `${p.namespace}/${p.name}`;
  return pods;
}

function topTable(title, pods, value, text) {
  const top = pods.slice().sort((a, b) => value(b) - value(a)).slice(0, 10);
  return h("section", {}, h("h2", {}, title), h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Pod"), h("th", {}, "Namespace"), h("th", { class: "num" }, title.split(" ").pop()))),
    h("tbody", {}, top.map((p) => h("tr", {}, h("td", {}, h("a", { href: `/web/pods/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}` }, p.name)),
      h("td", {}, p.namespace), h("td", { class: "num" }, text(p)))))));
}

/// A node's pressure conditions that hold (MemoryPressure, DiskPressure, ...), by type.
const conditions = (n) => (n.conditions ?? []).filter((c) => c.type !== "Ready" && c.status === "True").map((c) => c.type);

async function overview(main) {
  const admin = state.session.admin;
  // Deployments only where the server watches the API server (not in `dev`); a cache that
  // has not listed yet (503) leaves the section out rather than the page.
  const [cluster, pods, deployments] = await Promise.all([admin ? api("/cluster-info") : null, api("/pod-metrics"),
    state.session.api_server ? api("/api/resources/deployments").catch(() => null) : null]);
  const rows = podRows(pods);
  const cards = h("div", { class: "cards" });
  const card = (label, figure, note) => h("div", { class: "card" }, h("div", { class: "muted" }, label), h("div", { class: "figure" }, figure), note ? h("div", { class: "muted" }, note) : null);
  const sections = [];
  if (cluster) {
    const nodes = cluster.nodes;
    const cpuUsed = nodes.reduce((s, n) => s + quantity(n.cpu_usage), 0), cpuCap = nodes.reduce((s, n) => s + quantity(n.cpu_capacity), 0);
    const memUsed = nodes.reduce((s, n) => s + quantity(n.memory_usage), 0), memCap = nodes.reduce((s, n) => s + quantity(n.memory_capacity), 0);
    const stale = nodes.filter((n) => n.stale);
    const failing = nodes.filter((n) => (n.collector_errors ?? []).length > 0);
    const pressured = nodes.filter((n) => conditions(n).length > 0);
    cards.append(card("Nodes", String(nodes.length), `${stale.length} stale, ${pressured.length} under pressure`),
      card("CPU", format.percent(cpuCap ? (cpuUsed / cpuCap) * 100 : 0), `${cpuUsed.toFixed(1)} of ${cpuCap.toFixed(0)} cores`),
      card("Memory", format.percent(memCap ? (memUsed / memCap) * 100 : 0), `${format.bytes(memUsed)} of ${format.bytes(memCap)}`));
    const attention = [...stale.map((n) => ({ n, why: `agent silent since ${n.last_seen ?? "?"}` })),
      ...failing.map((n) => ({ n, why: `failing collectors: ${(n.collector_errors ?? []).map((e) => e.collector ?? e).join(", ")}` })),
      ...pressured.map((n) => ({ n, why: conditions(n).join(", ") }))];
    sections.push(h("section", {}, h("h2", {}, "Nodes needing attention"), attention.length === 0 ? h("p", { class: "muted" }, "None: every agent reports, no collector fails, no pressure.") :
      h("ul", {}, attention.slice(0, 50).map(({ n, why }) => h("li", {}, h("a", { href: `/web/nodes/${encodeURIComponent(n.name)}` }, n.name), ` — ${why}`)))));
  }
  if (deployments) {
    // The heartbeat's rule: available, with a ready replica unless none is wanted.
    const unavailable = (deployments.items ?? []).map((d) => {
      const available = (d.status?.conditions ?? []).find((c) => c.type === "Available");
      const ready = d.status?.readyReplicas ?? 0, desired = d.spec?.replicas ?? 1;
      const ok = available?.status === "True" && (ready > 0 || desired === 0);
      return ok ? null : { d, why: `${ready} of ${desired} replicas ready${available?.reason ? ` (${available.reason})` : ""}` };
    }).filter(Boolean);
    cards.append(card("Deployments", String((deployments.items ?? []).length), `${unavailable.length} unavailable`));
    sections.push(h("section", {}, h("h2", {}, "Unavailable deployments"), unavailable.length === 0 ? h("p", { class: "muted" }, "None: every deployment is available.") :
      h("ul", { id: "unavailable-deployments" }, unavailable.slice(0, 50).map(({ d, why }) => h("li", {},
        h("a", { href: `/web/pods?namespace=${encodeURIComponent(d.metadata.namespace)}` }, `${d.metadata.namespace}/${d.metadata.name}`), ` — ${why}`)))));
  }
  const namespaces = new Set(rows.map((p) => p.namespace));
  cards.append(card("Pods", String(rows.length), `in ${namespaces.size} namespace${namespaces.size === 1 ? "" : "s"}`),
    card("Restarting or OOMKilled", String(rows.filter((p) => p.restarts > 0 || p.oom_killed).length)));
  main.replaceChildren(h("h1", {}, admin ? "Cluster overview" : "Your pods"), cards, ...sections,
    topTable("Top pods by CPU", rows, (p) => p.cpu_usage, (p) => format.cores(p.cpu_usage)),
    topTable("Top pods by memory", rows, (p) => p.memory_usage, (p) => format.bytes(p.memory_usage)));
}

// MARK: nodes

async function nodes(main) {
  const filter = h("input", { id: "node-filter", type: "search", placeholder: "name contains" });
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const table = liveTable({
    kind: "nodes", label: "Nodes", key: (n) => n.name, initial: "/cluster-info", live: "/sse/cluster-info", history: "/api/metrics/nodes?resolution=5m",
    filter: () => ({ name: filter.value }),
    onRows: (m) => {
      count.textContent = `${m.matched} of ${m.total} nodes`;
      if (m.reason === "frame") announce(`Nodes updated at ${new Date().toLocaleTimeString()}`);
    },
    columns: [
      { label: "Name", width: "2fr", key: "name", value: (n) => n.name, cell: (n) => h("a", { href: `/web/nodes/${encodeURIComponent(n.name)}` }, n.name) },
      { label: "CPU", width: "2fr", numeric: true, key: "cpu_percent", value: (n) => n.cpu_percent ?? 0, shows: (n) => `${n.cpu_usage}|${n.cpu_capacity}|${n.cpu_percent}`, cell: (n) => bar(quantity(n.cpu_usage), quantity(n.cpu_capacity), `${format.percent(n.cpu_percent ?? 0)} of ${n.cpu_capacity}`) },
      { label: "CPU, last hour", width: "1fr", value: () => "", shows: (n) => String(n.spark), cell: (n) => spark(`node ${n.name}`, n.spark, (v) => format.percent(v), "CPU") },
      { label: "Memory", width: "2fr", numeric: true, key: "memory_percent", value: (n) => n.memory_percent ?? 0, shows: (n) => `${n.memory_usage}|${n.memory_capacity}|${n.memory_percent}`, cell: (n) => bar(quantity(n.memory_usage), quantity(n.memory_capacity), `${format.percent(n.memory_percent ?? 0)} of ${n.memory_capacity}`) },
      { label: "Disk", width: "2fr", numeric: true, key: "disk_percent", value: (n) => n.disk_percent ?? 0, shows: (n) => `${n.disk_usage}|${n.disk_capacity}|${n.disk_percent}`, cell: (n) => bar(n.disk_usage ?? 0, n.disk_capacity ?? 0, format.percent(n.disk_percent ?? 0)) },
      { label: "Pods", width: "0.6fr", numeric: true, key: "pods", value: (n) => n.pods ?? 0 },
      { label: "GPUs", width: "0.6fr", numeric: true, key: "gpu_count", value: (n) => n.gpu_count ?? 0, shows: (n) => `${n.gpu_count}|${n.gpu_percent}`, cell: (n) => (n.gpu_count ? `${n.gpu_count} (${format.percent(n.gpu_percent ?? 0)})` : "") },
      { label: "Status", width: "1.4fr", key: "status", value: (n) => (n.stale ? "stale" : "") + conditions(n).join(" "),
        cell: (n) => h("span", {}, n.stale ? h("span", { class: "badge warn" }, "stale") : h("span", { class: "badge ok" }, "reporting"),
          conditions(n).map((c) => h("span", { class: "badge bad" }, c))) },
    ],
  });
  filter.addEventListener("input", () => table.refresh());
  main.replaceChildren(h("h1", {}, "Nodes"), h("div", { class: "filters" }, h("label", { for: "node-filter" }, "Filter", filter)), count, table.element);
  await table.start();
}

// MARK: pods

async function pods(main, params) {
  const namespace = h("select", { id: "pod-namespace" }, h("option", { value: "" }, "all"));
  const node = h("input", { id: "pod-node", type: "search", placeholder: "node", value: params.get("node") ?? "" });
  const name = h("input", { id: "pod-name", type: "search", placeholder: "name contains" });
  const count = h("p", { class: "muted", id: "pod-count", "aria-live": "polite" });
  // The namespace asked for in the address, until the list offers it.
  let chosen = params.get("namespace") ?? "";
  const table = liveTable({
    kind: "pods", label: "Pods", key: (p) => p.key, initialSort: { column: 0, descending: false },
    initial: "/pod-metrics", live: "/sse/pod-metrics", history: "/api/metrics/pods?resolution=5m",
    filter: () => ({ namespace: chosen, node: node.value, name: name.value }),
    onRows: (m) => {
      if (m.namespaces) {
        namespace.replaceChildren(h("option", { value: "" }, "all"), ...m.namespaces.map((ns) => h("option", { value: ns }, ns)));
        namespace.value = chosen;
      }
      count.textContent = `${m.matched} of ${m.total} pods`;
      if (m.reason === "frame") announce(`Pods updated at ${new Date().toLocaleTimeString()}`);
    },
    columns: [
      { label: "Namespace", width: "1.4fr", key: "namespace", value: (p) => p.namespace },
      { label: "Name", width: "2fr", key: "name", value: (p) => p.name, cell: (p) => h("a", { href: `/web/pods/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}` }, p.name) },
      { label: "Node", width: "1.2fr", key: "node", value: (p) => p.node ?? "" },
      { label: "CPU", width: "2fr", key: "cpu_usage", numeric: true, value: (p) => p.cpu_usage ?? 0, shows: (p) => `${p.cpu_usage}|${p.cpu_request}|${p.cpu_limit}|${p.cpu_capacity}`,
        cell: (p) => bar(p.cpu_usage ?? 0, p.cpu_limit || p.cpu_request || p.cpu_capacity || 0, `${format.cores(p.cpu_usage ?? 0)}${p.cpu_request ? ` of ${format.cores(p.cpu_request)} requested` : ""}`,
          { request: p.cpu_limit ? p.cpu_request : null, limit: p.cpu_limit }) },
      { label: "CPU, last hour", width: "1fr", value: () => "", shows: (p) => String(p.spark), cell: (p) => spark(`pod ${p.key}`, p.spark, (v) => format.cores(v), "CPU") },
      { label: "Memory", width: "2fr", key: "memory_usage", numeric: true, value: (p) => p.memory_usage ?? 0, shows: (p) => `${p.memory_usage}|${p.memory_request}|${p.memory_limit}|${p.memory_capacity}`,
        cell: (p) => bar(p.memory_usage ?? 0, p.memory_limit || p.memory_request || p.memory_capacity || 0, `${format.bytes(p.memory_usage ?? 0)}${p.memory_limit ? ` of ${format.bytes(p.memory_limit)} limit` : ""}`,
          { request: p.memory_limit ? p.memory_request : null, limit: p.memory_limit }) },
      { label: "Restarts", width: "1fr", key: "restarts", numeric: true, value: (p) => p.restarts ?? 0, shows: (p) => `${p.restarts}|${p.oom_killed}|${p.stale}`,
        cell: (p) => h("span", {}, String(p.restarts ?? 0), p.oom_killed ? h("span", { class: "badge bad" }, "OOMKilled") : null, p.stale ? h("span", { class: "badge warn" }, "stale") : null) },
      { label: "GPU", width: "0.8fr", key: "gpu_request", numeric: true, value: (p) => p.gpu_request ?? 0, shows: (p) => `${p.gpu_request}|${p.gpu_utilization}`, cell: (p) => (p.gpu_request || p.gpu_utilization ? `${p.gpu_request ?? 0} (${format.percent(p.gpu_utilization ?? 0)})` : "") },
    ],
  });
  namespace.addEventListener("input", () => { chosen = namespace.value; table.refresh(); });
  for (const control of [node, name]) control.addEventListener("input", () => table.refresh());
  main.replaceChildren(h("h1", {}, "Pods"), h("div", { class: "filters" },
    h("label", { for: "pod-namespace" }, "Namespace", namespace), h("label", { for: "pod-node" }, "Node", node), h("label", { for: "pod-name" }, "Name", name)), count, table.element);
  await table.start();
}

// MARK: history pages

const spans = [["1h", 3600], ["6h", 6 * 3600], ["24h", 86400], ["7d", 7 * 86400], ["30d", 30 * 86400]];

/// The catalog names a page offers (stored and derived; REFERENCE.md section 5).
const catalog = {
  node: ["cpu/usage_rate", "cpu/node_utilization", "cpu/node_reservation", "cpu/request", "cpu/limit", "cpu/node_capacity", "cpu/node_allocatable",
    "memory/working_set", "memory/usage", "memory/rss", "memory/node_utilization", "memory/node_reservation", "memory/request", "memory/limit",
    "memory/page_faults_rate", "memory/major_page_faults_rate", "filesystem/usage", "filesystem/available", "filesystem/limit", "filesystem/inodes_free",
    "network/rx_rate", "network/tx_rate", "network/rx_errors_rate", "network/tx_errors_rate", "uptime", "gpu/utilization", "gpu/memory_usage", "gpu/request"],
  pod: ["cpu/usage_rate", "cpu/request", "cpu/limit", "memory/working_set", "memory/usage", "memory/rss", "memory/request", "memory/limit",
    "memory/page_faults_rate", "memory/major_page_faults_rate", "filesystem/usage", "filesystem/limit",
    "network/rx_rate", "network/tx_rate", "network/rx_errors_rate", "network/tx_errors_rate", "uptime"],
};

/// How a catalog metric's values read (their units: README's catalog).
function metricFormat(metric) {
  if (/^cpu\/(usage_rate|request|limit|node_capacity|node_allocatable)$/.test(metric)) return (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} cores` : `${Math.round(v)}m`);
  if (metric === "cpu/usage") return (v) => `${(v / 1e9).toFixed(1)} core-s`;
  if (/node_(reservation|utilization)$/.test(metric)) return (v) => format.percent(v * 100);
  if (metric === "gpu/utilization") return (v) => format.percent(v);
  if (metric === "uptime") return (v) => `${(v / 3600000).toFixed(1)} h`;
  if (/^network\/(rx|tx)_rate$/.test(metric)) return (v) => `${format.bytes(v)}/s`;
  if (/^(memory\/(usage|working_set|rss|request|limit|node_capacity|node_allocatable)|filesystem\/(usage|limit|available)|network\/(rx|tx)|gpu\/memory_usage)$/.test(metric)) return (v) => format.bytes(v);
  if (metric.endsWith("_rate")) return (v) => `${v.toFixed(2)}/s`;
  return (v) => Number(v).toLocaleString();
}

const iso = (date) => date.toISOString().replace(/\.\d+Z$/, "Z");
/// `datetime-local` text of a date, in the browser's zone.
const local = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

/// The window a history page shows: a span ending now, or from/to (custom or zoomed); read
/// from and written to the address (`?span=`, `?from=&to=`, `?metric=`) so that links share it.
function rangeOf(params) {
  const from = params.get("from") ? new Date(params.get("from")) : null, to = params.get("to") ? new Date(params.get("to")) : null;
  if (from && to && !isNaN(from) && !isNaN(to) && from < to) return { span: (to - from) / 1000, from, to };
  const span = Number(params.get("span"));
  return { span: span > 0 ? span : 3600, from: null, to: null };
}

function bounds(range) {
  const end = range.to ?? new Date();
  return { start: range.from ?? new Date(end.getTime() - range.span * 1000), end };
}

function remember(range, metric) {
  const params = new URLSearchParams();
  if (range.from) { params.set("from", iso(range.from)); params.set("to", iso(range.to)); } else if (range.span !== 3600) params.set("span", String(range.span));
  if (metric) params.set("metric", metric);
  const query = params.toString();
  globalThis.history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
}

/// The span buttons, a custom from/to, and the metric picker.
function historyControls(range, metric, family, onChange) {
  const { start, end } = bounds(range);
  const from = h("input", { id: "range-from", type: "datetime-local", value: local(start), required: true });
  const to = h("input", { id: "range-to", type: "datetime-local", value: local(end), required: true });
  const error = h("span", { class: "error", role: "alert" });
  const custom = h("form", { class: "filters", "aria-label": "Custom window", onsubmit: (event) => {
    event.preventDefault();
    const a = new Date(from.value), b = new Date(to.value);
    if (isNaN(a) || isNaN(b) || a >= b) { error.textContent = "The start must be before the end."; return; }
    onChange({ span: (b - a) / 1000, from: a, to: b }, metric);
  } }, h("label", { for: "range-from" }, "From", from), h("label", { for: "range-to" }, "To", to), h("button", { type: "submit" }, "Show"), error);
  const picker = h("select", { id: "metric", onchange: () => onChange(range, picker.value) },
    h("option", { value: "" }, family === "node" ? "CPU, memory and disk (percent)" : "CPU and memory"),
    catalog[family].map((name) => h("option", { value: name }, name)));
  picker.value = metric;
  return h("div", {},
    h("div", { class: "filters", role: "group", "aria-label": "Time span" },
      spans.map(([label, seconds]) => h("button", { type: "button", "aria-pressed": String(!range.from && range.span === seconds), onclick: () => onChange({ span: seconds, from: null, to: null }, metric) }, label))),
    custom, h("div", { class: "filters" }, h("label", { for: "metric" }, "Metric", picker)));
}

function points(list, field, scale = 1) {
  return (list ?? []).map((p) => ({ t: new Date(p.t), v: (p[field] ?? 0) * scale }));
}

/// A history page, a node's or a pod's: the window and metric controls, the charts of the
/// entity's series (`key` in the answer of `path`), and below them what `footer` makes of
/// `extra`'s answer for the same window.
async function historyPage(main, params, { family, title, path, key, charts, extra, footer }) {
  let range = rangeOf(params), metric = params.get("metric") ?? "";
  const render = async () => {
    const { start, end } = bounds(range);
    const window = `start=${iso(start)}&end=${iso(end)}`;
    const [history, more] = await Promise.all([
      api(`${path}${path.includes("?") ? "&" : "?"}${window}${metric ? `&metric=${encodeURIComponent(metric)}` : ""}`),
      extra ? extra(window) : null,
    ]);
    remember(range, metric);
    const series = history.series[key] ?? [];
    const zoom = (from, to) => { range = { span: (to - from) / 1000, from, to }; render(); };
    main.replaceChildren(h("h1", {}, title),
      h("p", { class: "muted" }, `${start.toLocaleString()} – ${end.toLocaleString()}, ${history.step ? `step ${history.step}` : `resolution ${history.resolution}`}`),
      historyControls(range, metric, family, (next, chosen) => { range = next; metric = chosen; render(); }),
      ...(metric ? [lineChart({ title: metric, series: [{ name: metric, points: points(series, "value") }], format: metricFormat(metric), onZoom: zoom })] : charts(series, zoom)),
      ...footer(more));
  };
  await render();
}

async function node(main, name, params) {
  await historyPage(main, params, {
    family: "node", title: `Node ${name}`, path: `/api/metrics/nodes/${encodeURIComponent(name)}`, key: name,
    charts: (series, zoom) => [
      lineChart({ title: "CPU and memory (percent of capacity)", series: [{ name: "cpu", points: points(series, "cpu") }, { name: "memory", points: points(series, "mem") }], format: (v) => format.percent(v), onZoom: zoom }),
      lineChart({ title: "Disk (percent of capacity)", series: [{ name: "disk", points: points(series, "disk") }], format: (v) => format.percent(v), onZoom: zoom })],
    footer: () => [h("p", {}, h("a", { href: `/web/pods?node=${encodeURIComponent(name)}` }, "Pods on this node"))],
  });
}

async function pod(main, namespace, name, params) {
  const ns = encodeURIComponent(namespace), pn = encodeURIComponent(name);
  await historyPage(main, params, {
    family: "pod", title: `Pod ${namespace}/${name}`, path: `/api/metrics/pods?namespace=${ns}&pod=${pn}`, key: `${namespace}/${name}`,
    charts: (series, zoom) => [
      lineChart({ title: "CPU (cores)", series: [{ name: "cpu", points: points(series, "cpu", 1e-9) }], format: (v) => v.toFixed(3), onZoom: zoom }),
      lineChart({ title: "Memory (working set)", series: [{ name: "memory", points: points(series, "mem") }], format: (v) => format.bytes(v), onZoom: zoom })],
    extra: (window) => api(`/api/metrics/containers?namespace=${ns}&pod=${pn}&metric=memory/working_set&${window}`),
    footer: (containers) => {
      const rows = Object.entries(containers.series).map(([key, list]) => {
        const values = list.map((p) => p.value);
        return h("tr", {}, h("td", {}, key.split("/").slice(2).join("/")), h("td", { class: "num" }, values.length ? format.bytes(values[values.length - 1]) : ""),
          h("td", {}, sparkline(values, `memory over the window, ${values.length} points`)));
      });
      return [h("h2", {}, "Containers"),
        rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Container"), h("th", { class: "num" }, "Memory, last"), h("th", {}, "Over the window"))), h("tbody", {}, rows))
          : h("p", { class: "muted" }, "No container history in this window.")];
    },
  });
}

// MARK: usage (the allocation API)

async function usage(main, params) {
  const windowSelect = h("select", { id: "usage-window", name: "window" }, ["24h", "today", "yesterday", "7d", "week", "lastweek", "30d", "month", "lastmonth"].map((w) => h("option", { value: w }, w)));
  const aggregate = h("select", { id: "usage-aggregate", name: "aggregate" }, ["namespace", "controller", "pod", "owner", "node", "container"].map((a) => h("option", { value: a }, a)));
  const step = h("select", { id: "usage-step", name: "step" }, h("option", { value: "" }, "whole window"), ["1h", "day", "week"].map((s) => h("option", { value: s }, s)));
  windowSelect.value = params.get("window") ?? "24h"; aggregate.value = params.get("aggregate") ?? "namespace"; step.value = params.get("step") ?? "";
  const form = h("form", { class: "filters", "aria-label": "Usage window" },
    h("label", { for: "usage-window" }, "Window", windowSelect), h("label", { for: "usage-aggregate" }, "By", aggregate), h("label", { for: "usage-step" }, "Step", step),
    h("button", { type: "submit", class: "primary" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ window: windowSelect.value, aggregate: aggregate.value });
    if (step.value) next.set("step", step.value);
    go(`/web/usage?${next}`);
  });
  const query = new URLSearchParams({ window: windowSelect.value, aggregate: aggregate.value });
  if (step.value) query.set("step", step.value); else query.set("accumulate", "true");
  const answer = await api(`/api/v2/allocation?${query}`);
  const columns = [["CPU core-hours", (a) => a.cpuCoreHours, (v) => v.toFixed(3)], ["CPU average", (a) => a.cpuCoreUsageAverage, (v) => `${v.toFixed(3)} cores`],
    ["CPU requested", (a) => a.cpuCoreRequestAverage, (v) => `${v.toFixed(3)} cores`], ["Memory byte-hours", (a) => a.ramByteHours, (v) => format.bytes(v) + "·h"],
    ["Memory average", (a) => a.ramByteUsageAverage, format.bytes], ["GPU-hours", (a) => a.gpuHours ?? 0, (v) => v.toFixed(3)],
    ["Network sent", (a) => a.networkTransferBytes ?? 0, format.bytes], ["Coverage", (a) => a.coverage ?? 0, (v) => format.percent(v * 100)]];
  const sections = (answer.data ?? []).map((stepSet) => {
    const items = Object.values(stepSet).sort((a, b) => b.cpuCoreHours - a.cpuCoreHours);
    if (items.length === 0) return null;
    const totals = columns.map(([, value]) => items.reduce((s, a) => s + (value(a) ?? 0), 0));
    const first = items[0];
    return h("section", {}, h("h2", {}, `${new Date(first.window.start).toLocaleString()} – ${new Date(first.window.end).toLocaleString()}`),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, aggregate.value), columns.map(([label]) => h("th", { class: "num" }, label)))),
        h("tbody", {}, items.map((a) => h("tr", {}, h("td", {}, a.name), columns.map(([, value, text]) => h("td", { class: "num" }, text(value(a) ?? 0)))))),
        h("tfoot", {}, h("tr", {}, h("th", {}, "Total"), columns.map(([label, , text], i) => h("th", { class: "num" }, label === "Coverage" || label.endsWith("average") || label === "CPU requested" ? "" : text(totals[i])))))));
  }).filter(Boolean);
  const csv = new URLSearchParams(query); csv.set("format", "csv");
  main.replaceChildren(h("h1", {}, "Usage"), form,
    h("p", {}, h("a", { href: `/api/v2/allocation?${csv}`, download: "allocation.csv" }, "Download as CSV"), h("span", { class: "muted" }, " — exact from the history's counters; a gap in the samples lowers the coverage, it is never filled in.")),
    ...(sections.length ? sections : [h("p", { class: "muted" }, "No usage recorded in this window.")]));
}

// MARK: Kube-App's stats pages: a metric over the last hour, chart and newest points

async function stats(main, metric, namespace) {
  const end = new Date(), start = new Date(end.getTime() - 3600 * 1000);
  const range = `start=${start.toISOString().replace(/\.\d+Z$/, "Z")}&end=${end.toISOString().replace(/\.\d+Z$/, "Z")}&step=1m`;
  const answer = await api(`/api/metrics/pods?metric=${encodeURIComponent(metric)}${namespace ? `&namespace=${encodeURIComponent(namespace)}` : ""}&${range}`);
  const series = Object.entries(answer.series);
  const totals = new Map();
  for (const [, list] of series) for (const p of list) totals.set(p.t, (totals.get(p.t) ?? 0) + p.value);
  const points = [...totals.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([t, v]) => ({ t: new Date(t), v }));
  const newest = series.map(([key, list]) => ({ key, point: list[list.length - 1] })).filter((x) => x.point).sort((a, b) => b.point.value - a.point.value);
  main.replaceChildren(h("h1", {}, `${metric}${namespace ? ` in ${namespace}` : ""}`),
    h("p", { class: "muted" }, `The last hour in 1-minute steps, summed over ${series.length} pod${series.length === 1 ? "" : "s"}.`),
    lineChart({ title: `${metric} (sum)`, series: [{ name: metric, points }], format: (v) => (Math.abs(v) >= 1000 ? v.toExponential(3) : v.toFixed(3)) }),
    h("h2", {}, "Newest point per pod"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Pod"), h("th", {}, "Time"), h("th", { class: "num" }, "Value"))),
      h("tbody", {}, newest.map(({ key, point }) => h("tr", {}, h("td", {}, namespace ? key : h("a", { href: `/web/stats/${metric}/${encodeURIComponent(key.split("/")[0])}` }, key)),
        h("td", {}, point.t), h("td", { class: "num" }, String(point.value)))))));
}

export const views = { login, overview, nodes, node, pods, pod, usage, stats };
