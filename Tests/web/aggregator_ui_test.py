#!/usr/bin/env python3
"""The web UI on the real aggregator, which watches a (fake) API server and ingests agents'
batches over NATS: the admin overview lists the deployments that are unavailable (the
heartbeat's rule) and no available one; nodes and pods pages fill and update live; a user's
pages show their own namespace's deployment and pods and never another tenant's name, in
the DOM or in any response the page received; no console error anywhere.

Usage: aggregator_ui_test.py BASE_URL ADMIN_TOKEN USER_TOKEN USER_NAMESPACE OTHER_NAMESPACE,... UNAVAILABLE AVAILABLE
(UNAVAILABLE and AVAILABLE: deployments as namespace/name.)"""
import sys, urllib.parse
from selenium.webdriver.common.by import By
import browser
from browser import check, text, wait_for, attributes, console_errors, responses_seen

base, admin_token, user_token, own, others, unavailable, available = sys.argv[1:8]
others = others.split(",")
driver = browser.start(base)


def listed_unavailable():
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#unavailable-deployments li")]


# 1. An admin's overview: the unavailable deployment, and only it.
driver.get(base + f"/web/?token={urllib.parse.quote(admin_token)}")
wait_for(lambda: "Cluster overview" in text() and "Unavailable deployments" in text(), "the admin overview has the deployments' section")
wait_for(lambda: any(unavailable in item for item in listed_unavailable()), f"{unavailable} is listed as unavailable")
check(not any(available in item for item in listed_unavailable()), f"{available} (available) is not listed")
check("Deployments" in driver.find_element(By.CSS_SELECTOR, ".cards").text, "a deployments card")

# 2. Nodes and pods from the agents' batches, live.
driver.get(base + "/web/nodes")
wait_for(lambda: "n1" in attributes(".grid .row", "data-key"), "the node that reports is listed")
wait_for(lambda: "Nodes updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "nodes update live")
driver.get(base + "/web/pods")
wait_for(lambda: len(attributes(".grid .row", "data-key")) >= 2, "every tenant's pods listed for the admin")
wait_for(lambda: "Pods updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "pods update live")
errors = console_errors()
check(errors == [], f"no console error as an admin: {errors}")

# 3. A user: their deployment and pods, no other tenant's name anywhere.
driver.find_element(By.ID, "signout").click()
wait_for(lambda: "/web/login" in driver.current_url, "signed out")
responses_seen()
console_errors()
driver.get(base + f"/web/?token={urllib.parse.quote(user_token)}")
wait_for(lambda: "Your pods" in text() and "Unavailable deployments" in text(), "the user's overview has the deployments' section")
own_unavailable = unavailable.startswith(own + "/")
if own_unavailable:
    wait_for(lambda: any(unavailable in item for item in listed_unavailable()), f"the user's {unavailable} is listed")
driver.get(base + "/web/pods")
wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".grid .row"), "the user's pods page")
wait_for(lambda: "Pods updated" in driver.find_element(By.ID, "live").get_attribute("textContent"), "the user's pods update live")
keys = attributes(".grid .row", "data-key")
check(keys and all(k.startswith(own + "/") for k in keys), f"every pod listed is in {own}: {keys}")
errors = console_errors()
check(errors == [], f"no console error as a user: {errors}")
dom = driver.page_source
for name in others:
    check(name not in dom, f"no {name} in the user's DOM")
seen = browser.no_other_tenant(base, others, driver.get_cookie("clustermon_session")["value"])
check(any("/api/resources/deployments" in u for u in seen) and any("/pod-metrics" in u for u in seen), f"the page read the deployments and the pods ({len(seen)} addresses)")
driver.quit()
print("all checks passed")
