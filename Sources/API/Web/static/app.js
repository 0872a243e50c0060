// clustermon's web UI: the session, the router and the helpers every page uses. Plain ES
// modules, no dependencies; every request goes to this origin, with the HttpOnly session
// cookie (scripts never see a token).
import { views } from "/web/assets/views.js";
import { graph } from "/web/assets/graph.js";

export const state = { session: null, cleanup: [] };

/// An element: h("td", {class: "num"}, "12", child...). Text is always set as text.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/// The text of an API answer (GET or another method); a 401 leads to the sign-in page, other failures throw with
/// the server's error message.
export async function apiText(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" }, ...options });
  if (response.status === 401 && !path.startsWith("/api/session")) {
    go(`/web/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new HTTPError(401, "signed out");
  }
  const text = await response.text();
  if (!response.ok) {
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    throw new HTTPError(response.status, (body && body.error) || `${response.status} ${response.statusText}`);
  }
  return text;
}

/// An API answer, parsed (null when it is not JSON).
export async function api(path, options = {}) {
  const text = await apiText(path, options);
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/// Server-sent events of a path: `onFrame(parsed)` per frame; closed when the page changes.
export function live(path, onFrame) {
  const source = new EventSource(path);
  source.onmessage = (event) => {
    // Each frame's main-thread time is a performance measure (BENCHMARKS.md reads them).
    const started = performance.now();
    try { onFrame(JSON.parse(event.data)); } catch (error) { console.warn("frame skipped", error); }
    performance.measure("clustermon:live-update", { start: started });
  };
  state.cleanup.push(() => source.close());
  return source;
}

export function announce(text) { document.getElementById("live").textContent = text; }

/// Navigates inside the app without reloading.
export function go(path, replace = false) {
  if (replace) history.replaceState(null, "", path); else history.pushState(null, "", path);
  route();
}

async function session() {
  try { return await api("/api/session"); } catch { return null; }
}

function header() {
  const signedIn = !!state.session;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  document.getElementById("who").textContent = signedIn ? `${state.session.username}${state.session.admin ? " (admin)" : ""}` : "";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.hasAttribute("data-admin")) link.hidden = !(state.session && state.session.admin);
    const here = link.getAttribute("href") === location.pathname || (link.getAttribute("href") !== "/web/" && location.pathname.startsWith(link.getAttribute("href") + "/"));
    if (here) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
}

export async function route() {
  for (const stop of state.cleanup.splice(0)) stop();
  const main = document.getElementById("main");
  const url = new URL(location.href);
  // A token given once in the address: signed in with it, then taken out of the address bar.
  const token = url.searchParams.get("token");
  if (token) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
    try {
      state.session = await api("/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }) });
    } catch (error) {
      state.session = null;
      main.replaceChildren(h("p", { class: "error", role: "alert" }, `The token in the address was refused: ${error.message}`));
    }
  }
  const path = url.pathname.replace(/\/+$/, "") || "/web";
  if (path === "/web/login") {
    state.session = null;
    header();
    return views.login(main, url.searchParams.get("next"));
  }
  if (!state.session) state.session = await session();
  if (!state.session) return go(`/web/login?next=${encodeURIComponent(url.pathname + url.search)}`, true);
  header();
  const parts = path.split("/").slice(2).map(decodeURIComponent);
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (parts.length === 0) await views.overview(main);
    else if (parts[0] === "nodes" && parts.length === 1) await views.nodes(main);
    else if (parts[0] === "nodes" && parts.length === 2) await views.node(main, parts[1], url.searchParams);
    else if (parts[0] === "pods" && parts.length === 1) await views.pods(main, url.searchParams);
    else if (parts[0] === "pods" && parts.length === 3) await views.pod(main, parts[1], parts[2], url.searchParams);
    else if (parts[0] === "graph" && parts.length === 1) await graph(main, url.searchParams);
    else if (parts[0] === "usage" && parts.length === 1) await views.usage(main, url.searchParams);
    else if (parts[0] === "stats" && parts[1] === "uptime" && parts.length <= 3) await views.stats(main, "uptime", parts[2]);
    else if (parts[0] === "stats" && parts.length >= 3 && parts.length <= 4 && ["cpu", "memory", "filesystem", "network", "gpu"].includes(parts[1]))
      await views.stats(main, `${parts[1]}/${parts[2]}`, parts[3]);
    else main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, `No page at ${url.pathname}. `, h("a", { href: "/web/" }, "Overview")));
    // The page's first data is in the DOM; painted at the next frame.
    if (!performance.getEntriesByName("clustermon:data").length) {
      performance.mark("clustermon:data");
      requestAnimationFrame(() => performance.mark("clustermon:painted"));
    }
  } catch (error) {
    if (error.status === 401) return;
    main.replaceChildren(h("h1", {}, "Could not load this page"), h("p", { class: "error", role: "alert" }, error.message));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/web")) return;
  event.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener("popstate", route);
document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  state.session = null;
  go("/web/login");
});
route();
