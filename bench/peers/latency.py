"""End-to-end latency: a paced publisher, and what the harness computes from the peers' records.

The publisher stamps each message with ``time.monotonic()`` when it hands it to paho (``"t"`` in
the JSON payload); a peer records ``time.monotonic() - t`` when its handler starts. On Linux the
monotonic clock is one system-wide clock, so both ends read the same clock. Warm-up messages
carry ``"w": 1`` and are not recorded: they only tell the harness that every worker is connected.

Everything is plain Python (no paho), so that it imports in every peer's environment and is
unit-tested without a broker.
"""

from __future__ import annotations

import contextlib
import math
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

QUANTILES = (("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999))
DEVICES = 100
TICK = 0.001  # seconds between the publisher's writes


_BODY = b'{"device_id":"dev-%03d","t":%.6f,"seq":%d,"temp":21.5,"hum":40,"site":"plant-7"%s}'


def payload(device: int, sent: float, seq: int, warmup: bool = False) -> bytes:
    """A ~100-byte JSON reading stamped with its send time (monotonic seconds)."""
    return _BODY % (device, sent, seq, b',"w":1' if warmup else b"")


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


def combine_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one case at one rate: each quantile is the median run's (the lower of the
    two middle ones for an even count), so one run disturbed by other work does not decide it.
    ``p99_range`` keeps the best and worst run's p99; ``cdf`` is the run with the median p99."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": runs[0]["error"] if runs else "no run", "runs": len(runs)}

    def middle(key: str) -> dict[str, Any]:
        ordered = sorted(good, key=lambda r: value_ms(r[key]) or 0.0)
        return ordered[(len(ordered) - 1) // 2]

    out: dict[str, Any] = {"runs": len(good), "failed_runs": len(runs) - len(good)}
    for key in ("p50", "p99", "p99.9", "max", "mean"):
        out[key] = middle(key)[key]
    p99s = sorted(value_ms(r["p99"]) or 0.0 for r in good)
    out["p99_range"] = [p99s[0], p99s[-1]]
    for key in ("rate", "target_rate", "cpu_s"):
        out[key] = sorted(float(r[key]) for r in good)[(len(good) - 1) // 2]
    out["sent"] = sum(int(r["sent"]) for r in good)
    out["handled"] = sum(int(r["handled"]) for r in good)
    out["cdf"] = middle("p99").get("cdf", [])
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


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: bytes, packet_id: int, body: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 1."""
    variable = len(topic).to_bytes(2, "big") + topic + packet_id.to_bytes(2, "big")
    return b"\x32" + remaining_length(len(variable) + len(body)) + variable + body


def connect_packet(client_id: str) -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, no keep-alive (a run lasts seconds)."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x00"
    body = variable + len(cid).to_bytes(2, "big") + cid
    return b"\x10" + remaining_length(len(body)) + body


PACKET_IDS = [(i + 1).to_bytes(2, "big") for i in range(65535)]


class PacedPublisher:
    """A minimal QoS 1 MQTT 3.1.1 publisher of stamped readings at a fixed rate.

    It writes pre-encoded PUBLISH packets straight to its socket and only counts the PUBACKs
    (the broker sends nothing else to it): a paho client in Python costs a large part of a core
    at these rates and queues messages behind its in-flight window, which would add its own
    delay to every measurement on a 2-core machine. Every ``TICK`` it writes the messages due by
    then in one batch, each stamped as it is encoded, microseconds before the write.
    """

    def __init__(self, host: str, port: int, topic: str, client_id: str = "latency-pub") -> None:
        import socket

        self.topics = [topic.format(device=i).encode() for i in range(DEVICES)]
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError("the broker closed the connection before CONNACK")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"the broker refused the connection: {connack!r}")
        self.sock.setblocking(False)
        self.seq = 0
        self.acked_bytes = 0
        self.heads: dict[tuple[int, int], bytes] = {}

    @property
    def acked(self) -> int:
        return self.acked_bytes // 4  # PUBACK: 0x40 0x02 and a 2-byte packet id

    def _drain(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not chunk:
                raise ConnectionError("the broker closed the publisher's connection")
            self.acked_bytes += len(chunk)

    def _batch(self, n: int, warmup: bool) -> None:
        packets = []
        heads = self.heads
        flag = b',"w":1' if warmup else b""
        clock = time.monotonic
        for _ in range(n):
            seq = self.seq
            device = seq % DEVICES
            body = _BODY % (device, clock(), seq, flag)
            key = (device, len(body))
            head = heads.get(key)
            if head is None:
                topic = self.topics[device]
                head = heads[key] = (
                    b"\x32"
                    + remaining_length(len(topic) + 4 + len(body))
                    + len(topic).to_bytes(2, "big")
                    + topic
                )
            packets += (head, PACKET_IDS[seq % 65535], body)
            self.seq = seq + 1
        data = b"".join(packets)
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                self._drain()
                time.sleep(0.0002)
                continue
            view = view[sent:]

    def warm_up(self, until: Callable[[], bool], rate: float = 200.0, timeout: float = 60.0) -> int:
        """Send warm-up messages at ``rate`` until ``until()`` is true; returns how many."""
        started = time.monotonic()
        sent = 0
        while not until():
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise TimeoutError(f"not every worker took a message within {timeout:.0f} s")
            n = due(rate, elapsed, sent)
            if n:
                self._batch(n, warmup=True)
                sent += n
            self._drain()
            time.sleep(0.005)
        return sent

    def run(self, rate: float, seconds: float) -> dict[str, float]:
        """Publish ``rate`` messages per second for ``seconds``; the rate actually reached."""
        count = int(rate * seconds)
        started = time.monotonic()
        sent = 0
        while sent < count:
            elapsed = time.monotonic() - started
            n = min(due(rate, elapsed, sent), count - sent)
            if n:
                self._batch(n, warmup=False)
                sent += n
                self._drain()
            # One write per tick: the messages due in the last TICK go out together.
            time.sleep(TICK)
        elapsed = time.monotonic() - started
        # The rate over the span the messages were sent in (message 0 goes at once).
        span = (count - 1) / rate if count > 1 else 0.0
        return {"sent": sent, "seconds": elapsed, "rate": sent / max(elapsed, span, 1e-9)}

    def close(self) -> None:
        deadline = time.monotonic() + 10
        while self.acked < self.seq and time.monotonic() < deadline:
            self._drain()
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
