"""Eclipse Paho's strict MQTT test broker (paho.mqtt.testing) run on a free port, and its log
read for what a client did wrong (used by ``scripts/conformance.py``)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Lines of the broker's log that mean a client broke a rule (the broker raises, asserts or
# logs at ERROR, and prints a traceback for a malformed packet).
VIOLATION = re.compile(r"^(ERROR|CRITICAL) |Traceback|-error\]|Malformed packet|ProtocolError")
#: The coverage summary the broker logs when it stops (it names the -error statements too).
SUMMARY = re.compile(r"^INFO \d+ \d+ (exceptions|coverage statements) (not found|\d+ out of)")
TAG = re.compile(r"\[MQTT[\w.-]*\]")
#: Violations the broker reports without naming the statement.
UNTAGGED = {"Receive maximum": "[MQTT-3.3.4-7] (MQTT 5: no more QoS 1/2 PUBLISH in flight than "
            "the server's Receive Maximum)"}  # fmt: skip


# -- the broker ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StrictBroker:
    """paho.mqtt.testing's broker in a subprocess: its own log, stopped by PID."""

    def __init__(self, suite: Path, workdir: Path, name: str) -> None:
        self.suite = suite
        self.port = free_port()
        self.log_path = workdir / f"broker-{name}.log"
        # --port is ignored by the broker's main(); a listener line in a config file is not.
        self.config_path = workdir / f"broker-{name}.conf"
        self.config_path.write_text(f"loglevel debug\nlistener {self.port} 127.0.0.1\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> StrictBroker:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "startbroker.py", "-c", str(self.config_path)],
                cwd=self.suite,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited at start:\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the broker did not listen on {self.port} within {timeout:g}s")

    def stop(self) -> None:
        """SIGTERM (the broker then logs its spec coverage), SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Finding:
    message: str
    statement: str
    socket: str
    client: str
    packet: str  # the client's packet the broker had just read from that socket

    def __str__(self) -> str:
        return (f"{self.message} {self.statement}\n      from socket {self.socket} "
                f"(client {self.client}), after its {self.packet}")  # fmt: skip


@dataclass
class BrokerLog:
    """What the broker wrote while one run talked to it."""

    lines: list[str]
    owners: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for line in self.lines:
            if found := re.search(r"in: \((\d+)\) Connects\(.*?ClientId=([\w-]+)", line):
                self.owners[found.group(1)] = found.group(2)

    def findings(self) -> tuple[list[Finding], list[Finding]]:
        """(violations, errors of the broker's own making) in the order logged."""
        violations, broker_side = [], []
        for number, line in enumerate(self.lines):
            if not VIOLATION.search(line) or SUMMARY.search(line):
                continue
            message = _strip(line)
            if line.startswith("Traceback"):
                message, broker_made = self._traceback(number)
            else:
                broker_made = self._answers_broker(number)
            (broker_side if broker_made else violations).append(self._finding(number, message))
        return violations, broker_side

    def _finding(self, number: int, message: str) -> Finding:
        tags = TAG.findall(message)
        statement = " ".join(tags) or next(
            (tag for key, tag in UNTAGGED.items() if key in message), "(no statement named)"
        )
        for line in reversed(self.lines[:number]):
            # Packets are handled one at a time, under a lock: the one logged last is the cause.
            if found := re.search(r"in: \((\d+)\) (\w+)\((.*?PacketId=\d+)?", line):
                socket_no, kind, detail = found.groups()
                packet_id = re.search(r"PacketId=\d+", detail or "")
                packet = kind + (f" {packet_id.group()}" if packet_id else "")
                return Finding(message, statement, socket_no, self.owners.get(socket_no, "?"),
                               packet)  # fmt: skip
        return Finding(message, statement, "?", "?", "?")

    def _traceback(self, number: int) -> tuple[str, bool]:
        """The exception a traceback ends with; one raised writing to a socket the broker had
        itself closed (after disconnecting that client) is the broker's."""
        frames = []
        for line in self.lines[number + 1 :]:
            if not line.startswith(" "):
                return f"{line.strip()} (traceback)", "in respond" in "".join(frames) and (
                    line.startswith("OSError")
                )
            frames.append(line)
        return "traceback", False

    def _answers_broker(self, number: int) -> bool:
        """An ack "for no message" that answers a PUBLISH (PUBREL) the broker sent on that
        connection at least as often as the client acked it: the client did its part. The V5
        broker's sendQueued() puts a message queued while the client was away into its outbound
        list twice; on the next reconnect it resends the acked copy, then finds nothing to ack."""
        error = re.search(r"(Puback|Pubcomp) received for msgid (\d+), but no message found",
                          self.lines[number])  # fmt: skip
        if not error:
            return False
        kind, pid = error.groups()
        sent_kind = "Publishes" if kind == "Puback" else "Pubrels"
        acked = rf"in: \((\d+)\) {kind}s\(.*PacketId={pid}\)"
        earlier = reversed(self.lines[:number])
        socket_no = next((m.group(1) for line in earlier if (m := re.search(acked, line))), None)
        sent = answered = 0
        for line in reversed(self.lines[:number]):
            if socket_no is None or f"Starting communications for socket {socket_no}" in line:
                break
            if re.search(rf"out: \({socket_no}\) {sent_kind}\(.*PacketId={pid}\b", line):
                sent += 1
            elif re.search(rf"in: \({socket_no}\) {kind}s\(.*PacketId={pid}\b", line):
                answered += 1
        return 0 < answered <= sent

    def statements(self) -> list[str]:
        """Spec statements the broker logged while handling this run (it logs each once)."""
        return sorted(
            {t for line in self.lines if not SUMMARY.search(line) for t in TAG.findall(line)}
        )

    def coverage(self) -> list[str]:
        return [_strip(line) for line in self.lines if re.search(r" \d+ out of \d+ = ", line)]

    def sent_by(self, client_id: str) -> dict[str, int]:
        """How many packets of each kind the broker read from connections under the client id
        (the check that the session ended connects under it too)."""
        owner: dict[str, str] = {}
        counts: dict[str, int] = {}
        for line in self.lines:
            if found := re.search(r"in: \((\d+)\) (\w+)s\(", line):
                socket_no, kind = found.groups()
                kind = kind.removesuffix("e") if kind == "Publishe" else kind
                if kind == "Connect":
                    owner[socket_no] = "".join(re.findall(r"ClientId=([\w-]+)", line))
                if owner.get(socket_no) == client_id:
                    counts[kind.upper()] = counts.get(kind.upper(), 0) + 1
        return counts

    def connect(self, client_id: str) -> str:
        """The session fields of the client's first CONNECT, as the broker decoded them (it
        cuts its log lines at 256 characters, the MQTT 5 properties included)."""
        for line in self.lines:
            if "Connects(" in line and f"ClientId={client_id}," in line:
                fields = re.findall(r"(?:Clean\w+|KeepAliveTimer|ProtocolVersion)=\w+", line)
                properties = line.partition("properties=")[2]
                return ", ".join(fields) + (f", properties={properties}" if properties else "")
        return "not found"


def _strip(line: str) -> str:
    """The message without the level and timestamp."""
    return re.sub(r"^[A-Z]+ \d{8} \d{6} ", "", line.strip())
