"""What one worker slot is: which routes it serves, under which client id, with what limits."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from routemq_runtime.config import Config

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str, fallback: str = "x") -> str:
    """``text`` fit for a client id and a file name: runs of other characters become ``-``."""
    return _UNSAFE.sub("-", text).strip("-") or fallback


def slot_client_id(config: Config, route_key: str, index: int, hostname: str | None = None) -> str:
    """The stable MQTT client id of one slot: ``{prefix}-{host}-{route key}-{index}``.

    A slot restarted after a crash must reconnect under the same id: the broker keeps the messages
    of a dead shared-subscription member in that member's session and gives them to nobody else.
    The prefix is ``MQTT_CLIENT_ID`` when set, else the app name.
    """
    prefix = config.mqtt_client_id or config.app_name
    host = hostname if hostname is not None else socket.gethostname()
    return f"{safe_name(prefix)}-{safe_name(host)}-{safe_name(route_key)}-{int(index)}"


def instance_id(config: Config, hostname: str | None = None) -> str:
    """This supervisor's name on the broker, ``{prefix}-{host}``: the start of its slots' ids."""
    host = hostname if hostname is not None else socket.gethostname()
    return f"{safe_name(config.mqtt_client_id or config.app_name)}-{safe_name(host)}"


@dataclass(frozen=True)
class SlotSpec:
    """One worker slot. ``route_patterns`` name the routes (by pattern) this slot subscribes to:
    one shared route per shared slot, or every non-shared route for the single non-shared slot.
    An ``adopted`` slot subscribes to nothing: its routes are those it may meet in the session."""

    slot_id: str
    index: int
    route_patterns: tuple[str, ...]
    shared: bool
    group: str
    client_id: str
    config: Config
    concurrency: int = 100
    heartbeat_path: Path | None = None
    ready_path: Path | None = None
    #: Filters this client id's session may still hold from an earlier layout (left at connect).
    stale_filters: tuple[str, ...] = ()
    #: A session left behind by a slot that is gone: connect as it, handle what it holds, end it.
    adopted: bool = False
    #: The slot's small integer id (0, 1, 2, ...), the design page's ``worker_id``: logged as
    #: ``Worker-{n}``, keyed by ``WorkerMetrics``; -1 for a slot that only retires a session.
    worker_number: int = -1

    def __post_init__(self) -> None:
        if not self.route_patterns:
            raise ValueError(f"slot {self.slot_id!r} serves no route")
        if self.concurrency < 1:
            raise ValueError(f"slot {self.slot_id!r}: concurrency must be >= 1")
        if self.shared and not self.group:
            raise ValueError(f"slot {self.slot_id!r} is shared but has no group name")
