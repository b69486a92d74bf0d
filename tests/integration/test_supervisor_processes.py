"""The supervision loop with real processes and a stand-in slot (no broker needed).

The stand-in slot behaves like a worker as far as the supervisor can see: it touches its
heartbeat file, creates its ready file and drains on SIGTERM; per-slot modes make it crash,
fail to boot, hang or ignore SIGTERM on demand. Every start and stop is appended to an event
log, so the tests see exactly which process served which slot.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import clean_env
from tests.support.mosquitto import free_port
from tests.support.polling import wait_for
from tests.support.supervised import Supervised, http_get

pytestmark = [pytest.mark.integration, pytest.mark.one_transport]

HARNESS = textwrap.dedent(
    """
    import json, logging, os, signal, sys, time
    from pathlib import Path

    from routemq_runtime.config import Config
    from routemq_runtime.routing import Router
    from routemq_runtime.supervisor import RestartPolicy, WorkerManager

    LOG = Path(os.environ["SLOT_LOG"])
    MODES = json.loads(os.environ.get("SLOT_MODES", "{}"))


    def event(**fields):
        with LOG.open("a") as f:
            f.write(json.dumps(fields) + "\\n")


    def slot(spec, router):
        mode = MODES.get(spec.slot_id, "ok")
        stop = []
        if mode != "ignore_term":
            signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        else:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        event(event="start", slot=spec.slot_id, pid=os.getpid(), client_id=spec.client_id,
              patterns=list(spec.route_patterns), shared=spec.shared, group=spec.group)
        if mode == "crash":
            time.sleep(0.05)
            raise RuntimeError("crash on demand")
        if mode == "boot_error":
            return 3
        if mode != "never_ready":
            spec.ready_path.touch()
        beats = 0
        while not stop:
            if mode != "hang" or beats < 3:
                os.utime(spec.heartbeat_path)
            beats += 1
            time.sleep(0.05)
        event(event="stop", slot=spec.slot_id, pid=os.getpid())
        return 0


    def noop(payload):
        pass


    router = Router()
    for spec in os.environ["ROUTES"].split(","):
        pattern, count = spec.split("=")
        if int(count):
            router.on(pattern, noop, shared=True, worker_count=int(count))
        else:
            router.on(pattern, noop)
    logging.basicConfig(level="INFO", format="%(asctime)s %(message)s")
    config = Config(
        health_port=int(os.environ["HEALTH_PORT"]),
        drain_timeout=float(os.environ.get("DRAIN", "3")),
        mqtt_group_name="jobs",
        app_name="demo",
    )
    manager = WorkerManager(
        router,
        config=config,
        group_name=os.environ.get("GROUP") or None,
        slot_target=slot,
        health_host="127.0.0.1",
        heartbeat_timeout=float(os.environ.get("HEARTBEAT_TIMEOUT", "30")),
        restart_policy=RestartPolicy(base_delay=0.05, max_delay=0.2, budget=3, window=30),
    )
    sys.exit(manager.run())
    """
)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)

    def start(routes: str, modes: dict[str, str] | None = None, **env: str) -> Supervised:
        port = free_port()
        full_env = clean_env(
            SLOT_LOG=str(tmp_path / "events.jsonl"),
            SLOT_MODES=json.dumps(modes or {}),
            ROUTES=routes,
            HEALTH_PORT=str(port),
            **env,
        )
        sup = Supervised([sys.executable, str(script)], full_env, tmp_path, port)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.cleanup()


def test_one_slot_per_unit_of_worker_count_each_serving_its_own_route(supervise, tmp_path):
    sup = supervise("a/{id}=3,b/{id}=2,c/{id}=0,d/+=0")
    slots = sup.wait_ready(count=6)
    by_route: dict[str, list[dict[str, Any]]] = {}
    for slot in slots:
        by_route.setdefault(slot["route"], []).append(slot)
    assert {k: len(v) for k, v in by_route.items()} == {"a-id": 3, "b-id": 2, "direct": 1}
    assert len({s["pid"] for s in slots}) == 6

    starts = {e["slot"]: e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "start"}
    assert starts["a-id-2"]["patterns"] == ["a/{id}"] and starts["a-id-2"]["shared"]
    assert starts["b-id-1"]["patterns"] == ["b/{id}"] and starts["b-id-1"]["group"] == "jobs"
    assert starts["direct-0"]["patterns"] == ["c/{id}", "d/+"]
    assert not starts["direct-0"]["shared"]
    client_ids = [e["client_id"] for e in starts.values()]
    assert len(set(client_ids)) == 6 and all(c.startswith("demo-") for c in client_ids)

    code, seconds = sup.stop()
    assert code == 0
    stops = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "stop"]
    assert len(stops) == 6, "every slot drained on SIGTERM"
    print(f"\nstop of 6 idle stand-in slots: {seconds:.3f} s")


def test_killed_slot_restarts_in_the_same_slot_with_the_same_client_id(supervise, tmp_path):
    sup = supervise("a/{id}=2")
    slots = sup.wait_ready(count=2)
    victim = next(s for s in slots if s["slot"] == "a-id-1")
    killed_at = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)

    def replaced() -> dict[str, Any] | None:
        for slot in sup.slots():
            if slot["slot"] == "a-id-1" and slot["pid"] not in (None, victim["pid"]):
                return slot if slot["ready"] else None
        return None

    new = wait_for(replaced, 10, "the killed slot's replacement")
    restart_seconds = time.monotonic() - killed_at
    assert new["client_id"] == victim["client_id"]
    assert new["restarts"] == 1
    other = next(s for s in sup.slots() if s["slot"] == "a-id-0")
    assert other["pid"] == next(s["pid"] for s in slots if s["slot"] == "a-id-0")
    starts = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "start"]
    assert [e["client_id"] for e in starts if e["slot"] == "a-id-1"] == [victim["client_id"]] * 2
    _, metrics = http_get(sup.port, "/metrics")
    assert 'routemq_worker_restarts_total{worker="a-id-1"} 1.0' in metrics.decode()
    print(f"\nSIGKILLed slot back and ready after {restart_seconds:.3f} s")
    assert sup.stop()[0] == 0


def test_a_slot_that_keeps_dying_makes_the_supervisor_give_up(supervise):
    sup = supervise("a/{id}=2", modes={"a-id-1": "crash"})
    code = sup.wait(timeout=20)
    out = sup.output()
    assert code == 1, out
    assert "a-id-1 died 4 times" in out and "giving up" in out
    assert "crash on demand" in out, "the slot's traceback is logged"


def test_a_slot_that_cannot_boot_stops_everything_at_once(supervise):
    sup = supervise("a/{id}=1,b/{id}=1", modes={"b-id-0": "boot_error"})
    code = sup.wait(timeout=20)
    out = sup.output()
    assert code == 3, out
    assert "b-id-0" in out and "could not boot" in out
    assert out.count("restarting in") == 0


def test_a_slot_whose_heartbeat_goes_stale_is_killed_and_restarted(supervise, tmp_path):
    sup = supervise("a/{id}=1", modes={"a-id-0": "hang"}, HEARTBEAT_TIMEOUT="1")
    first = sup.wait_ready(count=1)[0]
    wait_for(
        lambda: (
            len([e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "start"]) >= 2
        ),
        15,
        "a restart after the stale heartbeat",
    )
    out = sup.output()
    assert f"a-id-0 (pid {first['pid']}) sent no heartbeat" in out
    assert "killed by SIGKILL" in out
    assert sup.stop()[0] == 0


def test_livez_and_readyz_report_the_slots(supervise):
    sup = supervise("a/{id}=1,b/{id}=1", modes={"b-id-0": "never_ready"})
    wait_for(lambda: len(sup.slots()) == 2 and all(s["pid"] for s in sup.slots()), 10, "2 slots")
    code, body = http_get(sup.port, "/livez")
    assert code == 200 and json.loads(body)["live"] is True
    code, status = sup.status()
    assert code == 503 and status["ready"] is False
    assert {s["slot"]: s["ready"] for s in status["slots"]} == {"a-id-0": True, "b-id-0": False}
    code, body = http_get(sup.port, "/metrics")
    assert code == 200
    assert http_get(sup.port, "/nope")[0] == 404
    assert sup.stop()[0] == 0


def test_ttin_adds_and_ttou_drains_a_slot_per_shared_route(supervise, tmp_path):
    sup = supervise("a/{id}=2,b/{id}=1,c/{id}=0")
    before = {s["slot"]: s["pid"] for s in sup.wait_ready(count=4)}
    sup.signal(signal.SIGTTIN)
    after_ttin = {s["slot"]: s["pid"] for s in sup.wait_ready(count=6)}
    assert set(after_ttin) == set(before) | {"a-id-2", "b-id-1"}
    assert all(after_ttin[k] == v for k, v in before.items()), "existing slots untouched"

    # One signal at a time: the kernel merges a signal that arrives while one is pending.
    sup.signal(signal.SIGTTOU)
    sup.wait_ready(count=4)
    sup.signal(signal.SIGTTOU)  # b cannot go below one slot
    after_ttou = {s["slot"]: s["pid"] for s in sup.wait_ready(count=3)}
    assert set(after_ttou) == {"a-id-0", "b-id-0", "direct-0"}
    events = read_events(tmp_path / "events.jsonl")
    drained = {e["slot"] for e in events if e["event"] == "stop"}
    assert drained == {"a-id-1", "a-id-2", "b-id-1"}, "removed slots drained, not killed"
    assert sup.stop()[0] == 0


def test_stragglers_are_killed_after_the_drain_timeout(supervise):
    sup = supervise("a/{id}=2", modes={"a-id-1": "ignore_term"}, DRAIN="0.5")
    sup.wait_ready(count=2)
    code, seconds = sup.stop()
    assert code == 0
    assert 0.4 < seconds < 5
    assert "killing 1 slot(s) that did not stop within the drain timeout: a-id-1" in sup.output()


def test_managers_of_other_groups_get_client_ids_of_their_own(supervise, tmp_path):
    sup = supervise("a/{id}=1", GROUP="eu-west")
    slot = sup.wait_ready(count=1)[0]
    start = next(e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "start")
    assert start["group"] == "eu-west"
    assert slot["slot"] == "eu-west-a-id-0"
    assert slot["client_id"].endswith("-eu-west-a-id-0")
    assert sup.stop()[0] == 0


def test_slots_drain_and_exit_when_the_supervisor_is_killed(supervise, tmp_path):
    """An orphan would keep its client id and fight a new supervisor's slot for the session."""
    sup = supervise("a/{id}=2")
    slots = sup.wait_ready(count=2)
    sup.signal(signal.SIGKILL)
    sup.wait(10)

    def stopped() -> bool:
        events = read_events(tmp_path / "events.jsonl")
        return {e["pid"] for e in events if e["event"] == "stop"} >= {s["pid"] for s in slots}

    wait_for(stopped, 10, "both slots to get SIGTERM and drain")
