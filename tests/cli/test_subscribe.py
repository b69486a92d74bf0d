"""``routemq subscribe`` as a real subprocess against a real mosquitto, broker from .env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import ROUTEMQ
from tests.cli.test_publish import point_at
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.polling import wait_for
from tests.support.processes import ctrl_c_reaches_it

pytestmark = pytest.mark.integration


class Watch:
    """``routemq subscribe ARGS`` running in ``app_dir``; ready once it says it subscribed."""

    def __init__(self, app_dir: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MQTT_")}
        self.process = subprocess.Popen(
            [str(ROUTEMQ), "subscribe", *args],
            cwd=app_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_it,
        )
        assert self.process.stderr is not None
        self.banner = self.process.stderr.readline()
        assert self.banner.startswith("subscribed to"), self.banner + self.process.stderr.read()

    def finish(self, timeout: float = 10) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for watch in started:
        if watch.process.poll() is None:
            watch.process.kill()
            watch.process.wait()


def publish(broker: Mosquitto, topic: str, payload: bytes) -> None:
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1"]
    subprocess.run([*command, "-t", topic, "-s"], input=payload, check=True, timeout=10)


def test_lines_until_count_then_exit(app_dir, mosquitto, watches) -> None:
    point_at(app_dir, mosquitto.port)
    watches.append(watch := Watch(app_dir, "alerts/#", "sensors/+/data", "--count", "3"))
    assert f"on 127.0.0.1:{mosquitto.port}" in watch.banner
    publish(mosquitto, "alerts/boiler", b'{"temperature":  64}')
    publish(mosquitto, "sensors/raw/data", b"\x00\xff\x01")
    publish(mosquitto, "elsewhere/x", b"not watched")
    publish(mosquitto, "alerts/note", b"plain text")

    code, out, err = watch.finish()

    assert code == 0, err
    lines = [line.split(" ", 1)[1] for line in out.splitlines()]  # without the time
    assert lines == [
        'alerts/boiler {"temperature": 64}',
        "sensors/raw/data <3 bytes: 00 ff 01>",
        "alerts/note plain text",
    ]
    assert err.strip() == "3 messages received"


def test_json_lines_and_shared_filters(app_dir, mosquitto, watches) -> None:
    point_at(app_dir, mosquitto.port, MQTT_PROTOCOL="3.1.1")
    watches.append(
        watch := Watch(app_dir, "$share/watchers/json/#", "--json", "-c", "2", "-q", "1")
    )
    publish(mosquitto, "json/a", b'{"ok": true}')
    publish(mosquitto, "json/b", b"\xfe")

    code, out, _ = watch.finish()

    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert (first["topic"], first["payload"], first["qos"]) == ("json/a", {"ok": True}, 1)
    assert (second["topic"], second["payload_hex"]) == ("json/b", "fe")


def test_ctrl_c_ends_cleanly(app_dir, mosquitto, watches) -> None:
    point_at(app_dir, mosquitto.port)
    watches.append(watch := Watch(app_dir, "alerts/#"))
    publish(mosquitto, "alerts/x", b"1")
    assert watch.process.stdout is not None
    wait_for(lambda: watch.process.stdout.readline(), 10, "the first line")
    watch.process.send_signal(signal.SIGINT)

    code, _, err = watch.finish()

    assert code == 0
    assert "Traceback" not in err and err.strip() == "1 message received"


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("a/#/b", "'#' must be a whole level and the last one"),
        ("a/b#", "'#' must be a whole level and the last one"),
        ("a/+b", "'+' must be a whole level"),
        ("", "an empty topic filter matches nothing"),
        ("$share/g", "needs a filter after the group"),
        ("$share/+/x", "a shared subscription is $share/GROUP/FILTER"),
    ],
)
def test_bad_filters_are_one_line_and_touch_no_broker(
    app_dir, invoke, topic_filter: str, message: str
) -> None:
    point_at(app_dir, 1)  # nothing listens there: a connection attempt would fail differently
    result = invoke("subscribe", "alerts/#", topic_filter)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_an_unreachable_broker_says_what_to_start(app_dir, invoke) -> None:
    port = free_port()
    point_at(app_dir, port)
    result = invoke("subscribe", "alerts/#")
    assert result.exit_code == 1
    assert f"cannot reach the broker at 127.0.0.1:{port}" in result.output
    assert "docker compose up -d mosquitto" in result.output
