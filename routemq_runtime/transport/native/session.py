"""What this side of a persistent MQTT session remembers across reconnects: the packet ids of
QoS 2 messages received and not yet released, and the messages this client published that the
broker has not confirmed (resent on reconnect, in order, with their ids)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from routemq_runtime.transport.native.codec import (
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    Answer,
    ack_packet,
    publish_packet,
    reason_name,
    with_dup,
)

Send = Callable[[bytes], None]


@dataclass
class Outgoing:
    """One QoS 1/2 publish of this client, from the call until the broker confirmed it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Any
    future: asyncio.Future[None] | None
    pid: int = 0
    packet: bytes = b""
    #: QoS 2: the broker sent PUBREC; the PUBREL is what is resent now.
    released: bool = False


class Session:
    def __init__(self, *, v5: bool) -> None:
        self.v5 = v5
        #: Packet ids of QoS 2 messages acknowledged with PUBREC and not released yet.
        self.released: set[int] = set()
        self.inflight: dict[int, Outgoing] = {}
        self.queued: deque[Outgoing] = deque()
        #: Waiting for a SUBACK/UNSUBACK, by packet id (one connection's worth).
        self.answers: dict[int, Callable[[Answer], None]] = {}
        #: How many publishes may await confirmation at once (the broker's Receive Maximum).
        self.quota = 65535
        self._last_pid = 0

    def next_pid(self) -> int:
        for _ in range(65535):
            self._last_pid = self._last_pid % 65535 + 1
            pid = self._last_pid
            if pid not in self.inflight and pid not in self.answers:
                return pid
        raise RuntimeError("all 65535 packet identifiers are in use")

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, outgoing: Outgoing, send: Send | None) -> None:
        """Send now when connected and within the quota, else when that changes."""
        self.queued.append(outgoing)
        if send is not None:
            self.fill(send)

    def fill(self, send: Send) -> None:
        while self.queued and len(self.inflight) < self.quota:
            outgoing = self.queued.popleft()
            outgoing.pid = self.next_pid()
            outgoing.packet = publish_packet(
                outgoing.topic,
                outgoing.payload,
                outgoing.qos,
                outgoing.retain,
                outgoing.pid,
                v5=self.v5,
                properties=outgoing.properties,
            )
            self.inflight[outgoing.pid] = outgoing
            send(outgoing.packet)

    def resume(self, session_present: bool, send: Send) -> None:
        """A new connection: resend what the broker has not confirmed, then the queue."""
        if not session_present:
            # The broker forgot the session, and with it the QoS 2 ids it had not released.
            self.released.clear()
        self.answers.clear()
        for outgoing in self.inflight.values():
            if outgoing.released:
                send(ack_packet(PUBREL, outgoing.pid))
            else:
                send(with_dup(outgoing.packet))
        self.fill(send)

    def confirmed(self, answer: Answer, send: Send | None) -> None:
        """PUBACK, PUBREC or PUBCOMP for one of ours."""
        outgoing = self.inflight.get(answer.pid)
        if outgoing is None:
            return  # a late duplicate
        failed = answer.code >= 0x80
        if answer.kind == PUBREC and not failed:
            outgoing.released = True
            if send is not None:
                send(ack_packet(PUBREL, answer.pid))
            return
        del self.inflight[answer.pid]
        future = outgoing.future
        if future is not None and not future.done():
            if failed:
                why = reason_name(answer.kind, answer.code)
                detail = f" ({answer.reason_string})" if answer.reason_string else ""
                future.set_exception(ConnectionError(f"broker rejected publish: {why}{detail}"))
            else:
                future.set_result(None)
        if send is not None:
            self.fill(send)

    def fail_all(self, error: BaseException) -> None:
        for outgoing in (*self.inflight.values(), *self.queued):
            if outgoing.future is not None and not outgoing.future.done():
                outgoing.future.set_exception(error)
        self.inflight.clear()
        self.queued.clear()

    @property
    def unconfirmed(self) -> list[asyncio.Future[None]]:
        return [
            o.future
            for o in (*self.inflight.values(), *self.queued)
            if o.future is not None and not o.future.done()
        ]


CONFIRMATIONS = frozenset({PUBACK, PUBREC, PUBCOMP})
