"""``routemq run --reload``: run the app in a child process and start it again when its code or
``.env`` changes (uvicorn's ``--reload``, Laravel's ``queue:listen``). For development only.

A change is checked in a fresh interpreter before anything is stopped: code that does not load
(a syntax error, a bad route, a bad setting) leaves the running app as it is and prints why;
the next good save restarts it. A restart drains the running app with SIGTERM first, so
messages in flight are finished and acknowledged. watchfiles groups a burst of saves into one
change set, so an editor's save-all restarts once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

#: Saves less than this apart (milliseconds) are one burst, and restart the app once ...
BURST_GAP_MS = 300
#: ... unless the burst goes on for longer than this.
DEBOUNCE_MS = 2000
#: Time a running app gets to drain before it is killed, beyond its own drain budget.
STOP_GRACE_SECONDS = 5.0
DEFAULT_DRAIN_SECONDS = 30.0

CHECK = """
import sys
from pathlib import Path
from routemq_runtime.app_loader import load_app_router
from routemq_runtime.config import Config, ConfigError
app = Path(sys.argv[1])
try:
    Config.from_env(env_file=app / ".env")
except ConfigError as error:
    sys.exit(f"invalid configuration: {error}")
try:
    load_app_router(app)
except Exception as error:
    sys.exit(f"{type(error).__name__}: {error}")
"""


class AppFiles(DefaultFilter):
    """The app's Python files and its ``.env``; not its tests, caches or virtualenv."""

    def __init__(self, app_dir: Path) -> None:
        super().__init__()
        self.app_dir = app_dir.resolve()

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        relative = Path(path).resolve().relative_to(self.app_dir)
        if relative.parts[:1] == ("tests",):
            return False
        return relative.suffix == ".py" or relative.name == ".env"


class Reloader:
    def __init__(
        self,
        app_dir: Path,
        run_args: list[str],
        say: Callable[[str], None],
        stop: threading.Event | None = None,
    ) -> None:
        self.app_dir = app_dir.resolve()
        self.command = [sys.executable, "-m", "routemq_runtime", "run", *run_args]
        self.command += ["--app-dir", str(self.app_dir)]
        self.say = say
        self.stop_event = stop or threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.reported_exit = False

    def run(self) -> int:
        """Run until Ctrl-C, SIGTERM or the stop event; the exit code of the last app."""
        # SIGTERM (a terminal closing, a process manager) stops the app too, never orphans it.
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        problem = self.check()
        if problem:
            self.say(f"the app does not load: {problem}\nwaiting for a change that fixes it")
        else:
            self.start()
        code = 0
        try:
            changes = watch(
                self.app_dir,
                watch_filter=AppFiles(self.app_dir),
                debounce=DEBOUNCE_MS,
                step=BURST_GAP_MS,
                stop_event=self.stop_event,
                yield_on_timeout=True,
                rust_timeout=500,
                raise_interrupt=False,
            )
            for changed in changes:
                if changed:
                    self.on_change(changed)
                else:
                    self.notice_exit()
        except KeyboardInterrupt:
            pass  # Ctrl-C during a check or a restart: stop as on Ctrl-C while watching
        finally:
            code = self.stop_app()
        return code

    def on_change(self, changed: Iterable[tuple[Change, str]]) -> None:
        names = sorted({str(Path(p).resolve().relative_to(self.app_dir)) for _, p in changed})
        self.say(f"changed: {', '.join(names)}")
        problem = self.check()
        if problem:
            running = self.child is not None and self.child.poll() is None
            kept = "the running app is kept" if running else "no app is running"
            self.say(f"the change does not load: {problem}\n{kept}; waiting for the next change")
            return
        self.stop_app()
        self.start()

    def check(self) -> str | None:
        """Why the app does not load as it is now, or None; in a fresh interpreter."""
        done = subprocess.run(
            [sys.executable, "-c", CHECK, str(self.app_dir)],
            cwd=self.app_dir,
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return None
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {done.returncode}"

    def start(self) -> None:
        self.child = subprocess.Popen(self.command, cwd=self.app_dir)
        self.reported_exit = False
        self.say(f"started the app (pid {self.child.pid}); watching {self.app_dir} for changes")

    def notice_exit(self) -> None:
        if self.child is not None and self.child.poll() is not None and not self.reported_exit:
            self.reported_exit = True
            self.say(f"the app exited with code {self.child.returncode}; waiting for a change")

    def stop_app(self) -> int:
        """SIGTERM the running app (it drains), kill it if it outlives its drain budget."""
        child, self.child = self.child, None
        if child is None:
            return 0
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(drain_budget() + STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return child.returncode


def drain_budget() -> float:
    try:
        return float(os.environ.get("ROUTEMQ_DRAIN_TIMEOUT", DEFAULT_DRAIN_SECONDS))
    except ValueError:
        return DEFAULT_DRAIN_SECONDS
