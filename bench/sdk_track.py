"""`RolloutClient.track` in one thread, and the memory its queue takes.

`track` only enqueues (the JSON is built by the sender thread), so it is measured against the
floor of any queue, a bare `deque.append` of the same tuple, and against what a straightforward
SDK would do on the caller's thread (a uuid4 event id and the event's dict). The client's service
is unreachable (a free port nobody listens on) and its sender sleeps, so nothing else runs while
the calls are timed. Memory: tracemalloc's count of what 100k queued events hold (event ids,
tuples, the deque), the user ids being the application's own strings.

    .venv/bin/python bench/sdk_track.py [--calls 1000000] [--queued 100000]

Target: >= 100k track calls/s in one thread.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
import tracemalloc
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from rollout.client import RolloutClient
from rollout.embedded import free_port

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"


def quiet_client(max_queue: int) -> RolloutClient:
    logging.getLogger("rollout_sdk").setLevel(logging.CRITICAL)
    return RolloutClient(
        f"http://127.0.0.1:{free_port()}", "rk_bench", max_queue=max_queue,
        batch_size=1000, flush_interval_s=3600, refresh_interval_s=3600, timeout_s=0.2,
    )


def rate(calls: int, repeat: int, make: Callable[[], Callable[[str], Any]],
         users: list[str]) -> float:
    """Best calls/s over `repeat` runs of `calls` calls, each run on a fresh target."""
    best = 0.0
    for _ in range(repeat):
        call = make()
        gc.collect()
        started = time.perf_counter()
        for index in range(calls):
            call(users[index % len(users)])
        best = max(best, calls / (time.perf_counter() - started))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000 if QUICK else 1_000_000)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1 if QUICK else 3)
    args = parser.parse_args()
    users = [f"user-{index}" for index in range(10_000)]
    clients: list[RolloutClient] = []

    def bare() -> Callable[[str], Any]:
        queue: deque[tuple[Any, ...]] = deque()
        return lambda user: queue.append(("id", user, "exp", "clicks", 1.0, None))

    def naive() -> Callable[[str], Any]:
        queue: deque[dict[str, Any]] = deque()
        return lambda user: queue.append(
            {"event_id": uuid.uuid4().hex, "user_id": user, "experiment": "exp",
             "metric": "clicks", "value": 1.0}
        )

    def sdk() -> Callable[[str], Any]:
        client = quiet_client(args.calls + 1)
        clients.append(client)
        return lambda user: client.track(user, "exp", "clicks", 1.0)

    print(f"track, one thread, {args.calls:,} calls, best of {args.repeat}")
    figures = [
        ("deque.append of the tuple (floor)", rate(args.calls, args.repeat, bare, users)),
        ("uuid4 + dict on the caller's thread", rate(args.calls, args.repeat, naive, users)),
        ("RolloutClient.track", rate(args.calls, args.repeat, sdk, users)),
    ]
    for client in clients:
        client.close(timeout=0)
    for name, calls_per_s in figures:
        print(f"   {name:<38} {calls_per_s:>12,.0f} calls/s   {1e6 / calls_per_s:5.2f} us/call")
    ours = figures[2][1]
    verdict = "met" if ours >= 100_000 else "NOT met"
    print(f"   track / floor {ours / figures[0][1]:5.0%}"
          f"   track / naive {ours / figures[1][1]:4.1f}x   (target >= 100,000 calls/s: {verdict})")

    client = quiet_client(args.queued + 1)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for index in range(args.queued):
        client.track(users[index % len(users)], "exp", "clicks", float(index % 7))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    queued = client.stats().events_queued
    client.close(timeout=0)
    # Every `batch_size` events the sender takes a batch to send (here: to retry, the service
    # being unreachable), so a few are held as a batch and its JSON rather than in the queue.
    print(f"\nmemory held for {args.queued:,} unsent events ({queued:,} queued, the rest in a"
          f" batch being retried): {held / 1e6:.1f} MB ({held / args.queued:.0f} bytes an event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
