"""Start and stop a real mosquitto broker on a free loopback port.

Used by the test fixtures and by the benchmarks. The broker runs with a config written to its own
temporary directory, listens on 127.0.0.1 only, and is stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MISSING_HELP = (
    "mosquitto was not found on PATH (nor in /usr/sbin). Integration tests need a real broker: "
    "install it with `apt-get install -y mosquitto` or run ./scripts/test.sh, which installs it."
)


class MosquittoUnavailable(RuntimeError):
    """mosquitto is not installed or did not come up."""


def find_mosquitto() -> str:
    sbin = "/usr/sbin:/usr/local/sbin"
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path=sbin)
    if not found:
        raise MosquittoUnavailable(MISSING_HELP)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mosquitto:
    """One broker process; ``start()`` again after ``stop()`` keeps its port and data."""

    persistence: bool = False
    extra_config: str = ""
    max_inflight: int = 1000
    # username -> password; when given, anonymous clients are refused.
    users: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="routemq-mosq-")))
    process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.users else 'true'}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            # Queued sessions hold whole backlogs in benchmarks and drills; the defaults drop them.
            "max_queued_messages 0",
            f"max_inflight_messages {self.max_inflight}",
            "persistent_client_expiration 1h",
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
            ]
        if self.users:
            lines.append(f"password_file {self.workdir / 'passwords'}")
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        binary = find_mosquitto()
        # Started as root, mosquitto drops to its own user: it must be able to write its log and
        # persistence file here.
        self.workdir.chmod(0o777)
        conf = self.workdir / "mosquitto.conf"
        if self.users:
            self._write_password_file()
        conf.write_text(self.config_text())
        self.process = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise MosquittoUnavailable(
                    f"mosquitto exited with {self.process.returncode} on port {self.port}: {err}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise MosquittoUnavailable(f"mosquitto did not accept connections on port {self.port}")

    def _write_password_file(self) -> None:
        passwd = shutil.which("mosquitto_passwd", path=f"{os.environ.get('PATH', '')}:/usr/bin")
        if passwd is None:
            raise MosquittoUnavailable("mosquitto_passwd (Debian package mosquitto) is missing")
        path = self.workdir / "passwords"
        path.unlink(missing_ok=True)
        for user, password in self.users.items():
            flags = ["-b"] if path.exists() else ["-b", "-c"]
            command = [passwd, *flags, str(path), user, password]
            subprocess.run(command, check=True, capture_output=True)
        path.chmod(0o644)  # read by mosquitto's own user

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
