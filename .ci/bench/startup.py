#!/usr/bin/env python3
"""Figure 7: start-up to /ready. Spawns the command COUNT times; each time polls the ready URL
every 2 ms from the spawn and records the time to its first 200, then stops the process with
SIGTERM and waits for it. Prints `BENCH {json}` with every time, the median and the max, in ms.
Python 3 standard library only.

Usage: startup.py <count> <port> <log> -- <command...>
"""

import json
import signal
import socket
import statistics
import subprocess
import sys
import time

count, port, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
command = sys.argv[sys.argv.index("--") + 1:]
request = f"GET /ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()


def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(request)
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


times = []
with open(log, "ab") as out:
    for _ in range(count):
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        while not ready():
            if proc.poll() is not None:
                print(f"the process exited ({proc.returncode}) before it was ready; see {log}", file=sys.stderr)
                sys.exit(1)
            if time.perf_counter() - t0 > 30:
                proc.kill()
                print(f"not ready within 30 s; see {log}", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.002)
        times.append((time.perf_counter() - t0) * 1000)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        # Its port must be free again before the next start.
        time.sleep(0.2)

print("BENCH " + json.dumps({"runs_ms": [round(t, 1) for t in times],
                            "median_ms": round(statistics.median(times), 1),
                            "max_ms": round(max(times), 1)}))
