// The dependency graph's layout, run in a Web Worker so that the page stays responsive:
// layered left to right (longest path from the sources, crossings reduced by barycentres,
// vertices of a namespace kept together) up to 500 vertices; force-directed with a
// Barnes-Hut quadtree beyond. Vertices that already have a place keep it; new ones start
// beside a placed neighbour.
const LAYERED_LIMIT = 500;

function layered(vertices, edges) {
  const index = new Map(vertices.map((v, i) => [v.id, i]));
  const out = vertices.map(() => []), into = vertices.map(() => []);
  for (const e of edges) {
    const a = index.get(e.source), b = index.get(e.target);
    if (a === undefined || b === undefined || a === b) continue;
    out[a].push(b); into[b].push(a);
  }
  // Longest path layering over a DFS order that ignores back edges (cycles).
  const layer = new Array(vertices.length).fill(0), state = new Array(vertices.length).fill(0), order = [];
  const visit = (start) => {
    const stack = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top[1] < out[top[0]].length) {
        const next = out[top[0]][top[1]++];
        if (state[next] === 0) { state[next] = 1; stack.push([next, 0]); }
      } else { state[top[0]] = 2; order.push(top[0]); stack.pop(); }
    }
  };
  vertices.forEach((_, i) => { if (into[i].length === 0 && state[i] === 0) visit(i); });
  vertices.forEach((_, i) => { if (state[i] === 0) visit(i); });
  const position = new Array(vertices.length);
  order.reverse().forEach((v, i) => { position[v] = i; });
  for (const v of order) for (const w of out[v]) if (position[w] > position[v]) layer[w] = Math.max(layer[w], layer[v] + 1);
  const layers = [];
  vertices.forEach((_, i) => { (layers[layer[i]] ??= []).push(i); });
  // Within a layer: namespace first, then the barycentre of the neighbours in the layer before.
  const rank = new Array(vertices.length).fill(0);
  for (let sweep = 0; sweep < 3; sweep++) {
    for (const list of layers) {
      if (!list) continue;
      const centre = (v) => { const n = into[v].filter((u) => layer[u] < layer[v]); return n.length ? n.reduce((s, u) => s + rank[u], 0) / n.length : rank[v]; };
      list.sort((a, b) => (vertices[a].namespace ?? "").localeCompare(vertices[b].namespace ?? "") || centre(a) - centre(b));
      list.forEach((v, i) => { rank[v] = i; });
    }
  }
  const positions = {};
  layers.forEach((list, x) => (list ?? []).forEach((v, y) => { positions[vertices[v].id] = { x: x * 220, y: y * 56 }; }));
  return positions;
}

function force(vertices, edges, previous) {
  const n = vertices.length;
  const index = new Map(vertices.map((v, i) => [v.id, i]));
  const x = new Float64Array(n), y = new Float64Array(n), dx = new Float64Array(n), dy = new Float64Array(n);
  vertices.forEach((v, i) => {
    const p = previous[v.id];
    x[i] = p ? p.x : Math.cos(i) * Math.sqrt(i + 1) * 40;
    y[i] = p ? p.y : Math.sin(i) * Math.sqrt(i + 1) * 40;
  });
  const links = edges.map((e) => [index.get(e.source), index.get(e.target)]).filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  const iterations = Object.keys(previous).length >= n * 0.5 ? 60 : 200;
  for (let step = 0; step < iterations; step++) {
    const alpha = 1 - step / iterations;
    dx.fill(0); dy.fill(0);
    // Barnes-Hut: a quadtree of the vertices; far cells act as one mass.
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) { minX = Math.min(minX, x[i]); maxX = Math.max(maxX, x[i]); minY = Math.min(minY, y[i]); maxY = Math.max(maxY, y[i]); }
    const size = Math.max(maxX - minX, maxY - minY, 1);
    const root = { x0: minX, y0: minY, size, mass: 0, cx: 0, cy: 0, children: null, point: -1 };
    const insert = (node, i, depth) => {
      node.cx = (node.cx * node.mass + x[i]) / (node.mass + 1); node.cy = (node.cy * node.mass + y[i]) / (node.mass + 1); node.mass++;
      if (node.mass === 1) { node.point = i; return; }
      if (depth > 30) return;
      if (!node.children) {
        const half = node.size / 2;
        node.children = [0, 1, 2, 3].map((q) => ({ x0: node.x0 + (q & 1) * half, y0: node.y0 + (q >> 1) * half, size: half, mass: 0, cx: 0, cy: 0, children: null, point: -1 }));
        if (node.point >= 0) { const p = node.point; node.point = -1; insert(quadrant(node, p), p, depth + 1); }
      }
      insert(quadrant(node, i), i, depth + 1);
    };
    const quadrant = (node, i) => node.children[(x[i] >= node.x0 + node.size / 2 ? 1 : 0) + (y[i] >= node.y0 + node.size / 2 ? 2 : 0)];
    for (let i = 0; i < n; i++) insert(root, i, 0);
    const repel = (node, i) => {
      if (node.mass === 0 || node.point === i) return;
      const ddx = x[i] - node.cx, ddy = y[i] - node.cy, d2 = ddx * ddx + ddy * ddy + 0.01;
      if (!node.children || (node.size * node.size) / d2 < 0.64) {
        const f = (900 * node.mass) / d2;
        dx[i] += ddx * f; dy[i] += ddy * f;
      } else for (const child of node.children) repel(child, i);
    };
    for (let i = 0; i < n; i++) repel(root, i);
    for (const [a, b] of links) {
      const ddx = x[b] - x[a], ddy = y[b] - y[a], d = Math.sqrt(ddx * ddx + ddy * ddy) + 0.01, f = (d - 80) * 0.05;
      dx[a] += (ddx / d) * f; dy[a] += (ddy / d) * f; dx[b] -= (ddx / d) * f; dy[b] -= (ddy / d) * f;
    }
    for (let i = 0; i < n; i++) {
      // Gravity towards the centre; a vertex moves at most 30 units a step.
      dx[i] -= x[i] * 0.01; dy[i] -= y[i] * 0.01;
      const d = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]), limit = 30 * alpha + 1;
      if (d > limit) { dx[i] *= limit / d; dy[i] *= limit / d; }
      x[i] += dx[i]; y[i] += dy[i];
    }
  }
  const positions = {};
  vertices.forEach((v, i) => { positions[v.id] = { x: x[i], y: y[i] }; });
  return positions;
}

self.onmessage = (event) => {
  const { vertices, edges, previous, relayout } = event.data;
  const placed = vertices.filter((v) => previous[v.id]).length;
  let positions;
  if (!relayout && placed >= vertices.length * 0.5) {
    // Live update: every vertex stays; a new one starts beside a placed neighbour.
    positions = {};
    for (const v of vertices) if (previous[v.id]) positions[v.id] = previous[v.id];
    for (const v of vertices) {
      if (positions[v.id]) continue;
      const neighbour = edges.find((e) => (e.source === v.id && positions[e.target]) || (e.target === v.id && positions[e.source]));
      const anchor = neighbour ? positions[neighbour.source === v.id ? neighbour.target : neighbour.source] : { x: 0, y: 0 };
      positions[v.id] = { x: anchor.x + 40 + Math.random() * 40, y: anchor.y + 40 + Math.random() * 40 };
    }
  } else {
    positions = vertices.length <= LAYERED_LIMIT ? layered(vertices, edges) : force(vertices, edges, previous);
  }
  self.postMessage({ positions, mode: vertices.length <= LAYERED_LIMIT ? "layered" : "force" });
};
