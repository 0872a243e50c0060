#!/usr/bin/env python3
"""Concurrent HTTP GET load on loopback: CONNECTIONS keep-alive clients for SECONDS, client k
requesting URL k (modulo their number) again and again: with one URL all ask the same, with
as many URLs as clients no two ask the same; prints requests/s, latency percentiles (ms) and
the slowest requests' start times.
Usage: load.py CONNECTIONS SECONDS URL [URL ...]"""
import http.client, sys, threading, time, urllib.parse

def worker(url, deadline, latencies, errors):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    while time.monotonic() < deadline:
        path = u.path + ("?" + u.query if u.query else "")
        start = time.monotonic()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
                continue
            latencies.append((time.monotonic() - start, start))
        except Exception as e:
            errors.append(str(e))
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

def main():
    connections, seconds, urls = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    latencies, errors = [], []
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=worker, args=(urls[k % len(urls)], deadline, latencies, errors)) for k in range(connections)]
    for t in threads: t.start()
    for t in threads: t.join()
    began = deadline - seconds
    slowest = sorted(latencies, reverse=True)[:5]
    latencies = sorted(l for l, _ in latencies)
    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else float("nan")
    print(f"requests={len(latencies)} errors={len(errors)} rps={len(latencies) / seconds:.0f} "
          f"p50={pct(50):.2f}ms p90={pct(90):.2f}ms p99={pct(99):.2f}ms max={latencies[-1] * 1000 if latencies else 0:.2f}ms")
    # The slowest requests and when they started (seconds into the run): stalls shared by
    # every client show as one start time.
    print("slowest: " + ", ".join(f"{l * 1000:.0f}ms at {t - began:.1f}s" for l, t in slowest))
    if errors:
        print("first errors:", errors[:3])

main()
