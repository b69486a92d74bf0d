"""Failed messages kept by the app itself (no subscriber of ours on the dead-letter topic),
with their bytes, properties, error and traceback; counted on /metrics and /readyz; retried
with their properties; a retry that fails again comes back with its history."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.failed import open_store
from tests.support.apps import RecordingApp
from tests.support.observer import Observer
from tests.support.polling import wait_for
from tests.support.supervised import http_get

ROUTEMQ = Path(sys.executable).with_name("routemq")
ROUTER = textwrap.dedent(
    """
    import os

    from routemq_runtime import Router

    OUT = os.environ["RECORD_DIR"]
    router = Router()


    async def job(kind, message, context):
        if not os.path.exists(os.path.join(OUT, "fixed")):
            raise ValueError(f"cannot do {kind} yet")
        with open(os.path.join(OUT, "done.log"), "a") as done:
            done.write(f"{context.worker_id} {kind} {len(message.payload)}\\n")


    router.on(os.environ["TOPIC_PREFIX"] + "/jobs/{kind}", job, shared=True, qos=1)
    """
)


def routemq(app: RecordingApp, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**app.env, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(ROUTEMQ), *args], cwd=app.root, env=env, capture_output=True, text=True, timeout=60
    )


def listed(app: RecordingApp) -> list[dict]:
    result = routemq(app, "failed:list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_failures_are_kept_counted_and_retried_with_their_properties(tmp_path, mosquitto):
    app = RecordingApp(
        tmp_path / "app",
        mosquitto,
        ROUTER,
        ROUTEMQ_RETRY_MAX_ATTEMPTS="2",
        ROUTEMQ_RETRY_BASE_DELAY="0.01",
        ROUTEMQ_RETRY_MAX_DELAY="0.02",
    )
    big, binary = b"x" * (256 * 1024), bytes(range(256)) * 3
    observer = Observer(mosquitto, prefix="failed-test")
    try:
        run = app.start()
        run.wait_ready(timeout=20)
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/octet-stream"
        props.CorrelationData = b"\x00\xffcorr"
        props.UserProperty = [("tenant", "acme")]
        send = observer.client.publish
        send(app.topic("jobs/plain"), b'{"n": 1}', qos=1).wait_for_publish(5)
        send(app.topic("jobs/big"), big, qos=1).wait_for_publish(5)
        send(app.topic("jobs/binary"), binary, qos=1, properties=props).wait_for_publish(5)
        wait_for(lambda: len(listed(app)) == 3, 30, "three failures stored")

        with open_store(app.root / "storage" / "failed.sqlite3") as store:
            by_topic = {r.topic.rsplit("/", 1)[1]: r for r in store.list()}
        assert by_topic["big"].payload == big and by_topic["binary"].payload == binary
        kept = by_topic["binary"]
        assert kept.properties["ContentType"] == "application/octet-stream"
        assert kept.properties["UserProperty"] == [["tenant", "acme"]]
        assert (kept.error_type, kept.attempts, kept.qos) == ("ValueError", 2, 1)
        assert kept.route == f"{app.prefix}/jobs/{{kind}}" and kept.worker
        assert "cannot do binary yet" in (kept.traceback or "")

        _status, body = http_get(run.port, "/readyz")
        assert json.loads(body)["failed_messages"] == {kept.route: 3}
        _status, metrics = http_get(run.port, "/metrics")
        assert f'routemq_failed_messages{{route="{kept.route}"}} 3.0' in metrics.decode()

        # Still broken: the retry fails again and comes back with its history.
        assert routemq(app, "failed:retry", str(kept.id)).returncode == 0
        wait_for(
            lambda: len(listed(app)) == 3 and kept.id not in {e["id"] for e in listed(app)},
            30,
            "the retry failed again",
        )
        again = next(e for e in listed(app) if e["topic"].endswith("/binary"))
        assert again["total_attempts"] == 4 and len(again["history"]) == 1
        assert again["history"][0]["failure_id"] == kept.failure_id

        # Fixed: every one handled, with the original properties; the store empty.
        (app.ledger.directory / "fixed").write_text("")
        observer.subscribe(app.topic("jobs/binary"))
        result = routemq(app, "failed:retry", "--all")
        assert result.returncode == 0, result.stderr
        done = app.ledger.directory / "done.log"
        wait_for(lambda: done.exists() and len(done.read_text().splitlines()) == 3, 30, "handled")
        assert listed(app) == []
        resent = observer.wait_for(lambda m: m.topic.endswith("/binary"))[0]
        assert resent.payload == binary
        assert resent.properties.ContentType == "application/octet-stream"
        assert resent.properties.CorrelationData == b"\x00\xffcorr"
        assert ("tenant", "acme") in resent.properties.UserProperty
        assert run.stop()[0] == 0
    finally:
        observer.close()
        app.cleanup()


@pytest.mark.one_transport
def test_a_store_that_cannot_be_written_loses_nothing(tmp_path, mosquitto):
    app = RecordingApp(tmp_path / "app", mosquitto, ROUTER, ROUTEMQ_RETRY_MAX_ATTEMPTS="1")
    junk = app.root / "storage" / "failed.sqlite3"
    junk.parent.mkdir()
    junk.write_bytes(b"my notes\n" * 100)
    observer = Observer(mosquitto, prefix="failed-junk")
    try:
        run = app.start()
        run.wait_ready(timeout=20)
        observer.publish(app.topic("jobs/kept"), b"\xfe\xff")
        wait_for(lambda: "failed messages are not being stored" in run.output(), 20, "the error")
        assert "is not a failed-message store" in run.output()
        assert run.stop()[0] == 0
        assert junk.read_bytes() == b"my notes\n" * 100  # left as it was

        junk.rename(junk.with_suffix(".mine"))  # the operator moves it away
        run = app.start()
        run.wait_ready(timeout=20)
        wait_for(lambda: len(listed(app)) == 1, 20, "the waiting dead letter stored")
        assert listed(app)[0]["payload_encoding"] == "base64"
        assert run.stop()[0] == 0
    finally:
        observer.close()
        app.cleanup()
