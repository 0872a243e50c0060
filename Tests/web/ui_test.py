#!/usr/bin/env python3
"""The web UI in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium from PyPI): sign-in paths, pages with data and no console error, live updates,
deep links, security headers, sign-out, and tenant isolation on the DOM and on every
response the page received.

Usage: ui_test.py BASE_URL ADMIN_TOKEN USER_TOKEN USER_NAMESPACE OTHER_NAMESPACE,... API_USERNAME API_PASSWORD
Prints one line per check; exits non-zero at the first failure (with the page's state)."""
import json, sys, time, urllib.parse
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
import browser
from browser import check, raw, text, wait_for, attributes, console_errors, responses_seen

base, admin_token, user_token, own, others, api_user, api_password = sys.argv[1:8]
others = others.split(",")
driver = browser.start(base)


# 1. Security headers on the shell, an asset and the redirect; gzip and ETags.
status, headers, _ = raw("/")
check(status == 302 and headers.get("location") == "/web/", "/ redirects to /web/")
for path in ["/web/", "/web/pods/a/b", "/web/assets/app.js"]:
    status, headers, response = raw(path, {"Accept-Encoding": "gzip"})
    response.read()
    csp = headers.get("content-security-policy", "")
    check(status == 200 and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, f"{path}: strict CSP")
    check(headers.get("x-content-type-options") == "nosniff" and headers.get("referrer-policy") == "no-referrer", f"{path}: nosniff, no referrer")
    check(headers.get("content-encoding") == "gzip" and headers.get("etag"), f"{path}: gzip with an ETag")
    status, _, response = raw(path, {"If-None-Match": headers["etag"]})
    response.read()
    check(status == 304, f"{path}: 304 for its ETag")

# 2. Not signed in: any page leads to the sign-in page, keeping where it was going.
driver.get(base + "/web/nodes")
wait_for(lambda: "/web/login" in driver.current_url and driver.find_element(By.ID, "token"), "signed out: the sign-in page")
check("next=%2Fweb%2Fnodes" in driver.current_url, "the sign-in page remembers the page asked for")

# 3. A bad token is refused with a message.
driver.find_element(By.ID, "token").send_keys("not-a-token")
driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
wait_for(lambda: "Sign-in refused" in text(), "a bad token: refused with a message")

# 4. Wrong username and password are refused; the right ones sign in as an admin.
driver.find_element(By.ID, "username").send_keys(api_user)
driver.find_element(By.ID, "password").send_keys("wrong-password")
driver.find_elements(By.CSS_SELECTOR, "form button[type=submit]")[1].click()
wait_for(lambda: "Sign-in refused" in text(), "a wrong password: refused")
driver.find_element(By.ID, "password").clear()
driver.find_element(By.ID, "password").send_keys(api_password)
driver.find_elements(By.CSS_SELECTOR, "form button[type=submit]")[1].click()
wait_for(lambda: driver.current_url.endswith("/web/nodes") and driver.find_elements(By.CSS_SELECTOR, ".grid .row"), "username and password: signed in, at the page asked for")
cookie = driver.get_cookie("clustermon_session")
check(cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", "the session cookie is HttpOnly and SameSite=Strict")
check(driver.execute_script("return document.cookie") == "" and driver.execute_script("return localStorage.length") == 0, "scripts see no token (no readable cookie, nothing in localStorage)")

# The refusals above were 401s the browser logs as failed loads; what follows must log nothing.
console_errors()

# 5. Nodes: rows, live updates over SSE, sorting, the filter.
wait_for(lambda: len([r for r in attributes(".grid .row", "data-key") if r.startswith("sim-node-")]) >= 3, "the simulated nodes listed")
wait_for(lambda: "Nodes updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "nodes update live")
first_figures = driver.execute_script("return document.querySelector('.grid .row[data-key=\"sim-node-0001\"]').children[3].textContent")
wait_for(lambda: driver.execute_script("return document.querySelector('.grid .row[data-key=\"sim-node-0001\"]').children[3].textContent") != first_figures,
         "a row's figures change with the live updates (its cells redrawn in place)")
driver.find_element(By.ID, "node-filter").send_keys("sim-node-0001")
wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid .row")) == 1, "the filter narrows the nodes")
wait_for(lambda: driver.execute_script("""return [...document.querySelectorAll('.grid .row')].some(r => { const c = r.children[2];
    return c && (c.querySelector('svg.spark polyline') || /%/.test(c.textContent)); })"""), "the node's last hour of CPU in its row (the history read by the table's worker)")

# 6. A node's history (deep link): a chart with its figures as a table.
driver.get(base + "/web/nodes/sim-node-0001")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline") and driver.find_elements(By.CSS_SELECTOR, "figure.chart details table tbody tr"), "a node's history chart with its figures")
# Any catalog metric, and a custom window; both kept in the address (a shared link shows the same).
Select(driver.find_element(By.ID, "metric")).select_by_value("memory/working_set")
wait_for(lambda: "metric=memory%2Fworking_set" in driver.current_url and "memory/working_set" in driver.find_element(By.CSS_SELECTOR, "figure.chart figcaption").text
         and driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"), "a catalog metric's chart (memory/working_set)")
check(any("GiB" in t or "MiB" in t for t in driver.execute_script("return [...document.querySelectorAll('figure.chart details table tbody td')].map(c => c.textContent)")), "its figures in bytes")
driver.execute_script("""const now = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
const from = new Date(now.getTime() - 2 * 3600000);
document.getElementById('range-from').value = from.toISOString().slice(0, 16);
document.getElementById('range-to').value = new Date(now.getTime() + 60000).toISOString().slice(0, 16);""")
driver.find_element(By.CSS_SELECTOR, "form[aria-label='Custom window'] button").click()
wait_for(lambda: "from=" in driver.current_url and "to=" in driver.current_url and "metric=memory%2Fworking_set" in driver.current_url
         and driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"), "a custom window, in the address")
shared = driver.current_url
driver.get(shared)
wait_for(lambda: driver.find_element(By.ID, "metric").get_attribute("value") == "memory/working_set" and "from=" in driver.current_url
         and driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"), "the shared link shows the same metric and window")
driver.execute_script("document.getElementById('range-from').value = document.getElementById('range-to').value")
driver.find_element(By.CSS_SELECTOR, "form[aria-label='Custom window'] button").click()
wait_for(lambda: "before the end" in driver.find_element(By.CSS_SELECTOR, "form[aria-label='Custom window'] .error").text, "an empty window is refused with a reason")

# 7. Overview as an admin.
driver.get(base + "/web/")
wait_for(lambda: "Cluster overview" in text() and "Top pods by CPU" in text(), "the admin overview")
errors = console_errors()
check(errors == [], f"no console error as an admin: {errors}")

# 7b. The dependency graph: drawn, listed as text, live; an edge of the API is in the list.
def api_graph():
    _, _, response = raw("/api/graph/dependencies", {"Authorization": f"Bearer {admin_token}"})
    return json.loads(response.read())


driver.get(base + "/web/graph")
wait_for(lambda: "vertices" in driver.find_element(By.ID, "graph-note").text and driver.find_elements(By.CSS_SELECTOR, "#graph-edges tbody tr"), "the graph page lists vertices and edges")
wait_for(lambda: any(e["id"] in set(attributes("#graph-edges tbody tr", "data-edge")) for e in api_graph()["edges"]), "the graph lists the API's edges")
check("layered layout" in driver.find_element(By.ID, "graph-note").text, "a small graph is laid out in layers")


def choose_first_vertex():
    """Opens the vertex list and presses Enter on the first vertex (the keyboard's way in)."""
    driver.execute_script("document.querySelector('#graph-vertices').closest('details').open = true")
    button = driver.find_element(By.CSS_SELECTOR, "#graph-vertices tbody tr button")
    name = button.text
    button.send_keys(Keys.ENTER)
    return name and name in driver.find_element(By.CSS_SELECTOR, "aside.panel").text


wait_for(choose_first_vertex, "a vertex chosen from the keyboard shows its figures")
canvas = driver.find_element(By.ID, "graph-canvas")
canvas.send_keys(Keys.ESCAPE)
wait_for(lambda: "Hover or click" in driver.find_element(By.CSS_SELECTOR, "aside.panel").text, "Escape on the canvas clears the selection")
# Read in one script: a live frame may redraw the table between a lookup and a read.
vertex_names = driver.execute_script("return [...document.querySelectorAll('#graph-vertices tbody tr button')].map(b => b.textContent)")
canvas.send_keys("]")
wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "aside.panel h2").text == vertex_names[0], "] on the canvas selects the first vertex")
canvas.send_keys("]")
wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "aside.panel h2").text == vertex_names[1], "] again, the next")
canvas.send_keys("[")
wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "aside.panel h2").text == vertex_names[0], "[ goes back")
wait_for(lambda: "Graph updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "the graph updates live")
driver.get(base + "/web/graph?namespace=" + api_graph()["nodes"][0]["namespace"])
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#graph-vertices tbody tr"), "a filtered graph (deep link)")

# 7c. Usage (the allocation API) with its CSV, and a Kube-App stats page.
driver.get(base + "/web/usage?window=24h&aggregate=namespace")
wait_for(lambda: "Total" in text() and "compute-u" in text(), "the usage table with totals")
csv_link = driver.find_element(By.LINK_TEXT, "Download as CSV").get_attribute("href")
status, headers, response = raw(csv_link[len(base):], {"Cookie": f"clustermon_session={driver.get_cookie('clustermon_session')['value']}"})
check(status == 200 and headers.get("content-type", "").startswith("text/csv") and response.read().count(b"\n") > 1, "the usage CSV downloads")
driver.get(base + "/web/stats/cpu/usage_rate")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline") and len(driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")) > 1, "a stats page: chart and newest points")
errors = console_errors()
check(errors == [], f"no console error on the graph, usage and stats pages: {errors}")

# 8. Sign out: the cookie goes, pages lead to the sign-in page again.
driver.find_element(By.ID, "signout").click()
wait_for(lambda: "/web/login" in driver.current_url, "signed out")
check(driver.get_cookie("clustermon_session") is None, "the session cookie is cleared")
driver.get(base + "/web/pods")
wait_for(lambda: "/web/login" in driver.current_url, "after signing out, pages need signing in")

# 9. A user signs in with ?token= (taken out of the address bar), sees only their pods.
responses_seen()
console_errors()
driver.get(base + f"/web/pods?token={urllib.parse.quote(user_token)}")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".grid .row"), "a user's pods page")
check("token=" not in driver.current_url, "the token is taken out of the address")
check(not driver.find_elements(By.CSS_SELECTOR, "nav a[href='/web/nodes']:not([hidden])"), "a user has no nodes page link")
wait_for(lambda: "Pods updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "pods update live")
wait_for(lambda: driver.execute_script("""return [...document.querySelectorAll('.grid .row')].some(r => { const c = r.children[4];
    return c && (c.querySelector('svg.spark polyline') || /m|cores/.test(c.textContent)); })"""), "a pod's last hour of CPU in its row")
keys = attributes(".grid .row", "data-key")
check(keys and all(k.startswith(own + "/") for k in keys), f"every pod listed is in {own}")
options_text = attributes("#pod-namespace option", "value")
check(set(options_text) <= {"", own}, f"the namespace filter offers only {own}: {options_text}")
pod = keys[0].split("/", 1)[1]
driver.get(base + f"/web/pods/{own}/{pod}")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"), "a pod's history (deep link)")
driver.get(base + "/web/graph")
wait_for(lambda: "vertices" in driver.find_element(By.ID, "graph-note").text, "the user's graph")
driver.get(base + "/web/usage")
wait_for(lambda: "Usage" in text() and ("Total" in text() or "No usage" in text()), "the user's usage")
driver.get(base + f"/web/stats/memory/working_set/{own}")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "main table tbody tr"), "the user's stats page")
driver.get(base + "/web/")
wait_for(lambda: "Your pods" in text(), "the user's overview")
errors = console_errors()
check(errors == [], f"no console error as a user: {errors}")
dom = driver.page_source
for name in others:
    check(name not in dom, f"no {name} in the user's DOM")
# Every response the page received, asked again with the user's session: none names another tenant.
session = driver.get_cookie("clustermon_session")["value"]
seen = browser.no_other_tenant(base, others, session)
check(any("/pod-metrics" in u for u in seen) and any("/api/metrics/" in u for u in seen), f"the page read the live and history APIs ({len(seen)} addresses)")
# The user's session cannot read admin pages' data.
status, _, response = raw("/cluster-info", {"Cookie": f"clustermon_session={session}"})
response.read()
check(status == 403, "the user's session is refused /cluster-info (403)")
status, _, response = raw(f"/pod-metrics?namespace={others[0]}", {"Cookie": f"clustermon_session={session}"})
response.read()
check(status == 403, f"the user's session is refused {others[0]} (403)")

# 10. An admin token given as ?token= on a deep link; a phone-sized overview renders.
driver.get(base + f"/web/nodes?token={urllib.parse.quote(admin_token)}")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".grid .row") and "token=" not in driver.current_url, "?token= on a deep link")
driver.set_window_size(390, 844)
driver.get(base + "/web/")
wait_for(lambda: "Cluster overview" in text(), "the overview on a phone-sized window")
check(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "no horizontal scroll on a phone-sized overview")
errors = console_errors()
check(errors == [], f"no console error: {errors}")
driver.quit()
print("all checks passed")
