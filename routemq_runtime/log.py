"""Logging for RouteMQ processes: the worker id on every line, plain text or JSON lines.

``configure_logging`` is called once per process (the supervisor, then each forked worker with its
own slot id). Known secret values (the broker password) are masked in every record, whatever
logged them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(worker_label)s] %(name)s: %(message)s"
_HANDLER_MARK = "_routemq_handler"
_MASK = "***"


class WorkerFilter(logging.Filter):
    """Stamps each record with the process's worker: its slot id (which names the route) and,
    in a worker process, its integer id as ``Worker-{n}`` (the design page's log format)."""

    def __init__(self, worker: str, number: int | None = None) -> None:
        super().__init__()
        self.worker = worker
        self.number = number
        self.label = worker if number is None or number < 0 else f"Worker-{number} {worker}"

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        record.worker_id = self.number
        record.worker_label = self.label
        return True


class MaskingFormatter(logging.Formatter):
    """Masks known secret values in the finished line, tracebacks included."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, _MASK)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, worker, message (and exc when present)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "worker": getattr(record, "worker", None),
            "worker_id": getattr(record, "worker_id", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str | int = "INFO",
    *,
    json_lines: bool = False,
    worker: str = "main",
    worker_number: int | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install (or replace) RouteMQ's handler on the root logger and return it."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    formatter = JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT)
    secrets = tuple(s for s in secrets if s)
    handler.setFormatter(MaskingFormatter(formatter, secrets) if secrets else formatter)
    handler.addFilter(WorkerFilter(worker, worker_number))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # paho logs every packet at DEBUG; keep it quiet unless asked for explicitly.
    logging.getLogger("routemq.paho").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )
    return handler


def configure_from_config(
    config: Any, worker: str, stream: TextIO | None = None, worker_number: int | None = None
) -> None:
    """``configure_logging`` from a :class:`~routemq_runtime.config.Config`."""
    configure_logging(
        config.log_level,
        json_lines=config.log_json,
        worker=worker,
        worker_number=worker_number,
        secrets=[config.mqtt_password] if config.mqtt_password else (),
        stream=stream,
    )
