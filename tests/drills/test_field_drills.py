"""Field drills: identities and layouts change between runs, hosts die, brokers pause.

Every drill publishes numbered QoS 1 messages and counts them from the handlers' ledgers, as
the drills in ``test_drills.py`` do. What they prove: no message waits for a session that no
live process will resume (a live member of the app retires it), a worker that comes back within
``ROUTEMQ_RETIRE_GRACE`` keeps its session, and a resumed session holds only current filters.
Grace periods are short here (seconds) so that each drill takes seconds.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.drills.harness import DrillResult
from tests.support.polling import wait_for

pytestmark = [pytest.mark.drill, pytest.mark.integration]

STREAM = 3000
ALL = set(range(STREAM))
GRACE = "2"


def _finish(app, name, started, report, published=ALL, timeout=30.0, **notes):
    ids = app.ledger.settle(published, timeout)
    result = DrillResult.from_ledger(name, published, ids)
    result.seconds = time.monotonic() - started
    result.notes.extend(f"{k.replace('_', ' ')}: {v}" for k, v in notes.items())
    report(result)
    assert result.missing == 0, app.output()
    return result


def test_redeploy_with_fewer_workers(drill_app, publisher, report):
    app = drill_app(3, HANDLER_DELAY="0.001")
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    assert run.stop()[0] == 0
    publisher.publish(app.topic("jobs/a"), range(STREAM))  # a third waits in each session
    started = time.monotonic()
    again = app.start("--num-workers", "2")
    again.wait_ready(count=2, timeout=20)
    result = _finish(app, "redeploy 3 -> 2 workers, stream sent while down", started, report)
    assert "retiring session" in again.output()
    assert again.stop()[0] == 0
    assert result.duplicates == 0


def test_identity_change_between_runs(drill_app, publisher, report):
    app = drill_app(2, HANDLER_DELAY="0.001", ROUTEMQ_RETIRE_GRACE=GRACE, MQTT_CLIENT_ID="old")
    run = app.start()
    run.wait_ready(count=2, timeout=20)
    assert run.stop()[0] == 0
    publisher.publish(app.topic("jobs/a"), range(STREAM))
    started = time.monotonic()
    app.env["MQTT_CLIENT_ID"] = "new"  # a new pod name, a new MQTT_CLIENT_ID
    again = app.start()
    again.wait_ready(count=2, timeout=20)
    _finish(app, "client id changed between runs, stream sent while down", started, report)
    assert "left by old-" in again.output()
    assert again.stop()[0] == 0


def _two_hosts(drill_app, **env):
    """Two supervisors of one app and group under two identities (two hosts, two pods)."""
    app = drill_app(2, HANDLER_DELAY="0.002", **env)
    app.env["MQTT_CLIENT_ID"] = f"hosta{app.prefix}"
    first = app.start()
    first.wait_ready(count=2, timeout=20)
    app.env["MQTT_CLIENT_ID"] = f"hostb{app.prefix}"
    second = app.start()
    second.wait_ready(count=2, timeout=20)
    app.env["MQTT_CLIENT_ID"] = f"hosta{app.prefix}"
    return app, first, second


def test_a_host_dies_and_stays_dead(drill_app, publisher, report):
    app, first, second = _two_hosts(drill_app, ROUTEMQ_RETIRE_GRACE=GRACE)
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=3000)
    app.ledger.wait_count(STREAM // 4)
    os.killpg(first.pid, signal.SIGKILL)  # the supervisor and its workers, no drain
    first.wait(10)
    sender.join(60)
    _finish(app, "second host SIGKILLed, never back", started, report, grace=GRACE)
    assert f"left by hosta{app.prefix}-" in second.output()
    assert second.stop()[0] == 0


def test_same_identity_back_within_the_grace_period(drill_app, publisher, report):
    app, first, second = _two_hosts(drill_app, ROUTEMQ_RETIRE_GRACE="30")
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=3000)
    app.ledger.wait_count(STREAM // 4)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    again = app.start()  # hosta again: the same client ids get their sessions back
    again.wait_ready(count=2, timeout=20)
    sender.join(60)
    _finish(app, "host SIGKILLed, back under its identity within the grace period", started, report)
    assert "retiring session" not in second.output()
    assert again.stop()[0] == 0 and second.stop()[0] == 0


def test_supervisor_paused_shorter_than_the_grace_period(drill_app, publisher, report):
    # Keep-alive 5 s: the paused presence connection's will fires after 7.5 s; grace 12 s.
    app, first, second = _two_hosts(drill_app, ROUTEMQ_RETIRE_GRACE="12", MQTT_KEEPALIVE="5")
    started = time.monotonic()
    sender = publisher.in_background(app.topic("jobs/a"), range(STREAM), per_second=1000)
    app.ledger.wait_count(STREAM // 6)
    os.killpg(first.pid, signal.SIGSTOP)
    time.sleep(9)
    os.killpg(first.pid, signal.SIGCONT)
    sender.join(60)
    _finish(app, "supervisor SIGSTOPped 9 s (grace 12 s)", started, report, timeout=40)
    out = second.output()
    assert "retiring session" not in out
    # Its own connections may have timed out (keep-alive) while paused; none was taken over.
    assert "taken over" not in first.output().lower(), "no session takeover"
    assert first.stop()[0] == 0 and second.stop()[0] == 0


def test_leftover_qos0_members_are_retired(drill_app, publisher, report):
    app = drill_app(4, DRILL_QOS="0", ROUTEMQ_RETIRE_GRACE=GRACE, MQTT_CLIENT_ID="qos0")
    run = app.start()
    run.wait_ready(count=4, timeout=20)
    assert run.stop()[0] == 0
    started = time.monotonic()
    app.env.update(DRILL_QOS="1", DRILL_WORKERS="2", MQTT_CLIENT_ID="qos1")
    again = app.start()
    again.wait_ready(count=2, timeout=20)
    wait_for(lambda: again.output().count("retired:") >= 4, 30, "4 QoS 0 sessions retired")
    retired_after = time.monotonic() - started
    publisher.publish(app.topic("jobs/a"), range(STREAM))
    _finish(
        app,
        "4 leftover QoS 0 members of an earlier run",
        started,
        report,
        retired_after=f"{retired_after:.1f} s",
    )
    assert again.stop()[0] == 0


@pytest.mark.parametrize(
    ("name", "change"),
    [("group name", {"MQTT_GROUP_NAME": "renamed"}), ("route pattern", {"DRILL_PARAM": "sort"})],
)
def test_layout_change_between_runs_handles_each_message_once(
    drill_app, publisher, report, name, change
):
    app = drill_app(2, HANDLER_DELAY="0.001")
    run = app.start()
    run.wait_ready(count=2, timeout=20)
    assert run.stop()[0] == 0
    half = STREAM // 2
    publisher.publish(app.topic("jobs/a"), range(half))  # waits in the old filters' sessions
    started = time.monotonic()
    app.env.update(change)
    again = app.start()
    again.wait_ready(count=2, timeout=20)
    publisher.publish(app.topic("jobs/a"), range(half, STREAM))
    result = _finish(app, f"{name} changed between runs", started, report)
    time.sleep(0.5)  # a second delivery would show now
    assert sum(app.ledger.ids().values()) == STREAM, "every message handled once"
    assert result.duplicates == 0
    assert again.stop()[0] == 0
