"""Log lines carry the worker id, honour the level, can be JSON, and never show the password."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from routemq_runtime.config import Config
from routemq_runtime.log import configure_from_config, configure_logging

pytestmark = pytest.mark.one_transport


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_lines_carry_the_worker_id_and_respect_the_level() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", worker="sensors-device_id-data-2", stream=stream)
    logging.getLogger("routemq.worker").info("not shown")
    logging.getLogger("routemq.worker").warning("slow handler %s", "x")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "WARNING [sensors-device_id-data-2] routemq.worker: slow handler x" in lines[0]


def test_json_lines_and_masked_password() -> None:
    stream = io.StringIO()
    config = Config(mqtt_password="hunter2-secret", log_json=True, log_level="DEBUG")
    configure_from_config(config, worker="w-0", stream=stream)
    try:
        raise RuntimeError("connect failed with hunter2-secret")
    except RuntimeError:
        logging.getLogger("routemq.transport").exception("login as %s", "hunter2-secret")
    entry = json.loads(stream.getvalue().splitlines()[0])
    assert entry["worker"] == "w-0"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "routemq.transport"
    assert entry["message"] == "login as ***"
    assert "hunter2-secret" not in stream.getvalue()


def test_reconfiguring_replaces_the_handler_instead_of_adding_one() -> None:
    stream = io.StringIO()
    configure_logging("INFO", worker="a", stream=stream)
    configure_logging("INFO", worker="b", stream=stream)
    logging.getLogger("routemq").info("once")
    assert stream.getvalue().count("once") == 1
    assert "[b]" in stream.getvalue()
