"""An app process started by a test (usually the supervisor), its log and its health endpoints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.polling import wait_for


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """Status and body of ``GET http://127.0.0.1:{port}{path}``, error statuses included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Supervised:
    """A process in a session of its own, its output in ``cwd / log_name``; stopped by pid.

    ``port`` is its health port (0 if it has none).
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        port: int,
        log_name: str | Path = "supervisor.log",
    ) -> None:
        self.port = port
        self.log_path = cwd / log_name
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self) -> tuple[int, dict[str, Any]]:
        code, body = http_get(self.port, "/readyz")
        return code, json.loads(body)

    def try_status(self) -> dict[str, Any] | None:
        try:
            return self.status()[1]
        except (OSError, ValueError):
            return None

    def slots(self) -> list[dict[str, Any]]:
        status = self.try_status()
        return status["slots"] if status else []

    def wait_ready(self, count: int | None = None, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait for ``/readyz`` to answer 200 (with ``count`` slots); the slots it lists."""

        def ready() -> list[dict[str, Any]] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"supervisor exited early:\n{self.output()}")
            try:
                code, body = self.status()
            except (OSError, ValueError):
                return None
            if code != 200 or (count is not None and len(body["slots"]) != count):
                return None
            return body["slots"]

        return wait_for(ready, timeout, f"{count} ready slot(s)")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, timeout: float = 30.0, *, whole_group: bool = False) -> tuple[int, float]:
        """SIGTERM to the process (or to its whole group) and wait: its exit code and the time.

        What has not exited after ``timeout`` is killed, and its code is then the SIGKILL's.
        """
        start = time.monotonic()
        if self.process.poll() is None:
            (os.killpg if whole_group else os.kill)(self.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            code = self.process.wait()
        return code, time.monotonic() - start

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def cleanup(self) -> None:
        # Slots are in the supervisor's process group (its own session): none may outlive a
        # test, even when the supervisor itself has already exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()
        self._log.close()
