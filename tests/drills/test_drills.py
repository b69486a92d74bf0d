"""Fault drills: QoS 1 streams of numbered messages through a real app on a real mosquitto.

Each drill breaks something mid-stream and then counts, from the handlers' own ledger, what
was completed, dead-lettered, missing and completed twice. Missing must be 0; duplicates are
at-least-once's price and are reported (the numbers go to docs/reliability.md).

Run them: ``python -m pytest -m drill -rA -p no:cacheprovider tests/drills``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from typing import Any

import pytest

from tests.drills.harness import DeadLetters, DrillResult
from tests.support.polling import wait_for

pytestmark = [pytest.mark.drill, pytest.mark.integration]

STREAM = 3000


def _slot(run, index: int) -> dict[str, Any]:
    return next(s for s in run.slots() if s["index"] == index)


def test_sigkill_one_worker_mid_stream(drill_app, publisher, report):
    app = drill_app(3, HANDLER_DELAY="0.002")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    victim = _slot(run, 1)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=3000)
    app.ledger.wait_count(STREAM // 3)
    os.kill(victim["pid"], signal.SIGKILL)
    sender.join(60)
    ids = app.ledger.settle(set(range(STREAM)), 30)
    result = DrillResult.from_ledger("SIGKILL one of 3 workers", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    back = _slot(run, 1)
    assert back["pid"] != victim["pid"] and back["client_id"] == victim["client_id"]
    result.notes.append("restarted with the same client id")
    report(result)
    assert result.missing == 0
    assert run.stop()[0] == 0


def test_sigterm_the_app_mid_stream_then_start_it_again(drill_app, publisher, report):
    app = drill_app(3, HANDLER_DELAY="0.002")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=3000)
    app.ledger.wait_count(STREAM // 3)
    code, drain_seconds = run.stop()
    assert code == 0, run.output()
    handled_before = len(app.ledger.ids())
    sender.join(60)  # the rest is queued in the three sessions meanwhile

    again = app.start()
    again.wait_ready(count=3, timeout=20)
    ids = app.ledger.settle(set(range(STREAM)), 30)
    result = DrillResult.from_ledger("SIGTERM the app, start again", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    result.notes.append(f"{handled_before} done before the stop; drained in {drain_seconds:.2f} s")
    report(result)
    assert handled_before < STREAM, "the stop really happened mid-stream"
    assert result.missing == 0
    assert again.stop()[0] == 0


def test_broker_restart_mid_stream(drill_app, publisher, broker, report):
    # Slower slots, so that the restart finds a backlog queued and in flight.
    app = drill_app(3, HANDLER_DELAY="0.01", WORKER_CONCURRENCY="5")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    started = time.monotonic()
    first, second = range(STREAM // 2), range(STREAM // 2, STREAM)
    publisher.publish(app.topic("jobs/a"), first)
    app.ledger.wait_count(STREAM // 6)
    before = len(app.ledger.ids())
    # SIGTERM: mosquitto saves its sessions and queued messages, and loads them again.
    broker.restart()
    wait_for(lambda: publisher.client.is_connected(), 20, "the publisher to reconnect")
    publisher.publish(app.topic("jobs/a"), second)
    ids = app.ledger.settle(set(range(STREAM)), 40)
    result = DrillResult.from_ledger("restart the broker", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    reconnected = app.output().count("session present: True")
    result.notes.append(
        f"restarted after {before} of the first {len(first)}; "
        f"{reconnected} slot reconnects found their session"
    )
    report(result)
    assert result.missing == 0
    assert reconnected >= 3, app.output()
    assert run.stop()[0] == 0


def test_failing_handler_retries_then_dead_letters(drill_app, publisher, broker, report):
    app = drill_app(
        3,
        FAIL_MOD="100",  # ids ending in 07: 1% of the stream, failing on every attempt
        ROUTEMQ_RETRY_MAX_ATTEMPTS="3",
        ROUTEMQ_RETRY_BASE_DELAY="0.01",
        ROUTEMQ_RETRY_MAX_DELAY="0.05",
    )
    dead = DeadLetters(broker, app.dlq_filter)
    try:
        run = app.start()
        run.wait_ready(count=3, timeout=20)
        started = time.monotonic()
        publisher.publish(app.topic("jobs/a"), range(STREAM))
        failing = {i for i in range(STREAM) if i % 100 == 7}
        wait_for(
            lambda: (
                len(dead.snapshot()) >= len(failing)
                and len(app.ledger.ids()) >= STREAM - len(failing)
            ),
            30,
            "every message completed or dead-lettered",
        )
        time.sleep(0.5)  # anything more would be a duplicate; let it show
        envelopes = dead.snapshot()
    finally:
        dead.close()
    dead_ids = [json.loads(e["payload"])["id"] for e in envelopes]
    ids = app.ledger.ids()
    result = DrillResult.from_ledger(
        "handler raises for 1%", set(range(STREAM)), ids, set(dead_ids)
    )
    result.duplicates += len(dead_ids) - len(set(dead_ids))
    result.seconds = time.monotonic() - started
    result.notes.append(f"{len(failing)} failing ids, each tried 3 times")
    report(result)
    assert set(dead_ids) == failing
    assert not set(ids) & failing
    assert result.completed + result.dead_lettered == STREAM and result.missing == 0
    envelope = envelopes[0]
    assert envelope["attempts"] == 3 and envelope["error_type"] == "RuntimeError"
    assert envelope["topic"] == app.topic("jobs/a") and "drill failure" in envelope["error"]
    assert envelope["_properties"]["routemq-attempts"] == "3"
    out = app.output()
    assert out.count("retrying in") >= 2 * len(failing), "two retries before each dead letter"
    assert run.stop()[0] == 0


def test_bad_payloads_are_handled_or_dead_lettered(drill_app, publisher, broker, report):
    app = drill_app(2, DRILL_HANDLER="payload", ROUTEMQ_RETRY_MAX_ATTEMPTS="2")
    app.env["ROUTEMQ_RETRY_BASE_DELAY"] = "0.01"
    kinds = {
        "json": lambda n: json.dumps({"id": n}).encode(),
        "malformed": lambda n: b'{"id": %d, "oops' % n,
        "binary": lambda n: bytes([0xFF, 0xFE, n % 256]) + b"\x80\x81",
        "empty": lambda n: b"",
        "big": lambda n: json.dumps({"id": n, "blob": "x" * (256 * 1024)}).encode(),
    }
    items, expected = [], {}
    for n in range(1000):
        # Mostly good JSON, with every bad kind mixed into the stream.
        kind = ("malformed", "binary", "empty", "big")[n % 4] if n % 10 == 0 else "json"
        items.append((app.topic(f"payload/{kind}/{n}"), kinds[kind](n)))
        expected[n] = kind
    dead = DeadLetters(broker, app.dlq_filter)
    try:
        run = app.start()
        run.wait_ready(count=2, timeout=20)
        started = time.monotonic()
        publisher.publish_raw(items)
        to_dead = {n for n, k in expected.items() if k in ("malformed", "binary")}
        wait_for(
            lambda: (
                len(dead.snapshot()) >= len(to_dead)
                and len(app.ledger.ids()) >= len(expected) - len(to_dead)
            ),
            30,
            "every payload handled or dead-lettered",
        )
        envelopes = dead.snapshot()
    finally:
        dead.close()
    handled = {int(p[1]): p for p in app.ledger.lines()}
    dead_by_id = {int(e["topic"].rsplit("/", 1)[1]): e for e in envelopes}
    result = DrillResult.from_ledger(
        "malformed / non-UTF-8 / empty / 256 KiB payloads",
        set(expected),
        app.ledger.ids(),
        set(dead_by_id),
    )
    result.seconds = time.monotonic() - started
    result.notes.append("100 bad payloads among 1000; bad bytes dead-lettered intact")
    report(result)
    assert result.missing == 0
    assert set(dead_by_id) == to_dead
    for n, envelope in dead_by_id.items():
        original = items[n][1]
        if envelope["payload_encoding"] == "base64":
            assert base64.b64decode(envelope["payload"]) == original
        else:
            assert envelope["payload"].encode() == original
    assert all(handled[n][3:] == ["bytes", "0"] for n, k in expected.items() if k == "empty")
    assert all(handled[n][4] == str(256 * 1024) for n, k in expected.items() if k == "big")
    assert all(handled[n][3] == "dict" for n, k in expected.items() if k == "json")
    # The slots kept serving: none was restarted.
    assert "restarting in" not in app.output()
    assert run.stop()[0] == 0


def test_supervisor_killed_mid_stream(drill_app, publisher, report):
    """SIGKILL (or the OOM killer) takes the supervisor: its slots drain and exit with it."""
    app = drill_app(3, HANDLER_DELAY="0.002")
    run = app.start()
    slots = run.wait_ready(count=3, timeout=20)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=3000)
    app.ledger.wait_count(STREAM // 3)
    run.signal(signal.SIGKILL)
    run.wait(10)

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie is gone too: it was reparented and waits for its reaper.
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")

    wait_for(lambda: all(gone(s["pid"]) for s in slots), 10, "orphaned slots to exit")
    sender.join(60)
    again = app.start()
    again.wait_ready(count=3, timeout=20)
    ids = app.ledger.settle(set(range(STREAM)), 30)
    result = DrillResult.from_ledger("SIGKILL the supervisor, start again", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    takeovers = again.output().count("connection lost")
    result.notes.append(f"slots exited with it; {takeovers} session takeovers after the restart")
    report(result)
    assert result.missing == 0
    assert takeovers == 0
    assert again.stop()[0] == 0


def test_scale_down_under_load_loses_nothing(drill_app, publisher, report):
    app = drill_app(3, HANDLER_DELAY="0.002")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=2000)
    app.ledger.wait_count(STREAM // 4)
    run.signal(signal.SIGTTOU)
    wait_for(lambda: len(run.slots()) == 2, 20, "the third slot to be drained and removed")
    sender.join(60)
    ids = app.ledger.settle(set(range(STREAM)), 5)
    result = DrillResult.from_ledger("scale down 3 -> 2 (SIGTTOU)", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    result.notes.append("no scale-up afterwards")
    report(result)
    assert "draining slot" in run.output()
    assert result.missing == 0
    assert run.stop()[0] == 0


def test_scale_down_drains_first_and_a_returning_slot_gets_its_messages(
    drill_app, publisher, report
):
    app = drill_app(3, HANDLER_DELAY="0.002")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    removed = _slot(run, 2)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=2000)
    app.ledger.wait_count(STREAM // 4)
    run.signal(signal.SIGTTOU)
    wait_for(lambda: len(run.slots()) == 2, 20, "the third slot to be drained and removed")
    sender.join(60)
    time.sleep(1.0)
    parked = STREAM - len(app.ledger.ids())
    out = run.output()
    assert f"draining slot {removed['slot']}" in out
    assert f"slot {removed['slot']} (pid {removed['pid']}) stopped: exited with code 0" in out

    run.signal(signal.SIGTTIN)  # the slot comes back under its client id
    run.wait_ready(count=3, timeout=20)
    ids = app.ledger.settle(set(range(STREAM)), 30)
    result = DrillResult.from_ledger(
        "scale down 3 -> 2 under load, later back to 3", set(range(STREAM)), ids
    )
    result.seconds = time.monotonic() - started
    result.notes.append(f"{parked} waited in the removed slot's session until it returned")
    report(result)
    assert result.missing == 0
    assert run.stop()[0] == 0


def test_handler_blocking_longer_than_the_keepalive(drill_app, publisher, report):
    # 8 s without a packet is past the broker's limit of 1.5 x the 5 s keep-alive.
    block_ids = {500}
    app = drill_app(
        2,
        DRILL_HANDLER="blocking",
        MQTT_KEEPALIVE="5",
        BLOCK_IDS=",".join(map(str, sorted(block_ids))),
        BLOCK_SECONDS="8",
    )
    run = app.start()
    run.wait_ready(count=2, timeout=20)
    started = time.monotonic()
    publisher.publish(app.topic("jobs/a"), range(1000))
    ids = app.ledger.settle(set(range(1000)), 40)
    result = DrillResult.from_ledger(
        "sync handler blocks 8 s, keep-alive 5 s", set(range(1000)), ids
    )
    result.seconds = time.monotonic() - started
    out = app.output()
    lost = out.count("connection lost")
    result.notes.append(f"{lost} connection losses")
    report(result)
    assert result.missing == 0
    assert lost == 0 and "reconnecting in" not in out, out
    assert result.seconds >= 8, "the handler really blocked"
    assert run.stop()[0] == 0
