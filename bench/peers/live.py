"""One latency run: a system's workers take a live stream published at a fixed rate.

The harness starts the workers (each prints ``READY`` once set up), connects the publisher, lets
the workers connect together, sends warm-up messages until every worker has taken one (it prints
``FIRST``), then publishes ``rate`` stamped messages per second for ``seconds``. Each worker
writes its publish → handler-start records to a file and exits when the stream has been idle for
a moment, or ``deadline`` seconds after its first measured message when it cannot keep up.
Messages sent but not handled by then count as slower than every handled one.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latency import PacedPublisher, cdf_points, read_latencies, summarize
from workload import parse_result


class LiveFailed(RuntimeError):
    pass


@dataclass
class _Worker:
    proc: subprocess.Popen[str]
    log: Path
    records: Path
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    first: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            text = line.strip()
            if text == "READY":
                self.ready.set()
            elif text == "FIRST":
                self.first.set()

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text().strip().splitlines()[-5:])
        return ""


def run_live(
    commands: dict[str, list[str]],
    env: dict[str, str],
    logs: Path,
    host: str,
    port: int,
    topic: str,
    rate: float,
    seconds: float,
    deadline: float,
    attach: Callable[[list[int]], Any] | None = None,
) -> dict[str, Any]:
    """Run one system's workers (``client id -> command``) against one paced stream.

    Each command is completed with ``--latency-out`` and ``--deadline``. ``attach`` (a profiler)
    is called with the workers' pids once they are set up, before they connect.
    """
    workers: list[_Worker] = []
    with contextlib.ExitStack() as stack:
        for client_id, command in commands.items():
            log = logs / f"{client_id}.log"
            records = logs / f"{client_id}.lat"
            records.unlink(missing_ok=True)
            handle = stack.enter_context(log.open("w"))
            proc = subprocess.Popen(
                [*command, f"--latency-out={records}", f"--deadline={deadline}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=handle,
                text=True,
                cwd=logs,
                env=env,
            )
            stack.callback(_kill, proc)
            worker = _Worker(proc, log, records)
            threading.Thread(target=worker.read, daemon=True).start()
            workers.append(worker)
        for worker in workers:
            if not _wait(worker, worker.ready, 120):
                raise LiveFailed(f"did not start: {worker.tail()}")
        if attach is not None:
            attach([w.proc.pid for w in workers])
        publisher = PacedPublisher(host, port, topic)
        try:
            for worker in workers:
                assert worker.proc.stdin is not None
                worker.proc.stdin.write("go\n")
                worker.proc.stdin.flush()
            try:
                warmup = publisher.warm_up(lambda: all(w.first.is_set() for w in workers))
            except TimeoutError as error:
                late = [w for w in workers if not w.first.is_set()]
                raise LiveFailed(f"{error}: {late[0].tail()}") from None
            sent = publisher.run(rate, seconds)
        finally:
            publisher.close()
        results = []
        for worker in workers:
            try:
                worker.proc.wait(timeout=deadline + 60)
            except subprocess.TimeoutExpired:
                raise LiveFailed(f"still running {deadline + 60:.0f} s after the stream") from None
            time.sleep(0.05)  # the reader thread takes the last lines
            result = parse_result("".join(worker.lines))
            if result is None:
                raise LiveFailed(worker.tail() or "no result")
            results.append(result)
    latencies: list[float] = []
    for worker in workers:
        if worker.records.exists():
            latencies += read_latencies(worker.records)
    summary = summarize(latencies, sent["sent"])
    if "error" in summary:
        raise LiveFailed(summary["error"])
    return {
        **summary,
        "target_rate": rate,
        "rate": sent["rate"],
        "seconds": sent["seconds"],
        "warmup": warmup,
        "cdf": cdf_points(latencies),
        "cpu_s": sum(float(r["cpu_s"]) for r in results),
        "per_worker": [int(r.get("latencies", 0)) for r in results],
    }


def _wait(worker: _Worker, event: threading.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event.wait(0.1):
            return True
        if worker.proc.poll() is not None:
            return event.is_set()
    return False


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
