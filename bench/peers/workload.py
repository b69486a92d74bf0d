"""The workload every peer runs, in plain Python so that it imports in any peer's environment.

A peer is one consumer process of one system. It connects to a persistent session that already
holds a queued backlog, handles ``--limit`` messages with the handler chosen by ``--handler``,
then prints one ``RESULT {json}`` line: how many it handled, the monotonic times of its first and
last message, its CPU time and its memory. ``time.monotonic`` is one system-wide clock on Linux,
so the harness can combine the first and last times of several workers.

Latency runs (``--handler latency``): the messages come live from a paced publisher, each stamped
with its send time; the handler records publish → handler start (see ``latency.py``), the worker
prints ``FIRST`` when it takes its first message and stops when the stream has been idle for
``--idle`` seconds or ``--deadline`` seconds after its first measured message.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HOT_PATTERN = "sensors/{device_id}/data"
HOT_FILTER = "sensors/+/data"
IO_DELAY = 0.001
RESULT_PREFIX = "RESULT "


def route_patterns(count: int) -> list[str]:
    """``count`` route patterns with the hot route in the middle of the table.

    The siblings share prefixes and depth with the hot route, and use only whole-level
    ``{param}`` placeholders, which every system here understands. A router that scans its routes
    in order checks half the table for every message; one that indexes them does not.
    """
    siblings = []
    for i in range(count - 1):
        kind = i % 4
        if kind == 0:
            siblings.append(f"sensors/{{device_id}}/metric{i}")
        elif kind == 1:
            siblings.append(f"site{i}/{{device_id}}/data")
        elif kind == 2:
            siblings.append(f"sensors/fixed{i}/data")
        else:
            siblings.append(f"fleet/{i}/{{zone}}/{{device_id}}")
    middle = len(siblings) // 2
    return [*siblings[:middle], HOT_PATTERN, *siblings[middle:]]


def subscription_filter(pattern: str) -> str:
    return "/".join("+" if level.startswith("{") else level for level in pattern.split("/"))


def burn_cpu() -> int:
    """A fixed slice of pure-Python work: the CPU-bound handler's body."""
    total = 0
    for i in range(3000):
        total += i * i
    return total


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--group", required=True, help="shared subscription group")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    p.add_argument("--limit", type=int, required=True, help="messages to handle, then stop")
    p.add_argument("--handler", choices=("plain", "io", "cpu", "latency"), default="plain")
    p.add_argument("--routes", type=int, default=1, help="routes in the router (1 is hot)")
    p.add_argument("--concurrency", type=int, default=100, help="handlers in flight")
    p.add_argument("--protocol", choices=("3.1.1", "5"), default="3.1.1")
    p.add_argument("--idle", type=float, default=20.0, help="give up after this long idle")
    p.add_argument("--latency-out", default="", help="latency runs: where to write the records")
    p.add_argument(
        "--deadline", type=float, default=0.0, help="latency runs: stop this long after the first"
    )
    return p


class Tally:
    """Counts handled messages and remembers when the first and the last one finished."""

    def __init__(self, limit: int, latency_out: str = "", deadline: float = 0.0) -> None:
        self.limit = limit
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.started = time.monotonic()
        self.latency_out = latency_out
        self.latencies: list[float] = []
        self.deadline = deadline
        self.measuring_since = 0.0
        self.stopped = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Tally:
        return cls(args.limit, args.latency_out, args.deadline)

    def stamp(self, payload: dict) -> bool:
        """Record publish → now for a stamped payload (before ``tick``); True when past the
        deadline, the worker's cue to stop."""
        now = time.monotonic()
        if self.count == 0:
            sys.stdout.write("FIRST\n")
            sys.stdout.flush()
        if payload.get("w"):
            return False
        self.latencies.append(now - payload["t"])
        if not self.measuring_since:
            self.measuring_since = now
        if self.deadline and not self.stopped and now - self.measuring_since > self.deadline:
            self.stopped = True
            return True
        return False

    def tick(self) -> bool:
        """Count one handled message; True when it is the last one counted.

        Messages handled after the limit (in flight while the worker stops) are not counted, so
        the measured window ends with the limit-th message.
        """
        if self.count >= self.limit:
            return False
        now = time.monotonic()
        self.count += 1
        if self.count == 1:
            self.first = now
        self.last = now
        return self.count == self.limit

    def idle_for(self) -> float:
        if self.latency_out and not self.last:
            return 0.0  # a live stream: the harness waits for every worker's first message
        return time.monotonic() - (self.last or self.started)


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """RSS, peak RSS, USS (private pages) and PSS (shared pages split among their users), KiB."""
    out = {"rss_kib": 0, "hwm_kib": 0, "uss_kib": 0, "pss_kib": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key == "VmRSS":
            out["rss_kib"] = int(rest.split()[0])
        elif key == "VmHWM":
            out["hwm_kib"] = int(rest.split()[0])
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in rollup.splitlines():
        key, _, rest = line.partition(":")
        if key.startswith("Private_"):
            out["uss_kib"] += int(rest.split()[0])
        elif key == "Pss":
            out["pss_kib"] = int(rest.split()[0])
    return out


def wait_for_go(tally: Tally) -> None:
    """Say the process is set up, then wait for the harness to start every worker at once.

    Imports and router construction take different times in different systems; connecting only
    on the harness's word keeps that out of the measured window of a multi-worker run.
    """
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.readline()
    tally.started = time.monotonic()


def stop_when_idle(tally: Tally, idle: float, sig: int) -> None:
    """Send ``sig`` to this process if the backlog dries up before the limit.

    That is a broken run, reported as such; run it on a daemon thread.
    """
    while tally.idle_for() < idle and tally.count < tally.limit:
        time.sleep(1.0)
    if tally.count < tally.limit:
        os.kill(os.getpid(), sig)


def report(tally: Tally, **extra: object) -> None:
    if tally.latency_out:
        from latency import write_latencies

        write_latencies(tally.latency_out, tally.latencies)
        extra["latencies"] = len(tally.latencies)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "count": tally.count,
        "first": tally.first,
        "last": tally.last,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        **memory_kib(),
        **extra,
    }
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return None


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (a clean drain), then SIGKILL if it outlives ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
