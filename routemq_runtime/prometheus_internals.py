"""The two places where RouteMQ reads prometheus-client's private state, each with a fallback.

- :class:`BatchedHistogram` adds a second's worth of observations to a histogram child at once
  through its ``_buckets`` and ``_sum`` values (what the library's own ``observe`` updates, one
  value at a time); without them it calls ``observe`` per value.
- :func:`multiprocess_mode` reads ``values.ValueClass._multiprocess``; without it the mode is
  unknown (None) and callers skip what depends on it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any


class BatchedHistogram:
    """Bucket counts of one histogram child, added to prometheus-client on flush.

    Observing directly costs a lock and an mmap write per value in multiprocess mode; here it is a
    bisect. Flushing adds the counts to the child's bucket and sum values (prometheus-client's
    own ``observe`` does the same, one value at a time); if a client version lacks those
    attributes, the values are observed one by one instead.
    """

    __slots__ = ("buckets", "child", "counts", "direct", "pending", "total")

    def __init__(self, child: Any, buckets: Sequence[float]) -> None:
        self.child = child
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        values = getattr(child, "_buckets", None)
        self.direct = not (
            isinstance(values, list)
            and len(values) == len(self.counts)
            and hasattr(getattr(child, "_sum", None), "inc")
        )
        self.pending: list[float] = []

    def observe(self, seconds: float) -> None:
        if self.direct:
            self.pending.append(seconds)
            return
        self.counts[bisect_left(self.buckets, seconds)] += 1
        self.total += seconds

    def flush(self) -> None:
        if self.direct:
            for value in self.pending:
                self.child.observe(value)
            self.pending.clear()
            return
        if not any(self.counts):
            return
        self.child._sum.inc(self.total)
        for index, count in enumerate(self.counts):
            if count:
                self.child._buckets[index].inc(count)
                self.counts[index] = 0
        self.total = 0.0


def multiprocess_mode() -> bool | None:
    """Whether prometheus-client (already imported) writes multiprocess files; None if unknown."""
    # Imported here: this module must not be what imports prometheus-client first.
    from prometheus_client import values

    return getattr(values.ValueClass, "_multiprocess", None)
