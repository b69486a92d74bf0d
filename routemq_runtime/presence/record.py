"""What a supervisor says about itself on the broker, and how peers read it.

Two retained topics per instance (one supervisor, one host, one group):

- ``{ROUTEMQ_PRESENCE_PREFIX}/{instance}/layout``: the client ids of its slots and the filters
  each session is subscribed to. It outlives the instance, so a peer knows what a dead instance
  left behind even if the peer started after the death.
- ``{ROUTEMQ_PRESENCE_PREFIX}/{instance}/state``: ``online`` while its presence connection is
  up; the broker publishes the last will ``offline`` when that connection dies without a
  DISCONNECT (SIGKILL, a dead host, a network cut), and a clean stop says ``offline`` itself.

Both are JSON, so any client (``mosquitto_sub -t 'routemq/presence/#' -v``) can read them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

#: One subscription of a session: the filter as sent (``$share/...`` included) and its QoS.
Filter = tuple[str, int]

LAYOUT = "layout"
STATE = "state"
ONLINE = "online"
OFFLINE = "offline"


def topic(prefix: str, instance: str, kind: str) -> str:
    return f"{prefix.rstrip('/')}/{instance}/{kind}"


def parse_topic(prefix: str, name: str) -> tuple[str, str] | None:
    """``(instance, kind)`` of a presence topic, or None for anything else."""
    head = prefix.rstrip("/") + "/"
    if not name.startswith(head):
        return None
    parts = name[len(head) :].split("/")
    if len(parts) != 2 or parts[1] not in (LAYOUT, STATE):
        return None
    return parts[0], parts[1]


@dataclass(frozen=True)
class Layout:
    """The sessions one instance holds on the broker: client id -> its filters."""

    instance: str
    app: str
    group: str
    clients: dict[str, tuple[Filter, ...]] = field(default_factory=dict)

    def encode(self) -> bytes:
        body = {
            "instance": self.instance,
            "app": self.app,
            "group": self.group,
            "clients": {cid: [list(f) for f in fs] for cid, fs in sorted(self.clients.items())},
            "at": time.time(),
        }
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Layout | None:
        """The layout in ``payload``, or None when it is empty (cleared) or unreadable."""
        body = _json(payload)
        if not isinstance(body, dict) or not isinstance(body.get("clients"), dict):
            return None
        clients = {
            str(cid): tuple((str(f[0]), int(f[1])) for f in filters)
            for cid, filters in body["clients"].items()
        }
        return cls(str(body["instance"]), str(body["app"]), str(body["group"]), clients)

    def without(self, client_id: str) -> Layout:
        rest = {cid: fs for cid, fs in self.clients.items() if cid != client_id}
        return Layout(self.instance, self.app, self.group, rest)

    def related(self, app: str, group: str) -> bool:
        """Sessions of the same app or group: a changed client id, app name or group name
        still leaves the old sessions to the new instances (both changed at once does not)."""
        return self.app == app or self.group == group


def state_payload(state: str) -> bytes:
    return json.dumps({"state": state, "at": time.time()}).encode()


def decode_state(payload: bytes) -> str | None:
    body = _json(payload)
    state = body.get("state") if isinstance(body, dict) else None
    return state if state in (ONLINE, OFFLINE) else None


def _json(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None
