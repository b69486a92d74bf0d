"""Who is alive, and which sessions nobody will resume: pure bookkeeping over presence records.

A session is *abandoned* when the instance that announced it has been offline for the grace
period, as seen by this process (the will carries no time of death, so the clock starts when the
offline state is first seen; a peer that starts later waits the full grace period again). Of the
live related instances, only the one whose id sorts first retires abandoned sessions, so two
peers do not connect as the same session and take it from each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from routemq_runtime.presence.record import (
    LAYOUT,
    OFFLINE,
    ONLINE,
    Filter,
    Layout,
    decode_state,
)


@dataclass
class _Instance:
    layout: Layout | None = None
    state: str | None = None
    offline_since: float | None = None


@dataclass(frozen=True)
class Abandoned:
    """One session to retire: the instance that left it, its client id and its filters."""

    instance: str
    client_id: str
    filters: tuple[Filter, ...]


class Roster:
    """The instances seen on the presence topics, and the decisions drawn from them."""

    def __init__(self, me: str, app: str, group: str, grace: float) -> None:
        self.me = me
        self.app = app
        self.group = group
        self.grace = grace
        self._instances: dict[str, _Instance] = {}

    def observe(self, instance: str, kind: str, payload: bytes, now: float) -> None:
        entry = self._instances.setdefault(instance, _Instance())
        if kind == LAYOUT:
            entry.layout = Layout.decode(payload)
        else:
            entry.state = decode_state(payload)
        if entry.state == ONLINE:
            entry.offline_since = None
        elif entry.offline_since is None:
            entry.offline_since = now
        if entry.layout is None and entry.state is None:
            del self._instances[instance]

    def layout_of(self, instance: str) -> Layout | None:
        entry = self._instances.get(instance)
        return entry.layout if entry else None

    def online(self) -> list[str]:
        """Live related instances, this one included."""
        live = {
            name
            for name, entry in self._instances.items()
            if entry.state == ONLINE and entry.layout and entry.layout.related(self.app, self.group)
        }
        return sorted(live | {self.me})

    def is_retirer(self) -> bool:
        return self.online()[0] == self.me

    def offline_for(self, instance: str, now: float) -> float:
        entry = self._instances.get(instance)
        if entry is None or entry.state == ONLINE or entry.offline_since is None:
            return 0.0
        return now - entry.offline_since

    def due(self, now: float) -> list[Abandoned]:
        """Sessions of related instances offline for at least the grace period."""
        if not self.is_retirer():
            return []
        found = []
        for name, entry in sorted(self._instances.items()):
            layout = entry.layout
            if name == self.me or layout is None or not layout.related(self.app, self.group):
                continue
            if entry.state == ONLINE or self.offline_for(name, now) < self.grace:
                continue
            found.extend(Abandoned(name, cid, fs) for cid, fs in sorted(layout.clients.items()))
        return found

    def stranded(self, now: float) -> int:
        """Sessions of related offline instances (waiting out the grace period or due)."""
        return sum(
            len(entry.layout.clients)
            for name, entry in self._instances.items()
            if name != self.me
            and entry.layout is not None
            and entry.state != ONLINE
            and entry.layout.related(self.app, self.group)
        )


__all__ = ["OFFLINE", "ONLINE", "Abandoned", "Roster"]
