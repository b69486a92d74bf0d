"""End-to-end latency: a paced publisher, and what the harness computes from the peers' records.

The publisher stamps each message with ``time.monotonic()`` when it hands it to paho (``"t"`` in
the JSON payload); a peer records ``time.monotonic() - t`` when its handler starts. On Linux the
monotonic clock is one system-wide clock, so both ends read the same clock. Warm-up messages
carry ``"w": 1`` and are not recorded: they only tell the harness that every worker is connected.

Everything but :class:`PacedPublisher` is plain Python, so that it is unit-tested without a
broker; the publisher imports paho when it is built.
"""

from __future__ import annotations

import json
import math
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

QUANTILES = (("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999))
DEVICES = 100


def payload(device: int, sent: float, seq: int, warmup: bool = False) -> bytes:
    """A ~100-byte JSON reading stamped with its send time (monotonic seconds)."""
    body = {"device_id": f"dev-{device:03d}", "t": sent, "seq": seq, "temp": 21.5, "hum": 40}
    if warmup:
        body["w"] = 1
    return json.dumps(body, separators=(",", ":")).encode()


def due(rate: float, elapsed: float, sent: int) -> int:
    """How many messages to send now so that ``sent`` keeps up with ``rate`` after ``elapsed`` s.

    Message ``i`` is due at ``i / rate``: message 0 at once, then evenly spaced.
    """
    if elapsed < 0:
        return 0
    return max(0, math.floor(elapsed * rate) + 1 - sent)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of an ascending sequence (no interpolation)."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(latencies: Sequence[float], sent: int) -> dict[str, Any]:
    """Percentiles of publish → handler start over every message sent, in milliseconds.

    A message that was sent but not handled within the run counts as slower than every handled
    one: when they reach into a quantile, that quantile is only known to exceed the slowest
    handled message, and is reported as ``{"over": max}``.
    """
    ordered = sorted(latencies)
    handled = len(ordered)
    sent = max(sent, handled)
    out: dict[str, Any] = {"sent": sent, "handled": handled}
    if not handled:
        return {**out, "error": "no message handled"}
    slowest = ordered[-1] * 1000
    for name, q in QUANTILES:
        rank = max(1, math.ceil(q * sent))
        out[name] = ordered[rank - 1] * 1000 if rank <= handled else {"over": slowest}
    out["max"] = slowest if handled == sent else {"over": slowest}
    out["mean"] = sum(ordered) / handled * 1000
    return out


def cdf_points(latencies: Sequence[float], points: int = 200) -> list[list[float]]:
    """``[ms, fraction]`` pairs of the empirical CDF, thinned to about ``points`` (log-spaced
    in the tail, so that the p99.9 region keeps its shape)."""
    ordered = sorted(latencies)
    n = len(ordered)
    if not n:
        return []
    ranks: set[int] = set()
    half = points // 2
    for i in range(half):  # evenly over the body
        ranks.add(int(i * n / half))
    for i in range(half):  # and log-spaced towards the slowest
        tail = 10 ** (-4 * i / half)  # 1 .. 1e-4 of the messages left
        ranks.add(min(n - 1, int(n * (1 - tail))))
    ranks.add(n - 1)
    return [[ordered[r] * 1000, (r + 1) / n] for r in sorted(ranks)]


def write_latencies(path: str | Path, values: Sequence[float]) -> None:
    with open(path, "wb") as handle:
        array("d", values).tofile(handle)


def read_latencies(path: str | Path) -> list[float]:
    data = Path(path).read_bytes()
    values = array("d")
    values.frombytes(data[: len(data) - len(data) % values.itemsize])
    return values.tolist()


def fmt_ms(value: Any) -> str:
    """A quantile as the report prints it: ``1.23``, ``45.6``, ``> 5,000``."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        return f"> {fmt_ms(value['over'])}"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def value_ms(value: Any) -> float | None:
    """A quantile as a number (a lower bound when only that is known), for ratios and plots."""
    if value is None:
        return None
    if isinstance(value, dict):
        return float(value["over"])
    return float(value)


class PacedPublisher:
    """One QoS 1 paho client publishing stamped readings at a fixed rate from this thread."""

    def __init__(self, host: str, port: int, topic: str, qos: int = 1) -> None:
        import paho.mqtt.client as mqtt

        self.qos = qos
        self.topics = [topic.format(device=i) for i in range(DEVICES)]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.acked = 0
        self.seq = 0

        def on_publish(*args: Any) -> None:
            self.acked += 1

        self.client.on_publish = on_publish
        self.client.connect(host, port)
        self.client.loop(0.1)

    def _send(self, warmup: bool) -> None:
        device = self.seq % DEVICES
        body = payload(device, time.monotonic(), self.seq, warmup)
        self.client.publish(self.topics[device], body, qos=self.qos)
        self.seq += 1

    def warm_up(self, until: Callable[[], bool], rate: float = 200.0, timeout: float = 60.0) -> int:
        """Send warm-up messages at ``rate`` until ``until()`` is true; returns how many."""
        started = time.monotonic()
        sent = 0
        while not until():
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise TimeoutError(f"not every worker took a message within {timeout:.0f} s")
            for _ in range(due(rate, elapsed, sent)):
                self._send(warmup=True)
                sent += 1
            self.client.loop(0.005)
        return sent

    def run(self, rate: float, seconds: float) -> dict[str, float]:
        """Publish ``rate`` messages per second for ``seconds``; the rate actually reached."""
        count = int(rate * seconds)
        started = time.monotonic()
        sent = 0
        while sent < count:
            elapsed = time.monotonic() - started
            n = min(due(rate, elapsed, sent), count - sent)
            for _ in range(n):
                self._send(warmup=False)
            sent += n
            # PUBACKs are read between batches; sleep only when nothing is due.
            self.client.loop(0 if n else min(0.001, max(0.0, (sent / rate) - elapsed)))
        elapsed = time.monotonic() - started
        return {"sent": sent, "seconds": elapsed, "rate": sent / elapsed if elapsed else 0.0}

    def close(self) -> None:
        deadline = time.monotonic() + 10
        while self.acked < self.seq and time.monotonic() < deadline:
            self.client.loop(0.01)
        self.client.disconnect()
