"""What the browser tests share: a headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium from PyPI) with its console and network logs, and checks that print one
line each and stop at the first failure with the page's state."""
import http.client, json, sys, time, urllib.parse
from selenium import webdriver
from selenium.webdriver.common.by import By

driver = None
parsed = None


def start(base):
    """Starts Chromium for pages of `base` (1280 x 900, console and network logged)."""
    global driver, parsed
    parsed = urllib.parse.urlsplit(base)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
    return driver


def check(condition, what):
    if not condition:
        print(f"FAIL {what}")
        try:
            print("url:", driver.current_url)
            print("page:", driver.find_element(By.TAG_NAME, "main").text[:2000])
            print("console:", driver.get_log("browser"))
        except Exception as error:  # the driver may be gone
            print("(no page state)", error)
        driver.quit()
        sys.exit(1)
    print(f"ok   {what}")


def raw(path, headers=None, method="GET", body=None):
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=20)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response


def text():
    return driver.find_element(By.TAG_NAME, "body").text


def wait_for(predicate, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                print(f"ok   {what}")
                return True
        except Exception:
            pass
        time.sleep(0.1)
    check(False, what)


def attributes(selector, name):
    """An attribute of every element matching the selector, read at once (live pages redraw)."""
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]))", selector, name)


def console_errors():
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def responses_seen():
    """The URLs of every response the page received since the last call (DevTools log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            urls.append(message["params"]["response"]["url"])
    return urls


def no_other_tenant(base, others, session):
    """Every response the page received since the last `responses_seen()`, asked again with
    the user's session cookie: none names another tenant's namespace. Returns the URLs."""
    seen = sorted(set(u for u in responses_seen() if u.startswith(base)))
    for url in seen:
        path = url[len(base):]
        shown = path.split("?")[0] + ("?…" if "?" in path else "")
        status, headers, response = raw(path, {"Cookie": f"clustermon_session={session}"})
        if headers.get("content-type", "").startswith("text/event-stream"):
            body = response.read1(1 << 20).decode(errors="replace")
        else:
            body = response.read().decode(errors="replace")
        check(status in (200, 304), f"{shown}: {status}")
        for name in others:
            check(name not in body, f"{shown} names no {name}")
    return seen
