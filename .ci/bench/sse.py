#!/usr/bin/env python3
"""Figure 6: from POST /tasks to its notification on the user's SSE stream.

Holds GET /notifications/stream open, posts COUNT tasks at a steady RATE per second (each with
a unique title), and matches each `notification` event to its post by the title the message
quotes (`Your task "<title>" was created.`). The latency is from sending the POST to reading
the event. Prints one line: `BENCH {json}` with p50/p95/p99/max in ms, sent, received, missing.
Python 3 standard library only.

Usage: sse.py <host> <port> <token> <count> <rate>
"""

import http.client
import json
import math
import os
import sys
import threading
import time

host, port, token, count, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
run = f"sse-{os.getpid()}-{int(time.time())}"
sent = {}  # title -> perf_counter() when the POST was sent
arrived = {}  # title -> perf_counter() when its event was read
lock = threading.Lock()
errors = []
stream_open = threading.Event()


def read_stream():
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/notifications/stream", headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    if resp.status != 200:
        errors.append(f"stream answered {resp.status}")
        stream_open.set()
        return
    data = []
    while True:
        line = resp.readline()  # de-chunked: the stream is chunked
        if not line:
            return
        if not stream_open.is_set() and line.startswith(b": connected"):
            stream_open.set()
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].strip())
        elif not line and data:
            now = time.perf_counter()
            try:
                message = json.loads(b"\n".join(data)).get("message", "")
            except ValueError:
                message = ""
            data = []
            # `Your task "<title>" was created.`
            start = message.find('"')
            title = message[start + 1:message.rfind('"')] if start >= 0 else ""
            if title.startswith(run):
                with lock:
                    arrived.setdefault(title, now)


def post(indexes, t0):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for i in indexes:
        # A steady rate: task i goes at t0 + i / rate, whichever thread sends it.
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        title = f"{run}-{i}"
        body = json.dumps({"title": title})
        with lock:
            sent[title] = time.perf_counter()
        try:
            conn.request("POST", "/tasks", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                errors.append(f"POST /tasks answered {resp.status}")
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"POST /tasks failed: {e}")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)


reader = threading.Thread(target=read_stream, daemon=True)
reader.start()
if not stream_open.wait(10) or errors:
    print(f"the notification stream did not open: {errors}", file=sys.stderr)
    sys.exit(1)

# Several posters, so one slow answer does not hold the next post back (task i on thread i % n).
posters = 4
t0 = time.perf_counter() + 0.1
threads = [threading.Thread(target=post, args=(range(k, count, posters), t0)) for k in range(posters)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - t0
# Stragglers: wait until every event arrived, at most 5 s after the last post.
deadline = time.perf_counter() + 5
while time.perf_counter() < deadline:
    with lock:
        if len(arrived) >= len(sent):
            break
    time.sleep(0.01)

with lock:
    latencies = sorted((arrived[t] - sent[t]) * 1000 for t in arrived if t in sent)


def pct(p):
    """Nearest rank."""
    if not latencies:
        return None
    return round(latencies[max(0, math.ceil(p / 100 * len(latencies)) - 1)], 2)


result = {
    "sent": len(sent), "received": len(latencies), "missing": len(sent) - len(latencies),
    "rate": round(len(sent) / elapsed, 1) if elapsed > 0 else None,
    "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
    "max_ms": round(latencies[-1], 2) if latencies else None,
    "errors": len(errors), "first_errors": errors[:3],
}
print("BENCH " + json.dumps(result))
sys.exit(1 if errors else 0)
