"""``failed:*`` without a broker: listing, showing, forgetting, flushing, and the clear errors
for unknown ids, an empty store, a file that is no store, a read-only storage/ and no broker.
Nothing is removed unless its action succeeded."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from routemq_runtime.failed import FailedMessage, open_store
from tests.cli.conftest import run_routemq
from tests.support.apps import clean_env, write_app
from tests.support.mosquitto import free_port


def failure(n: int, route: str = "jobs/{kind}", age: float = 0.0) -> FailedMessage:
    return FailedMessage(
        failure_id=f"f{n}",
        topic=f"jobs/{n}",
        payload=b"\xff\xfe" + bytes([n]),
        qos=1,
        error_type="ValueError",
        error=f"ValueError: bad {n}",
        attempts=3,
        route=route,
        worker="jobs-0",
        failed_at=time.time() - age,
        traceback="Traceback (most recent call last):\n  ...\nValueError: bad",
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write_app(
        tmp_path / "app", {"main": "from routemq_runtime import Router\nrouter = Router()\n"}
    )


def env() -> dict[str, str]:
    # No broker listens on this port.
    return clean_env(MQTT_BROKER="127.0.0.1", MQTT_PORT=str(free_port()), NO_COLOR="1")


def stored(app: Path, *records: FailedMessage) -> Path:
    path = app / "storage" / "failed.sqlite3"
    with open_store(path) as store:
        for record in records:
            store.add(record)
    return path


def test_list_show_forget_and_flush(app: Path) -> None:
    stored(app, failure(1), failure(2, route="other"), failure(3, age=10 * 86400))
    table = run_routemq("failed:list", cwd=app, env=env())
    assert table.returncode == 0, table.stderr
    assert "ID" in table.stdout and "ValueError: bad 2" in table.stdout
    only = json.loads(
        run_routemq("failed:list", "--json", "--route", "other", cwd=app, env=env()).stdout
    )
    assert [e["id"] for e in only] == [2] and only[0]["payload_encoding"] == "base64"
    recent = json.loads(
        run_routemq("failed:list", "--json", "--since", "1d", cwd=app, env=env()).stdout
    )
    assert [e["id"] for e in recent] == [1, 2]
    shown = run_routemq("failed:show", "1", cwd=app, env=env())
    assert "jobs/1" in shown.stdout and "Traceback" in shown.stdout
    assert run_routemq("failed:forget", "2", cwd=app, env=env()).stdout.startswith("FORGOT 2")
    assert (
        "Flushed 1" in run_routemq("failed:flush", "--older-than", "7d", cwd=app, env=env()).stdout
    )
    left = json.loads(run_routemq("failed:list", "--json", cwd=app, env=env()).stdout)
    assert [e["id"] for e in left] == [1]


def test_unknown_ids_change_nothing(app: Path) -> None:
    stored(app, failure(1))
    for command in ("failed:show", "failed:forget", "failed:retry"):
        result = (
            run_routemq(command, "1", "99", cwd=app, env=env())
            if command != "failed:show"
            else run_routemq(command, "99", cwd=app, env=env())
        )
        assert result.returncode == 1
        assert "no failed message with id 99" in result.stderr
    bad = run_routemq("failed:forget", "abc", cwd=app, env=env())
    assert bad.returncode == 1 and "'abc' is not a failed-message id" in bad.stderr
    assert len(json.loads(run_routemq("failed:list", "--json", cwd=app, env=env()).stdout)) == 1


def test_an_empty_store(app: Path) -> None:
    assert run_routemq("failed:list", cwd=app, env=env()).stdout.strip() == "No failed messages."
    retry = run_routemq("failed:retry", "--all", cwd=app, env=env())
    assert retry.returncode == 1 and "there are no failed messages to retry" in retry.stderr
    assert not (app / "storage").exists()  # reading never creates the store


def test_an_unreachable_broker_keeps_the_entries(app: Path) -> None:
    stored(app, failure(1))
    result = run_routemq("failed:retry", "--all", cwd=app, env=env())
    assert result.returncode == 1 and "cannot reach the broker" in result.stderr
    assert len(json.loads(run_routemq("failed:list", "--json", cwd=app, env=env()).stdout)) == 1


def test_a_file_that_is_no_store(app: Path) -> None:
    path = app / "storage" / "failed.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"not a database at all" * 100)
    result = run_routemq("failed:list", cwd=app, env=env())
    assert result.returncode == 1 and "is not a failed-message store" in result.stderr
    assert path.read_bytes() == b"not a database at all" * 100


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_storage_directory(app: Path) -> None:
    stored(app, failure(1))
    (app / "storage").chmod(0o555)
    try:
        result = run_routemq("failed:forget", "1", cwd=app, env=env())
    finally:
        (app / "storage").chmod(0o755)
    assert result.returncode == 1 and "failed-message store" in result.stderr
    assert len(json.loads(run_routemq("failed:list", "--json", cwd=app, env=env()).stdout)) == 1
