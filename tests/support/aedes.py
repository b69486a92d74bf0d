"""aedes, a second MQTT broker implementation (Node.js, npm), on a free loopback port.

It speaks MQTT 3.1.1 only and has no shared subscriptions: ``SUBSCRIBE $share/g/f`` is granted
and then treated as a literal topic. ``scripts/test.sh`` installs it with the other npm tools
(``ROUTEMQ_NODE_MODULES``); tests that need it are skipped when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.mosquitto import free_port

SCRIPT = Path(__file__).with_name("aedes.cjs")


def node_modules() -> Path | None:
    found = os.environ.get("ROUTEMQ_NODE_MODULES")
    default = Path(__file__).resolve().parents[2] / ".cache/node/node_modules"
    for candidate in (Path(found) if found else None, default):
        if candidate is not None and (candidate / "aedes").is_dir() and shutil.which("node"):
            return candidate
    return None


@dataclass
class Aedes:
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None

    def start(self, modules: Path) -> Aedes:
        env = {**os.environ, "NODE_PATH": str(modules)}
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"aedes did not start: {line}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
