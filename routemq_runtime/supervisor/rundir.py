"""Files shared by the supervisor and its slots: heartbeats, readiness, Prometheus data.

A slot proves it is alive by touching its heartbeat file (the supervisor reads the mtime; no
pipe to keep open, nothing to block on) and proves it is connected and subscribed by creating
its ready file. Prometheus' multiprocess mode keeps one data file per process in a directory
that must be known before ``prometheus_client`` is first imported.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from routemq_runtime.prometheus_internals import multiprocess_mode

logger = logging.getLogger("routemq.supervisor")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class RunDir:
    """A private temporary directory for one supervisor's slot files."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, prefix: str = "routemq-"
    ) -> None:
        self.owned = path is None
        self.path = Path(tempfile.mkdtemp(prefix=prefix) if path is None else path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._owner_pid = os.getpid()

    def heartbeat_path(self, slot_id: str) -> Path:
        return self.path / f"{slot_id}.heartbeat"

    def ready_path(self, slot_id: str) -> Path:
        return self.path / f"{slot_id}.ready"

    def reset(self, slot_id: str) -> None:
        """Before a slot (re)starts: a fresh heartbeat (the start counts as one), not ready."""
        self.ready_path(slot_id).unlink(missing_ok=True)
        beat = self.heartbeat_path(slot_id)
        beat.touch()
        os.utime(beat)

    def forget(self, slot_id: str) -> None:
        self.ready_path(slot_id).unlink(missing_ok=True)
        self.heartbeat_path(slot_id).unlink(missing_ok=True)

    def heartbeat_age(self, slot_id: str, now: float | None = None) -> float:
        """Seconds since the slot last touched its heartbeat (infinite when the file is gone)."""
        try:
            mtime = self.heartbeat_path(slot_id).stat().st_mtime
        except FileNotFoundError:
            return float("inf")
        return max(0.0, (time.time() if now is None else now) - mtime)

    def is_ready(self, slot_id: str) -> bool:
        return self.ready_path(slot_id).exists()

    def remove(self) -> None:
        # Only the creating process cleans up: forked children share the object.
        if self.owned and os.getpid() == self._owner_pid:
            shutil.rmtree(self.path, ignore_errors=True)


_created_metrics_dir: Path | None = None


def ensure_metrics_dir() -> Path:
    """Make sure Prometheus multiprocess mode is on, and return its data directory.

    Must run before ``prometheus_client`` is imported anywhere in this process (and so before
    any slot is forked), because the library picks its value store at import time. A directory
    given in ``PROMETHEUS_MULTIPROC_DIR`` is used as is, with stale ``*.db`` files from earlier
    runs removed; otherwise a fresh temporary directory is created and removed at exit.
    """
    global _created_metrics_dir
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        if path != _created_metrics_dir and "prometheus_client" not in sys.modules:
            path.mkdir(parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="routemq-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
        _created_metrics_dir = path
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    # Unknown (None) when prometheus-client changed its internals: then say nothing.
    if "prometheus_client" in sys.modules and multiprocess_mode() is False:
        logger.warning(
            "prometheus_client was imported before %s was set: /metrics will show only "
            "the supervisor's own metrics. Create the WorkerManager (or run through "
            "routemq_runtime.app) before importing prometheus_client.",
            MULTIPROC_ENV,
        )
    return path


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges from the Prometheus data directory."""
    if not os.environ.get(MULTIPROC_ENV):
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
    except OSError as error:  # a concurrent cleanup is harmless
        logger.debug("could not mark pid %s dead for metrics: %s", pid, error)
