"""The supervisor's signals: handlers only queue them, a self-pipe wakes the loop.

Handlers run between bytecodes of whatever the loop is doing (forking, writing a file), so they
do nothing but append to a queue; ``set_wakeup_fd`` writes to a pipe the loop sleeps on, so a
signal ends the sleep at once instead of at the next tick.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections import deque
from typing import Any

#: The signals the supervisor acts on (see :mod:`routemq_runtime.supervisor`).
HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGCHLD,
    signal.SIGTTIN,
    signal.SIGTTOU,
)


class SignalQueue:
    """Signals received (or requested from another thread) and not yet handled by the loop."""

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._wake_r = self._wake_w = -1
        self._old_handlers: dict[int, Any] = {}
        self._old_wakeup_fd = -1

    def open(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)

    def install(self) -> None:
        for sig in HANDLED:
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        self._old_wakeup_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Nothing else here: the loop does the work, outside the handler.
        self._pending.append(signum)

    def request(self, signum: int) -> None:
        """Queue ``signum`` as if it had been received, and wake the loop (any thread)."""
        self._pending.append(signum)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def pop(self) -> int | None:
        return self._pending.popleft() if self._pending else None

    def sleep(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds, or until a signal arrives."""
        if self._pending:
            return
        try:
            ready, _, _ = select.select([self._wake_r], [], [], timeout)
        except InterruptedError:
            return
        if ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 4096):
                    pass

    def reset_in_child(self) -> None:
        """In a forked slot: default dispositions, and no pipe of the supervisor's kept open."""
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def restore(self) -> None:
        """Give the process back the handlers and wake-up fd it had before ``install()``."""
        for sig, handler in self._old_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._old_handlers.clear()
        if self._wake_w != -1:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._old_wakeup_fd)

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd != -1:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1
