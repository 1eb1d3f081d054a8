"""A load client for the benchmarks, in a process of its own.

``python -m benchmarks.http_load URL CONCURRENCY`` reads a JSON list of form-encoded bodies on
its standard input, POSTs each once to ``URL`` (``application/x-www-form-urlencoded``) over
CONCURRENCY connections kept alive, each in a thread of its own taking the next body as soon as
it has its answer, all starting together; then prints one JSON line: the seconds from the start
to the last answer, each request's latency in seconds, and how many answers of each status.
A request that fails (connection lost) counts under status 0 and its connection is opened again.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def main(url: str, concurrency: int, bodies: list[str]) -> dict[str, object]:
    target = urlsplit(url)
    host, port, path = target.hostname or "127.0.0.1", target.port or 80, target.path or "/"
    pending = iter(bodies)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    start = threading.Barrier(concurrency + 1)

    def post_until_done() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        connection.connect()
        start.wait()
        while True:
            with lock:
                body = next(pending, None)
            if body is None:
                break
            sent = time.perf_counter()
            try:
                connection.request("POST", path, body.encode(), HEADERS)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = time.perf_counter() - sent
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
        connection.close()

    threads = [threading.Thread(target=post_until_done) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return {
        "elapsed_s": time.perf_counter() - began,
        "latencies_s": latencies,
        "statuses": {str(status): count for status, count in statuses.items()},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), json.load(sys.stdin))), flush=True)
