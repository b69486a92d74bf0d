"""Measure each route's load for auto-scaling: messages, handler time and CPU of its slots.

Messages and handler seconds come from the slots' Prometheus files (multiprocess mode: every
process writes its own, the supervisor reads them all); CPU time comes from ``/proc`` and is
simply not counted where there is none.

Imports prometheus-client: the supervisor imports this module only once it has chosen the
metrics directory (multiprocess mode is fixed when prometheus-client is imported).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from routemq_runtime.metrics import PROCESSING_SECONDS_NAME, RECEIVED_NAME, WORKER_RESTARTS
from routemq_runtime.supervisor.plan import RoutePlan
from routemq_runtime.supervisor.scaling import LoadSample
from routemq_runtime.supervisor.slot import Slot

_RECEIVED = f"{RECEIVED_NAME}_total"
_HANDLER_SECONDS = f"{PROCESSING_SECONDS_NAME}_sum"

try:
    _TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):  # not a POSIX system with /proc
    _TICKS = 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (None when unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (IndexError, ValueError):
        return None


def read_route_totals(metrics_dir: str | os.PathLike[str]) -> dict[str, tuple[float, float]]:
    """``{route pattern: (messages received, handler seconds)}`` summed over every process."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    received: dict[str, float] = defaultdict(float)
    seconds: dict[str, float] = defaultdict(float)
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == _RECEIVED:
                received[sample.labels.get("route", "")] += sample.value
            elif sample.name == _HANDLER_SECONDS:
                seconds[sample.labels.get("route", "")] += sample.value
    return {route: (received[route], seconds[route]) for route in set(received) | set(seconds)}


class LoadSampler:
    """Turns cumulative totals into per-interval :class:`LoadSample` s, one per route."""

    def __init__(self, metrics_dir: str | os.PathLike[str]) -> None:
        self.metrics_dir = metrics_dir
        self._last_time: float | None = None
        self._last_totals: dict[str, tuple[float, float]] = {}
        self._last_cpu: dict[int, float] = {}
        self.rates: dict[str, float] = {}

    def sample(
        self, plans: Mapping[str, RoutePlan], slots: Mapping[str, Slot], now: float
    ) -> dict[str, LoadSample]:
        totals = read_route_totals(self.metrics_dir)
        cpu_now: dict[int, float] = {}
        cpu_by_route: dict[str, float] = defaultdict(float)
        for slot in slots.values():
            if slot.pid is None:
                continue
            used = process_cpu_seconds(slot.pid)
            if used is None:
                continue
            cpu_now[slot.pid] = used
            before = self._last_cpu.get(slot.pid)
            if before is not None:
                cpu_by_route[slot.route_key] += max(0.0, used - before)
        samples: dict[str, LoadSample] = {}
        if self._last_time is not None:
            elapsed = now - self._last_time
            for key, plan in plans.items():
                messages = handler = 0.0
                for pattern in plan.patterns:
                    new = totals.get(pattern, (0.0, 0.0))
                    old = self._last_totals.get(pattern, (0.0, 0.0))
                    messages += max(0.0, new[0] - old[0])
                    handler += max(0.0, new[1] - old[1])
                samples[key] = LoadSample(elapsed, messages, handler, cpu_by_route.get(key, 0.0))
                self.rates[key] = samples[key].rate
        self._last_time = now
        self._last_totals = totals
        self._last_cpu = cpu_now
        return samples


def count_restart(slot_id: str) -> Any:
    """Count a slot restart in the shared metrics (the supervisor's own process file)."""
    WORKER_RESTARTS.labels(slot_id).inc()
