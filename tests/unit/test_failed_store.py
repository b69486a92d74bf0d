"""The failed-message store and the dead-letter envelope it reads, without a broker."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.config import Config
from routemq_runtime.failed import FailedMessage, StoreError, from_dead_letter, open_store
from routemq_runtime.failed.replay import publish_properties
from routemq_runtime.failed.store import anchored, store_path
from routemq_runtime.worker.dead_letter import envelope


def failed_envelope(payload: bytes, properties: Properties | None = None) -> bytes:
    try:
        raise ValueError("boom")
    except ValueError as error:
        body, _props = envelope(
            topic="jobs/a",
            payload=payload,
            error=error,
            attempts=3,
            route="jobs/{kind}",
            worker="jobs-0",
            qos=1,
            properties=properties,
        )
    return body


def test_an_envelope_round_trips_bytes_properties_and_traceback() -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "x/y"
    props.CorrelationData = b"\x00\xff"
    props.UserProperty = [("k", "v")]
    raw = bytes(range(256)) * 1024  # 256 KiB, not UTF-8
    record = from_dead_letter("dlq/jobs/a", failed_envelope(raw, props), "dlq")
    assert record.payload == raw and record.topic == "jobs/a"
    assert (record.error_type, record.attempts, record.route) == ("ValueError", 3, "jobs/{kind}")
    assert "raise ValueError" in (record.traceback or "")
    again = publish_properties(record.properties)
    assert again is not None and again.ContentType == "x/y"
    assert again.CorrelationData == b"\x00\xff" and again.UserProperty == [("k", "v")]


def test_a_message_that_is_no_envelope_is_kept_as_it_came() -> None:
    record = from_dead_letter("dlq/some/topic", b"\xffnot json", "dlq")
    assert record.topic == "some/topic" and record.payload == b"\xffnot json"
    assert record.error_type == "UnreadableDeadLetter"


def test_a_failure_is_stored_once(tmp_path: Path) -> None:
    raw = failed_envelope(b"{}")
    with open_store(tmp_path / "storage" / "f.sqlite3") as store:
        assert store.add(from_dead_letter("dlq/jobs/a", raw, "dlq")) == 1
        assert store.add(from_dead_letter("dlq/jobs/a", raw, "dlq")) is None
        assert store.counts() == {"jobs/{kind}": 1}
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_retry_that_fails_again_keeps_its_history(tmp_path: Path) -> None:
    with open_store(tmp_path / "f.sqlite3") as store:
        store.add(from_dead_letter("dlq/jobs/a", failed_envelope(b"{}"), "dlq"))
        first = store.get(1)
        assert first is not None
        store.retrying([first])
        store.retried(first)
        store.add(from_dead_letter("dlq/jobs/a", failed_envelope(b"{}"), "dlq"))
        (second,) = store.list()
    assert second.total_attempts == 6 and second.history[0]["failure_id"] == first.failure_id


def test_files_that_are_no_store_are_refused_and_left_alone(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"hello" * 500)
    with pytest.raises(StoreError, match="is not a failed-message store"):
        open_store(junk)
    assert junk.read_bytes() == b"hello" * 500
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE mine (x)").connection.commit()
    with pytest.raises(StoreError, match="not a failed-message store"):
        open_store(other)


def test_several_writers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    open_store(path).close()

    def write(n: int) -> None:
        with open_store(path) as store:
            for i in range(50):
                store.add(
                    FailedMessage(f"{n}-{i}", f"t/{n}", b"x", 1, "E", "E: x", 1, route=f"r{n}")
                )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open_store(path) as store:
        assert store.counts() == {f"r{n}": 50 for n in range(4)}


def test_the_store_lives_in_the_app_directory(tmp_path: Path) -> None:
    config = anchored(Config.from_env(env_file=None, environ={}), tmp_path)
    assert store_path(config) == tmp_path.resolve() / "storage" / "failed.sqlite3"
    none = Config.from_env(env_file=None, environ={"ROUTEMQ_FAILED_STORE": "none"})
    assert store_path(none) is None
