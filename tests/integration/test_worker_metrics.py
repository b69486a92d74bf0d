"""Worker metrics in Prometheus multiprocess mode, and the slot's identity and liveness files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from routemq_runtime.config import Config
from routemq_runtime.worker import SlotSpec, slot_client_id
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer
from tests.support.polling import poll, wait_for

ROOT = Path(__file__).resolve().parents[2]

SLOT_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from routemq_runtime.config import Config
    from routemq_runtime.routing import Router
    from routemq_runtime.worker import SlotSpec, run_slot

    host, port, workdir, transport = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

    async def handle(n: int) -> None:
        if n == 13:
            raise KeyError("thirteen")

    router = Router()
    router.on("m/{n:int}", handle, qos=1, shared=True)
    config = Config(mqtt_broker=host, mqtt_port=port, retry_max_attempts=2,
                    retry_base_delay=0.01, retry_max_delay=0.02, mqtt_transport=transport)
    spec = SlotSpec(slot_id="m-n-0", index=0, route_patterns=("m/{n:int}",), shared=True,
                    group="metrics", client_id="metrics-m-n-0", config=config,
                    heartbeat_path=workdir / "hb", ready_path=workdir / "ready")
    sys.exit(run_slot(spec, router))
    """
)


@pytest.mark.integration
def test_slot_metrics_are_visible_across_processes(
    mosquitto: Mosquitto, tmp_path: Path, mqtt_transport: str
) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOT_SCRIPT,
            mosquitto.host,
            str(mosquitto.port),
            str(tmp_path),
            mqtt_transport,
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return (tmp_path / "ready").exists()

        wait_for(ready, 15, "slot ready")
        heartbeat = (tmp_path / "hb").stat().st_mtime
        with Observer(mosquitto) as observer:
            observer.subscribe("routemq/dlq/#")
            for n in (1, 2, 3, 13, 4, 5):
                observer.publish(f"m/{n}", {"n": n})
            observer.wait_for(lambda m: m.topic.startswith("routemq/dlq/"), timeout=10)
        # The heartbeat file is touched every second while the slot's loop runs.
        assert poll(lambda: (tmp_path / "hb").stat().st_mtime > heartbeat, 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Read back from the multiprocess files, as the supervisor's /metrics does.
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from routemq_runtime.metrics import WorkerMetrics

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }

    def value(name: str, **extra: str) -> float:
        labels = {"route": "m/{n:int}", "worker": "m-n-0", **extra}
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("routemq_messages_received_total") == 6
    assert value("routemq_messages_processed_total", outcome="ok") == 5
    assert value("routemq_messages_processed_total", outcome="dead_lettered") == 1
    assert value("routemq_messages_dead_lettered_total", reason="handler_error") == 1
    assert value("routemq_handler_retries_total") == 1
    assert value("routemq_handler_errors_total", error_type="KeyError") == 2
    assert value("routemq_processing_seconds_count") == 7  # 5 ok + 2 failed attempts
    stats = WorkerMetrics(registry).get_worker_stats("m-n-0")
    assert stats["messages_processed"] == 5
    assert stats["error_count"] == 2
    assert stats["avg_processing_time"] > 0


@pytest.mark.one_transport
def test_slot_client_id_is_stable_and_safe() -> None:
    config = Config(app_name="shop floor", mqtt_client_id=None)
    first = slot_client_id(config, "sensors-device_id-data", 2, hostname="pod-7.svc")
    assert first == "shop-floor-pod-7.svc-sensors-device_id-data-2"
    assert slot_client_id(config, "sensors-device_id-data", 2, hostname="pod-7.svc") == first
    prefixed = Config(mqtt_client_id="plant/a")
    assert slot_client_id(prefixed, "r", 0, hostname="h") == "plant-a-h-r-0"


@pytest.mark.one_transport
def test_slot_spec_rejects_a_slot_without_routes() -> None:
    with pytest.raises(ValueError, match="serves no route"):
        SlotSpec(
            slot_id="x",
            index=0,
            route_patterns=(),
            shared=True,
            group="g",
            client_id="c",
            config=Config(),
        )


@pytest.mark.one_transport
def test_batched_histogram_matches_observing_one_by_one() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from routemq_runtime import metrics
    from routemq_runtime.prometheus_internals import BatchedHistogram

    registry = CollectorRegistry()
    batched = Histogram("b_seconds", "b", ["w"], buckets=metrics.BUCKETS, registry=registry)
    direct = Histogram("d_seconds", "d", ["w"], buckets=metrics.BUCKETS, registry=registry)
    local = BatchedHistogram(batched.labels("x"), metrics.BUCKETS)
    assert not local.direct
    values = [0.0001, 0.0005, 0.0006, 0.001, 0.3, 1, 60, 61]
    for value in values:
        local.observe(value)
        direct.labels("x").observe(value)
    local.flush()
    local.flush()  # a second flush adds nothing

    def samples(name: str) -> list[tuple[str, str | None, float]]:
        return [
            (s.name.split("_", 1)[1], s.labels.get("le"), s.value)
            for family in registry.collect()
            if family.name == name
            for s in family.samples
            if not s.name.endswith("_created")
        ]

    assert samples("b_seconds") == samples("d_seconds")
