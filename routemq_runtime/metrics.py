"""Prometheus metrics of the workers, per route pattern and worker slot.

Labels are the route *pattern* (never the concrete topic, which would grow without bound) and the
slot id. In a supervised app every worker process writes its samples to ``PROMETHEUS_MULTIPROC_DIR``
(set by the supervisor before it forks) and the supervisor's ``/metrics`` aggregates them.

This module imports prometheus-client at import time; nothing imports it from
``import routemq_runtime``, only the worker and the supervisor when they run.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from routemq_runtime.prometheus_internals import BatchedHistogram

UNROUTED = "<unrouted>"
_MULTIPROCESS_AT_IMPORT = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Handler times from sub-millisecond (a cache write) to a minute (a slow remote call).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Names that readers of the samples (auto-scaling, get_worker_stats) look for; a counter's
# samples carry "_total", a histogram's "_sum" and "_count".
RECEIVED_NAME = "routemq_messages_received"
PROCESSED_NAME = "routemq_messages_processed"
PROCESSING_SECONDS_NAME = "routemq_processing_seconds"
HANDLER_ERRORS_NAME = "routemq_handler_errors"

MESSAGES_RECEIVED = Counter(
    RECEIVED_NAME,
    "Messages received by a worker slot.",
    ["route", "worker"],
)
MESSAGES_PROCESSED = Counter(
    PROCESSED_NAME,
    "Messages finished by a worker slot, by outcome (ok, dead_lettered).",
    ["route", "worker", "outcome"],
)
PROCESSING_SECONDS = Histogram(
    PROCESSING_SECONDS_NAME,
    "Time spent in middleware and handler, per attempt.",
    ["route", "worker"],
    buckets=BUCKETS,
)
HANDLER_RETRIES = Counter(
    "routemq_handler_retries",
    "Handler attempts that failed and were retried.",
    ["route", "worker"],
)
HANDLER_ERRORS = Counter(
    HANDLER_ERRORS_NAME,
    "Handler attempts that raised, by exception type.",
    ["route", "worker", "error_type"],
)
DEAD_LETTERED = Counter(
    "routemq_messages_dead_lettered",
    "Messages published to the dead-letter topic, by reason (handler_error, no_route).",
    ["route", "worker", "reason"],
)
HANDLER_BUSY_SECONDS = Counter(
    "routemq_handler_busy_seconds",
    "Wall time with at least one handler running in a slot (for scaling decisions).",
    ["worker"],
)
RECONNECTS = Counter(
    "routemq_reconnects",
    "Broker reconnections of a worker slot.",
    ["worker"],
)
WORKER_RESTARTS = Counter(
    "routemq_worker_restarts",
    "Worker slots restarted by the supervisor after they died.",
    ["worker"],
)


WORKER_ID_NAME = "routemq_worker_id"
#: Which integer worker id (the design page's ``worker_id``) a slot has, so that
#: ``WorkerMetrics`` can answer for ``0, 1, 2``; "max" keeps a dead process's value.
WORKER_IDS = Gauge(
    WORKER_ID_NAME,
    "The integer worker id of a worker slot.",
    ["worker"],
    multiprocess_mode="max",
)


def _families(registry: CollectorRegistry | None) -> list:
    """Every metric family to read: the workers' files, and this process's own samples when
    it loaded prometheus-client before the metrics dir was chosen (they are not in the files)."""
    if registry is not None:
        return list(registry.collect())
    families = list(collecting_registry().collect())
    if multiprocess_enabled() and not _MULTIPROCESS_AT_IMPORT:
        families += list(REGISTRY.collect())
    return families


#: Failed messages in the app's store, per route (``routemq failed:list``); read at scrape time.
FAILED_STORED_NAME = "routemq_failed_messages"


class FailedMessagesCollector:
    """The stored-failures gauge: the store is the truth, so it is read on each scrape."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Any]:
        gauge = GaugeMetricFamily(
            FAILED_STORED_NAME,
            "Failed messages kept in the app's store (routemq failed:list), per route.",
            labels=["route"],
        )
        for route, count in sorted(self.counts.items()):
            gauge.add_metric([route], count)
        yield gauge


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def collecting_registry() -> CollectorRegistry:
    """The registry to expose: all worker processes aggregated in multiprocess mode, else this
    process's default registry."""
    if not multiprocess_enabled():
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


class SlotMetrics:
    """The hot-path side of one slot's metrics.

    Counts are kept in plain integers and handed to prometheus-client by :meth:`flush` (called
    every second by the slot), which keeps the per-message cost to a few dict updates.
    """

    def __init__(self, worker: str, number: int | None = None) -> None:
        self.worker = worker
        if number is not None and number >= 0:
            WORKER_IDS.labels(worker).set(number)
        self._received: dict[str, int] = defaultdict(int)
        # The "ok" outcome, by far the most common, keyed by route alone: no tuple per message.
        self._ok: dict[str, int] = defaultdict(int)
        self._processed: dict[tuple[str, str], int] = defaultdict(int)
        self._retries: dict[str, int] = defaultdict(int)
        self._errors: dict[tuple[str, str], int] = defaultdict(int)
        self._dead: dict[tuple[str, str], int] = defaultdict(int)
        self._busy = 0.0
        self._reconnects = 0
        self._histograms: dict[str, BatchedHistogram] = {}

    def received(self, route: str) -> None:
        self._received[route] += 1

    def processed(self, route: str, outcome: str) -> None:
        if outcome == "ok":
            self._ok[route] += 1
        else:
            self._processed[(route, outcome)] += 1

    def observe(self, route: str, seconds: float) -> None:
        histogram = self._histograms.get(route)
        if histogram is None:
            child = PROCESSING_SECONDS.labels(route, self.worker)
            histogram = self._histograms[route] = BatchedHistogram(child, BUCKETS)
        histogram.observe(seconds)

    def retried(self, route: str) -> None:
        self._retries[route] += 1

    def error(self, route: str, error_type: str) -> None:
        self._errors[(route, error_type)] += 1

    def dead_lettered(self, route: str, reason: str) -> None:
        self._dead[(route, reason)] += 1

    def busy(self, seconds: float) -> None:
        self._busy += seconds

    def reconnected(self) -> None:
        self._reconnects += 1

    def flush(self) -> None:
        worker = self.worker
        for route, n in self._received.items():
            MESSAGES_RECEIVED.labels(route, worker).inc(n)
        for route, n in self._ok.items():
            MESSAGES_PROCESSED.labels(route, worker, "ok").inc(n)
        for (route, outcome), n in self._processed.items():
            MESSAGES_PROCESSED.labels(route, worker, outcome).inc(n)
        for route, n in self._retries.items():
            HANDLER_RETRIES.labels(route, worker).inc(n)
        for (route, error_type), n in self._errors.items():
            HANDLER_ERRORS.labels(route, worker, error_type).inc(n)
        for (route, reason), n in self._dead.items():
            DEAD_LETTERED.labels(route, worker, reason).inc(n)
        if self._busy:
            HANDLER_BUSY_SECONDS.labels(worker).inc(self._busy)
        if self._reconnects:
            RECONNECTS.labels(worker).inc(self._reconnects)
        for histogram in self._histograms.values():
            histogram.flush()
        self._received.clear()
        self._ok.clear()
        self._processed.clear()
        self._retries.clear()
        self._errors.clear()
        self._dead.clear()
        self._busy = 0.0
        self._reconnects = 0


def _numbers(families: list) -> dict[str, int]:
    """Slot id -> integer worker id, from every worker process's samples."""
    return {
        sample.labels["worker"]: int(sample.value)
        for family in families
        for sample in family.samples
        if sample.name == WORKER_ID_NAME
    }


def _worker_key(label: str, numbers: dict[str, int]) -> int | str:
    if label in numbers:
        return numbers[label]
    return int(label) if label.isdigit() else label


class WorkerMetrics:
    """Per-worker statistics with the design page's API: ``record_*``, ``get_worker_stats``,
    ``message_counts``, ``error_counts``, ``processing_times``.

    Backed by the Prometheus metrics above, so in a supervised app it sees what every worker
    process recorded (multiprocess mode), keyed by integer worker id (``0, 1, 2``; a slot id
    works too). ``processing_times`` lists the times recorded through this object only: the
    workers keep histograms, whose averages ``get_worker_stats`` reports.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._registry = registry
        self._times: dict[int | str, list[float]] = {}

    def _collect(self) -> list:
        return _families(self._registry)

    def record_message_processed(self, worker_id: int | str, processing_time: float) -> None:
        worker = str(worker_id)
        MESSAGES_PROCESSED.labels(UNROUTED, worker, "ok").inc()
        PROCESSING_SECONDS.labels(UNROUTED, worker).observe(processing_time)
        self._times.setdefault(worker_id, []).append(processing_time)

    def record_error(self, worker_id: int | str, error_type: str) -> None:
        HANDLER_ERRORS.labels(UNROUTED, str(worker_id), error_type).inc()

    def _per_worker(self, name: str, **labels: str) -> dict[int | str, float]:
        families = self._collect()
        numbers = _numbers(families)
        totals: dict[int | str, float] = defaultdict(float)
        for family in families:
            for sample in family.samples:
                if sample.name != name or "worker" not in sample.labels:
                    continue
                if all(sample.labels.get(k) == v for k, v in labels.items()):
                    totals[_worker_key(sample.labels["worker"], numbers)] += sample.value
        return totals

    @property
    def message_counts(self) -> dict[int | str, int]:
        """Messages handled successfully, per worker id."""
        totals = self._per_worker(f"{PROCESSED_NAME}_total", outcome="ok")
        return {k: int(v) for k, v in sorted(totals.items(), key=lambda kv: str(kv[0]))}

    @property
    def error_counts(self) -> dict[str, int]:
        """Handler errors per ``"{worker_id}:{error_type}"``."""
        families = self._collect()
        numbers = _numbers(families)
        counts: dict[str, int] = defaultdict(int)
        for family in families:
            for sample in family.samples:
                if sample.name == f"{HANDLER_ERRORS_NAME}_total":
                    worker = _worker_key(sample.labels["worker"], numbers)
                    counts[f"{worker}:{sample.labels['error_type']}"] += int(sample.value)
        return dict(counts)

    @property
    def processing_times(self) -> dict[int | str, list[float]]:
        return self._times

    def get_worker_stats(self, worker_id: int | str) -> dict[str, float]:
        """``{'messages_processed', 'avg_processing_time', 'error_count'}`` for one worker
        (an integer worker id or a slot id), summed over its routes."""
        key = _worker_key(str(worker_id), {})
        processed = self._per_worker(f"{PROCESSED_NAME}_total", outcome="ok")
        count = self._per_worker(f"{PROCESSING_SECONDS_NAME}_count")
        seconds = self._per_worker(f"{PROCESSING_SECONDS_NAME}_sum")
        errors = self._per_worker(f"{HANDLER_ERRORS_NAME}_total")
        if key not in processed and key not in errors and key not in count:
            # A slot id: the totals above are keyed by integer id when the slot has one.
            numbers = _numbers(self._collect())
            key = numbers.get(str(worker_id), key)
        return {
            "messages_processed": int(processed.get(key, 0)),
            "avg_processing_time": seconds.get(key, 0) / count[key] if count.get(key) else 0,
            "error_count": int(errors.get(key, 0)),
        }
