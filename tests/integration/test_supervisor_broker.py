"""The supervisor running real worker slots against a real mosquitto.

Each test runs a small app directory through ``python -m routemq_runtime run``. Its handlers
append ``worker topic id`` to a file per process, so the tests can count exactly which slot
handled what, and what is missing or duplicated. Every test uses its own app name (client id
prefix), group and topic prefix: sessions of one test must not collect another test's messages
on the shared broker.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import RecordingApp
from tests.support.ledger import Ledger
from tests.support.mosquitto import Mosquitto
from tests.support.polling import wait_for
from tests.support.publishing import NumberedPublisher
from tests.support.supervised import Supervised, http_get

pytestmark = pytest.mark.integration

ROUTER_MODULE = textwrap.dedent(
    """
    import asyncio
    import os

    from routemq_runtime import Router

    OUT = os.environ["RECORD_DIR"]
    PREFIX = os.environ["TOPIC_PREFIX"]
    DELAY = float(os.environ.get("HANDLER_DELAY", "0"))

    router = Router()


    async def record(payload, context):
        if DELAY:
            await asyncio.sleep(DELAY)
        with open(os.path.join(OUT, f"{os.getpid()}.log"), "a") as f:
            f.write(f"{context.worker_id} {context.topic} {payload['id']}\\n")


    for spec in os.environ["ROUTES"].split(","):
        pattern, count = spec.split("=")
        if int(count):
            router.on(f"{PREFIX}/{pattern}", record, shared=True, worker_count=int(count), qos=1)
        else:
            router.on(f"{PREFIX}/{pattern}", record, qos=1)
    """
)


class Records(Ledger):
    """What the handlers of one app recorded: ``worker topic id`` per handled message."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, id_field=2)

    def read(self) -> list[tuple[str, str, int]]:
        return [(worker, topic, int(i)) for worker, topic, i in self.lines()]

    def wait_read(self, expected: set[int], timeout: float = 20.0) -> list[tuple[str, str, int]]:
        self.wait_ids(expected, timeout)
        return self.read()


class App(RecordingApp):
    """An app whose routes (``pattern=count,...``) all record into :class:`Records`."""

    ledger_type = Records
    ledger: Records

    def __init__(self, root: Path, broker: Mosquitto, routes: str, **env: str) -> None:
        super().__init__(root, broker, ROUTER_MODULE, ROUTES=routes, **env)


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[NumberedPublisher]:
    with NumberedPublisher(mosquitto, max_inflight=200) as pub:
        yield pub


@pytest.fixture
def make_app(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(routes: str, **env: str) -> App:
        app = App(tmp_path / f"app{len(apps)}", mosquitto, routes, **env)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.cleanup()


def per_worker(records: list[tuple[str, str, int]], topic: str) -> Counter[str]:
    return Counter(worker for worker, t, _ in records if t == topic)


def metric_total(port: int, name: str, **labels: str) -> float:
    _, body = http_get(port, "/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_slots_per_route_are_real_and_share_their_route_evenly(make_app, publisher):
    app = make_app("jobs/{kind}=3,other/{kind}=2,direct/{kind}=0")
    run = app.start("--workers")
    slots = run.wait_ready(count=6)
    assert sorted(s["route"] for s in slots).count(f"{app.prefix}-jobs-kind") == 3
    assert http_get(run.port, "/livez")[0] == 200

    jobs, other, direct = app.topic("jobs/a"), app.topic("other/b"), app.topic("direct/c")
    publisher.publish(jobs, range(3000))
    publisher.publish(other, range(3000, 4000))
    publisher.publish(direct, range(4000, 4020))
    records = app.ledger.wait_read(set(range(4020)))

    job_workers = per_worker(records, jobs)
    assert set(job_workers) == {f"{app.prefix}-jobs-kind-{i}" for i in range(3)}
    assert all(900 <= n <= 1100 for n in job_workers.values()), job_workers
    assert set(per_worker(records, other)) == {f"{app.prefix}-other-kind-{i}" for i in range(2)}
    assert set(per_worker(records, direct)) == {"direct-0"}
    assert len(records) == len({i for _, _, i in records}), "no duplicates without failures"

    # Each slot subscribed to its own route only; its lines carry Worker-{n} and the slot id
    # (integer ids in the order of the plan: jobs 0-2, other 3-4, the non-shared routes 5).
    out = run.output()
    group = app.env["MQTT_GROUP_NAME"]
    for i in range(3):
        line = f"[Worker-{i} {app.prefix}-jobs-kind-{i}] routemq.transport: subscribed: $share/"
        assert f"{line}{group}/{app.prefix}/jobs/+" in out
    assert f"[Worker-5 direct-0] routemq.transport: subscribed: {app.prefix}/direct/+" in out

    route = f"{app.prefix}/jobs/{{kind}}"
    wait_for(
        lambda: metric_total(run.port, "routemq_messages_received_total", route=route) == 3000,
        5,
        "the received counter of the jobs route in /metrics",
    )
    code, seconds = run.stop()
    assert code == 0
    print(f"\ndistribution over 3 slots of 3,000 messages: {dict(sorted(job_workers.items()))}")
    print(f"stop of 6 idle workers: {seconds:.3f} s")


def test_three_idle_workers_stop_quickly(make_app):
    app = make_app("jobs/{kind}=3")
    run = app.start("--workers")
    run.wait_ready(count=3)
    code, seconds = run.stop()
    assert code == 0
    print(f"\nstop of 3 idle workers (SIGTERM to exit): {seconds:.3f} s")
    assert seconds < 10, "measured and reported above; only a hang fails here"


def test_killed_slot_restarts_with_its_client_id_and_gets_its_queued_messages(make_app, publisher):
    app = make_app("jobs/{kind}=2", HANDLER_DELAY="0.002")
    run = app.start("--workers")
    before = {s["slot"]: s for s in run.wait_ready(count=2)}
    victim = before[f"{app.prefix}-jobs-kind-1"]

    topic = app.topic("jobs/x")
    sender = publisher.in_background(topic, range(3000), pause_every=100)
    wait_for(lambda: app.ledger.count() >= 400, 20, "the stream to be under way")
    killed = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)

    def back() -> dict[str, Any] | None:
        for slot in run.slots():
            if slot["slot"] == victim["slot"] and slot["pid"] not in (None, victim["pid"]):
                return slot if slot["ready"] else None
        return None

    new = wait_for(back, 15, "the killed slot to be back and subscribed")
    restart = time.monotonic() - killed
    sender.join(30)
    records = app.ledger.wait_read(set(range(3000)), timeout=30)
    assert new["client_id"] == victim["client_id"]
    ids = Counter(i for _, _, i in records)
    missing = set(range(3000)) - set(ids)
    assert not missing
    assert "session present: True" in run.output()
    duplicates = sum(n - 1 for n in ids.values())
    assert run.stop()[0] == 0
    print(
        f"\nSIGKILL mid-stream: restarted and subscribed in {restart:.3f} s; 0 lost, "
        f"{duplicates} redelivered"
    )


def test_sigterm_under_load_loses_nothing(make_app, publisher):
    app = make_app("jobs/{kind}=2", HANDLER_DELAY="0.01", WORKER_CONCURRENCY="5")
    run = app.start("--workers")
    run.wait_ready(count=2)
    topic = app.topic("jobs/x")
    sender = publisher.in_background(topic, range(2000), pause_every=100)
    wait_for(lambda: app.ledger.count() >= 300, 20, "the stream to be under way")
    code, seconds = run.stop()
    assert code == 0, run.output()
    handled_first = len(app.ledger.ids())
    sender.join(30)
    assert handled_first < 2000, "the stop really happened under load"

    again = app.start("--workers")
    again.wait_ready(count=2)
    records = app.ledger.wait_read(set(range(2000)), timeout=30)
    ids = Counter(i for _, _, i in records)
    duplicates = sum(n - 1 for n in ids.values())
    assert again.stop()[0] == 0
    print(
        f"\nSIGTERM under load: drained in {seconds:.3f} s after {handled_first} handled; "
        f"after restart 0 lost, {duplicates} handled twice"
    )


def test_ttin_and_ttou_change_the_slot_count_of_a_live_app(make_app, publisher):
    app = make_app("jobs/{kind}=2")
    run = app.start("--workers")
    run.wait_ready(count=2)
    topic = app.topic("jobs/x")

    run.signal(signal.SIGTTIN)
    run.wait_ready(count=3)
    publisher.publish(topic, range(300))
    records = app.ledger.wait_read(set(range(300)))
    assert len(per_worker(records, topic)) == 3

    run.signal(signal.SIGTTOU)
    wait_for(lambda: len(run.slots()) == 2, 15, "the third slot to be drained")
    run.wait_ready(count=2)
    assert "draining slot" in run.output()
    assert run.stop()[0] == 0


def test_removed_slot_leaves_no_session_collecting_messages(make_app, publisher):
    """After scaling down, new messages go to the remaining slots only."""
    app = make_app("jobs/{kind}=3")
    run = app.start("--workers")
    run.wait_ready(count=3)
    run.signal(signal.SIGTTOU)
    wait_for(lambda: len(run.slots()) == 2, 15, "the third slot to be drained")
    topic = app.topic("jobs/x")
    publisher.publish(topic, range(300))
    records = app.ledger.wait_read(set(range(300)), timeout=5)
    assert set(per_worker(records, topic)) == {f"{app.prefix}-jobs-kind-{i}" for i in range(2)}
    assert run.stop()[0] == 0


MANAGERS_SCRIPT = textwrap.dedent(
    """
    import signal, sys, threading
    from routemq_runtime import WorkerManager
    from routemq_runtime.app_loader import load_app_router

    router = load_app_router(sys.argv[1])
    managers = [WorkerManager(router, group_name=g) for g in ("us-east", "eu-west")]
    for m in managers:
        m.start_workers(num_workers=2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("started", flush=True)
    stop.wait()
    sys.exit(max(m.stop_workers() or 0 for m in managers))
    """
)


def test_managers_with_different_groups_run_side_by_side(make_app, publisher, tmp_path):
    app = make_app("jobs/{kind}=1")
    script = tmp_path / "managers.py"
    script.write_text(MANAGERS_SCRIPT)
    run = Supervised([sys.executable, str(script), str(app.root)], app.env, app.root, 0)
    app.runs.append(run)
    out = run.log_path
    wait_for(
        lambda: run.output().count("routemq.transport: subscribed:") >= 4, 15, "4 subscribed slots"
    )
    assert "started" in out.read_text()
    topic = app.topic("jobs/x")
    publisher.publish(topic, range(200))

    def both_groups() -> list[tuple[str, str, int]] | None:
        records = app.ledger.read()
        groups = {w.split("-jobs-")[0] for w, _, _ in records}
        per_group = {g: {i for w, _, i in records if w.startswith(g + "-")} for g in groups}
        done = groups == {f"us-east-{app.prefix}", f"eu-west-{app.prefix}"} and all(
            ids == set(range(200)) for ids in per_group.values()
        )
        return records if done else None

    records = wait_for(both_groups, 20, "every message handled once per group")
    assert len(per_worker(records, topic)) == 4
    code, _ = run.stop()
    assert code == 0, run.output()


AUTOSCALE_SCRIPT = textwrap.dedent(
    """
    import sys
    from routemq_runtime import AdaptiveWorkerManager
    from routemq_runtime.app_loader import load_app_router
    from routemq_runtime.log import configure_logging
    from routemq_runtime.supervisor import ScalingPolicy

    configure_logging("INFO", worker="supervisor")
    router = load_app_router(sys.argv[1])
    policy = ScalingPolicy(interval=1.0, keepalive=1.0, cooldown=1.0)
    sys.exit(AdaptiveWorkerManager(router, scaling_policy=policy).run())
    """
)


def test_auto_scaling_adds_slots_under_load_and_drains_them_when_idle(
    make_app, publisher, tmp_path
):
    # I/O-bound handler, 4 in flight per slot: one slot handles ~80 msg/s and is saturated.
    app = make_app(
        "jobs/{kind}=1",
        HANDLER_DELAY="0.05",
        WORKER_CONCURRENCY="4",
        WORKER_MIN_COUNT="1",
        WORKER_MAX_COUNT="3",
    )
    script = tmp_path / "autoscale.py"
    script.write_text(AUTOSCALE_SCRIPT)
    run = app.start(str(app.root), argv=[sys.executable, str(script)])
    run.wait_ready(count=1)
    started = time.monotonic()
    publisher.publish(app.topic("jobs/x"), range(600))
    wait_for(lambda: len(run.slots()) >= 2, 10, "a scale-up under load")
    scaled_up = time.monotonic() - started
    app.ledger.wait_read(set(range(600)), timeout=30)
    wait_for(lambda: len(run.slots()) == 1, 20, "the scale-down once idle")
    out = run.output()
    assert "auto-scale: route" in out and "-> 1 slot(s)" in out
    assert run.stop()[0] == 0
    print(f"\nauto-scale: first scale-up {scaled_up:.2f} s after the burst started")
