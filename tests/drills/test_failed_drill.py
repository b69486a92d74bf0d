"""The failed-messages drill: failures kept by the app itself, listed, and retried after a fix.

1000 numbered QoS 1 messages, the handler failing for the ids ending in 07 (1%), and **no**
subscriber to the dead-letter topic anywhere but the app's own keeper. ``failed:list`` must
show exactly those ids; after a broker restart, a fixed handler and ``failed:retry --all``,
every id has been handled exactly once and the store is empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.drills.harness import DrillResult
from tests.support.polling import wait_for

STREAM = 1000
ROUTEMQ = Path(sys.executable).with_name("routemq")


def routemq(app, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**app.env, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(ROUTEMQ), *args], cwd=app.root, env=env, capture_output=True, text=True, timeout=60
    )


def stored_ids(app) -> list[int]:
    listed = routemq(app, "failed:list", "--json")
    assert listed.returncode == 0, listed.stderr
    return sorted(json.loads(entry["payload"])["id"] for entry in json.loads(listed.stdout))


def test_failures_are_kept_listed_and_retried_after_a_fix(drill_app, publisher, broker, report):
    app = drill_app(
        3,
        FAIL_MOD="100",
        ROUTEMQ_RETRY_MAX_ATTEMPTS="2",
        ROUTEMQ_RETRY_BASE_DELAY="0.01",
        ROUTEMQ_RETRY_MAX_DELAY="0.05",
    )
    failing = {i for i in range(STREAM) if i % 100 == 7}
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    started = time.monotonic()
    publisher.publish(app.topic("jobs/a"), range(STREAM))
    store = app.root / "storage" / "failed.sqlite3"
    wait_for(lambda: store.exists(), 30, "the store created on first failure")
    wait_for(lambda: len(stored_ids(app)) >= len(failing), 30, "every failure stored")
    app.ledger.wait_count(STREAM - len(failing))
    assert stored_ids(app) == sorted(failing)
    table = routemq(app, "failed:list")
    assert table.returncode == 0 and "RuntimeError: drill failure for id 7" in table.stdout
    assert run.stop()[0] == 0

    broker.restart()  # between failure and retry: nothing may be lost
    app.env["FAIL_MOD"] = "0"  # the fix
    run = app.start()
    run.wait_ready(count=3, timeout=20)
    retried = routemq(app, "failed:retry", "--all")
    assert retried.returncode == 0, retried.stderr
    ids = app.ledger.wait_ids(set(range(STREAM)), timeout=30)
    time.sleep(1.0)  # a duplicate would show now
    ids = app.ledger.ids()
    assert stored_ids(app) == []
    result = DrillResult.from_ledger("failed: kept, fixed, retried", set(range(STREAM)), ids)
    result.seconds = time.monotonic() - started
    result.notes.append(f"{len(failing)} stored and retried; no external subscriber")
    report(result)
    assert result.missing == 0 and result.duplicates == 0
    assert all(ids[i] == 1 for i in failing)
    assert "failed message" in app.output()
    assert os.path.getsize(store) > 0
