"""The design page's worker examples, run as written (imports adapted) against mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PAGE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, signal, time
    from routemq_runtime import Router, WorkerManager, WorkerHealthMonitor, WorkerMetrics
    from routemq_runtime import AdaptiveWorkerManager

    async def handle(context):
        return None

    main_router = Router()
    main_router.on("alerts/{device_id}", handle)
    main_router.on("sensors/{device_id}/data", handle, shared=True, worker_count=3)
    main_router.on("telemetry/bulk", handle, shared=True, worker_count=5, qos=1)

    worker_manager = WorkerManager(
        router=main_router, group_name="production_workers", router_directory="app.routers"
    )
    worker_manager.start_workers(num_workers=8)
    deadline = time.time() + 20
    while time.time() < deadline and sum(w.is_alive() for w in worker_manager.workers) < 9:
        time.sleep(0.1)
    out = {}
    out["workers"] = [
        [w.worker_id, w.route, w.shared, w.is_alive(), w.client_id]
        for w in worker_manager.workers
    ]
    # The page's memory loop (os.kill instead of psutil: same .pid use).
    for worker in worker_manager.workers:
        os.kill(worker.pid, 0)
    victim = worker_manager.workers[0]
    new = worker_manager.restart_worker(victim)
    out["replaced"] = [[new.worker_id, new.client_id, new.pid != victim.pid]]
    # The page's health monitor: the supervisor refilled the slot, so it finds all alive.
    monitor = WorkerHealthMonitor(worker_manager, interval=0.1)
    out["monitor"] = [len(asyncio.run(monitor.check_workers())), len(monitor.health_checks)]
    out["victim"] = [victim.worker_id, victim.client_id]
    adaptive = AdaptiveWorkerManager(main_router, auto_scale=False)
    out["optimal"] = [adaptive.calculate_optimal_workers(r) for r in (0, 150, 500, 5000)]
    worker_metrics = WorkerMetrics()
    worker_metrics.record_message_processed(0, 0.5)
    worker_metrics.record_error(0, "KeyError")
    out["stats0"] = worker_metrics.get_worker_stats(0)
    out["stopped"] = worker_manager.stop_workers()
    print("RESULT " + json.dumps(out), flush=True)
    """
)


def test_the_page_examples_run_as_written(mosquitto, tmp_path: Path) -> None:
    script = tmp_path / "page.py"
    script.write_text(PAGE_SCRIPT)
    env = {
        **os.environ,
        "MQTT_BROKER": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "MQTT_CLIENT_ID": f"seed{os.getpid()}",
        "ROUTEMQ_DRAIN_TIMEOUT": "3",
    }
    env.pop("WORKER_COUNT", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    import json

    out = json.loads(lines[0][len("RESULT ") :])
    workers = out["workers"]
    # num_workers=8: 8 processes for the two shared routes, 3:5, plus one for the plain route.
    shared = [w for w in workers if w[2]]
    assert len(shared) == 8, workers
    assert [w[0] for w in workers] == list(range(9))
    assert sum(1 for w in shared if w[1] == "sensors/{device_id}/data") == 3
    assert sum(1 for w in shared if w[1] == "telemetry/bulk") == 5
    assert all(w[3] for w in workers)
    # A restarted worker keeps its id and client id (its broker session); its pid is new.
    assert out["replaced"] == [[out["victim"][0], out["victim"][1], True]]
    assert out["monitor"] == [0, 9]
    assert out["optimal"] == [1, 1, 5, 10]
    assert out["stats0"]["error_count"] >= 1
    assert out["stats0"]["messages_processed"] >= 1
    assert out["stopped"] == 0
