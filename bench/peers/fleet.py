"""Many workers in one pod: start-up time, memory shared across forks, an idle supervisor's CPU.

A pod of ``routes`` shared routes of ``workers`` workers each, run as its user runs it (RouteMQ:
``python -m routemq_runtime run --workers``; the original: its ``WorkerManager``), idle on its
own broker. Measured, from the moment the command is started:

- ready: RouteMQ's ``/readyz`` answers 200 (every slot connected and subscribed); for both
  systems also the moment the broker has logged every expected SUBSCRIBE (mosquitto with
  ``log_type subscribe``), which needs no cooperation from the system;
- memory: PSS of the whole process tree (``/proc/<pid>/smaps_rollup``), so pages shared between
  forks count once in total; per extra worker = (PSS of this pod - PSS of a 1 x 1 pod) /
  (workers - 1), both measured in the same run;
- idle CPU: the supervisor's (and, separately, all workers') user + system time over a quiet
  window, as a percentage of one core.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workload import stop_process

KIB_PER_MIB = 1024
TICKS = os.sysconf("SC_CLK_TCK")

ROUTER = """\
from routemq_runtime import Router

router = Router()


async def handle(device_id: str, payload: dict) -> None:
    pass


for i in range({routes}):
    router.on(f"fleet/r{{i}}/{{{{device_id}}}}/data", handle, qos=1, shared=True,
              worker_count={workers})
"""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children...)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids = [int(t) for t in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
    return found


def pss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int:
    """User + system clock ticks of a process (all its threads), 0 once it is gone."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return 0


def core_percent(ticks: int, seconds: float) -> float:
    return ticks / TICKS / seconds * 100 if seconds > 0 else 0.0


def count_subscribes(log: Path, offset: int, needle: str) -> int:
    """SUBSCRIBE lines (``log_type subscribe``) naming ``needle`` after ``offset`` bytes."""
    with contextlib.suppress(OSError), log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace").count(needle)
    return 0


def readyz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def measure_pod(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    broker_log: Path,
    needle: str,
    subscribes: int,
    processes: int,
    ready: Callable[[], bool] | None = None,
    idle_seconds: float = 10.0,
    settle: float = 2.0,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Start ``command``, time it to ready, then read its memory and idle CPU; stop it."""
    offset = broker_log.stat().st_size if broker_log.exists() else 0
    out: dict[str, Any] = {"processes": processes, "subscribes": subscribes}
    with (cwd / "pod.log").open("w") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    try:
        deadline = started + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            now = time.monotonic() - started
            if "subscribed_s" not in out and (
                count_subscribes(broker_log, offset, needle) >= subscribes
            ):
                out["subscribed_s"] = now
            if ready is not None and "ready_s" not in out and ready():
                out["ready_s"] = time.monotonic() - started
            if "subscribed_s" in out and (ready is None or "ready_s" in out):
                break
            time.sleep(0.02)
        if proc.poll() is not None:
            return {**out, "error": f"exited with {proc.returncode}: {_tail(cwd / 'pod.log')}"}
        if "subscribed_s" not in out:
            got = count_subscribes(broker_log, offset, needle)
            return {**out, "error": f"{got} of {subscribes} subscriptions in {timeout:.0f} s"}
        time.sleep(settle)  # connected, subscribed, start-up work done
        workers = descendants(proc.pid)
        out["workers_found"] = len(workers)
        out["pss_total_mib"] = (pss_kib(proc.pid) + sum(map(pss_kib, workers))) / KIB_PER_MIB
        out["pss_supervisor_mib"] = pss_kib(proc.pid) / KIB_PER_MIB
        before = cpu_ticks(proc.pid), sum(map(cpu_ticks, workers))
        t0 = time.monotonic()
        time.sleep(idle_seconds)
        seconds = time.monotonic() - t0
        after = cpu_ticks(proc.pid), sum(map(cpu_ticks, workers))
        out["idle_seconds"] = seconds
        out["supervisor_cpu_pct"] = core_percent(after[0] - before[0], seconds)
        out["workers_cpu_pct"] = core_percent(after[1] - before[1], seconds)
        return out
    finally:
        stop_process(proc)
        for pid in descendants(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


def per_extra_worker(big: dict[str, Any], small: dict[str, Any]) -> float | None:
    """PSS each worker beyond the first adds: the two pods' difference over the extra workers."""
    extra = big.get("processes", 0) - small.get("processes", 0)
    if "pss_total_mib" not in big or "pss_total_mib" not in small or extra <= 0:
        return None
    return (big["pss_total_mib"] - small["pss_total_mib"]) / extra


def routemq_pod(
    root: Path,
    python: str,
    pythonpath: str,
    broker_port: int,
    broker_log: Path,
    health_port: int,
    routes: int,
    workers: int,
    idle_seconds: float,
    settle: float = 2.0,
) -> dict[str, Any]:
    """``python -m routemq_runtime run --workers`` on an app of ``routes`` x ``workers``."""
    app = root / f"routemq-{routes}x{workers}"
    for package in ("app", "app/routers"):
        (app / package).mkdir(parents=True, exist_ok=True)
        (app / package / "__init__.py").write_text("")
    (app / "app" / "routers" / "fleet.py").write_text(ROUTER.format(routes=routes, workers=workers))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MQTT_", "WORKER_", "ROUTEMQ_", "PROMETHEUS_", "PYTHONPATH"))
    }
    env.update(
        PYTHONPATH=pythonpath,
        MQTT_BROKER="127.0.0.1",
        MQTT_PORT=str(broker_port),
        MQTT_GROUP_NAME=f"fleet{routes}x{workers}",
        ROUTEMQ_APP_NAME="fleet",
        ROUTEMQ_LOG_LEVEL="WARNING",
        ROUTEMQ_HEALTH_PORT=str(health_port),
        ROUTEMQ_HEALTH_HOST="127.0.0.1",
    )
    command = [python, "-m", "routemq_runtime", "run", "--workers", "--app-dir", str(app)]
    return measure_pod(
        command,
        env,
        app,
        broker_log,
        # The routes' filters only: the supervisor's own broker check subscribes in the group too.
        f"$share/fleet{routes}x{workers}/fleet/r",
        subscribes=routes * workers,
        processes=routes * workers,
        ready=lambda: readyz(health_port),
        idle_seconds=idle_seconds,
        settle=settle,
    )


def original_pod(
    root: Path,
    python: str,
    script: Path,
    broker_port: int,
    broker_log: Path,
    routes: int,
    workers: int,
    idle_seconds: float,
    settle: float = 2.0,
) -> dict[str, Any]:
    """The original's ``WorkerManager`` on the same layout (each worker subscribes every route)."""
    cwd = root / f"original-{routes}x{workers}"
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    group = f"orig{routes}x{workers}"
    command = [python, str(script), f"--port={broker_port}", f"--routes={routes}"]
    command += [f"--workers={workers}", f"--group={group}"]
    return measure_pod(
        command,
        env,
        cwd,
        broker_log,
        f"$share/{group}/fleet/r",
        subscribes=routes * workers * routes,
        processes=routes * workers,
        idle_seconds=idle_seconds,
        settle=settle,
    )


def _tail(path: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    return ""
