#!/usr/bin/env python3
"""The web UI's figures in a real headless Chromium (BENCHMARKS.md, issue 16): the files'
sizes, the first data painted after navigation, the graph's layout in its Web Worker, the
main-thread time of live updates, scrolling 10,000 pods, and the JS heap while streaming.
Usage: measure-ui.py BASE_URL ADMIN_TOKEN [HEAP_SECONDS]   (scripts/measure-ui.sh starts the server)"""
import gzip, http.client, statistics, sys, time, urllib.parse
from selenium import webdriver
from selenium.webdriver.common.by import By

base, admin = sys.argv[1], sys.argv[2]
heap_seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 180
parsed = urllib.parse.urlsplit(base)


def get(path, headers=None):
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


files = ["/web/", "/web/assets/app.js", "/web/assets/views.js", "/web/assets/graph.js", "/web/assets/layout.js", "/web/assets/rows.js", "/web/assets/charts.js", "/web/assets/app.css", "/web/assets/icon.svg"]
plain = sum(len(get(f)[1]) for f in files)
compressed = sum(len(get(f, {"Accept-Encoding": "gzip"})[1]) for f in files)
print(f"files: {plain} bytes uncompressed, {compressed} bytes gzip-compressed ({len(files)} files)")

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--js-flags=--expose-gc"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
driver.set_script_timeout(120)


def wait(script, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for: {script}")


driver.get(base + f"/web/?token={urllib.parse.quote(admin)}")
wait("return document.querySelector('.cards') !== null")

for page, label in [("/web/nodes", "nodes"), ("/web/pods", "pods"), ("/web/", "overview"), ("/web/graph", "graph")]:
    times = []
    for _ in range(5):
        driver.get(base + page)
        painted = wait("const e = performance.getEntriesByName('clustermon:painted'); return e.length ? e[0].startTime : 0")
        times.append(painted)
    count = driver.execute_script("return document.querySelector('#pod-count, .grid p, #graph-note')?.textContent || ''")
    print(f"first data painted, {label}: median {statistics.median(times):.0f} ms after navigation (5 loads: {', '.join(f'{t:.0f}' for t in times)}) {count}")

layout = """
const [vertices, edges, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const worker = new Worker('/web/assets/layout.js');
let seed = 7; const random = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
const vs = Array.from({length: vertices}, (_, i) => ({id: 'v' + i, namespace: 'ns-' + (i % 50)}));
const es = Array.from({length: edges}, () => ({source: 'v' + Math.floor(random() * vertices), target: 'v' + Math.floor(random() * vertices)}));
const times = [];
const run = () => { const t0 = performance.now(); worker.onmessage = (m) => { times.push(performance.now() - t0); if (times.length < 3) run(); else { worker.terminate(); done({times, mode: m.data.mode}); } };
  worker.postMessage({vertices: vs, edges: es, previous: {}, relayout: true}); };
run();
"""
for vertices, edges in [(500, 1500), (2000, 6000), (5000, 15000)]:
    result = driver.execute_async_script(layout, vertices, edges)
    print(f"graph layout in the worker, {vertices} vertices / {edges} edges ({result['mode']}): median {statistics.median(result['times']):.0f} ms (3 runs: {', '.join(f'{t:.0f}' for t in result['times'])})")

for page, label in [("/web/nodes", "nodes"), ("/web/pods", "pods"), ("/web/graph", "graph")]:
    driver.get(base + page)
    wait("return performance.getEntriesByName('clustermon:painted').length")
    time.sleep(25)
    durations = sorted(driver.execute_script("return performance.getEntriesByName('clustermon:live-update').map(e => e.duration)"))
    if durations:
        print(f"live update main-thread time, {label}: {len(durations)} frames, median {statistics.median(durations):.1f} ms, max {durations[-1]:.1f} ms")

driver.get(base + "/web/pods")
wait("return document.querySelectorAll('.grid .row').length > 0")
frames = driver.execute_async_script("""
const done = arguments[arguments.length - 1], viewport = document.querySelector('.grid .viewport'), gaps = [];
let last = performance.now(), until = last + 3000;
const step = (now) => { gaps.push(now - last); last = now; viewport.scrollTop += 400; if (now < until) requestAnimationFrame(step); else done(gaps); };
requestAnimationFrame(step);
""")
frames.sort()
print(f"scrolling the pods table ({driver.find_element(By.ID, 'pod-count').text}) 400 px a frame for 3 s: {len(frames)} frames, median {statistics.median(frames):.1f} ms, p95 {frames[int(len(frames) * 0.95)]:.1f} ms")

samples = []
start = time.monotonic()
while time.monotonic() - start < heap_seconds:
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    samples.append(driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"] / 1048576)
    time.sleep(max(heap_seconds / 12, 1))
print(f"JS heap on the live pods page over {heap_seconds} s (after a collection each time): " + ", ".join(f"{s:.1f}" for s in samples) + " MiB")
driver.quit()
