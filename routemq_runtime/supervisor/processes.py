"""Operating-system plumbing for the supervisor's child processes: wait, reap, signal, flush."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import NoReturn

from routemq_runtime.supervisor.slot import Slot


def flush_all() -> None:
    """Flush stdio and log handlers: before a fork (or the child would write the parent's
    buffered output again) and before ``os._exit`` (which skips every flush)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def exit_child(body: Callable[[], int | None], what: str) -> NoReturn:
    """In a forked child: run ``body`` and leave the process with its exit code.

    Never returns, whatever ``body`` does: a child that unwound into the parent's code would
    run a second copy of the parent.
    """
    code = 1
    try:
        result = body()
        code = 0 if result is None else int(result)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        logging.getLogger("routemq.supervisor").exception("%s crashed", what)
        code = 1
    finally:
        flush_all()
        os._exit(code)


def wait_pid(pid: int, timeout: float | None, *, kill: bool = True) -> int | None:
    """Wait for a child; SIGKILL it when ``kill`` and it outlives ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() >= deadline:
            if not kill:
                return None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)


def signal_slot(slot: Slot, sig: int) -> None:
    """Send ``sig`` to the slot's process, if it has one that is still there."""
    if slot.pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(slot.pid, sig)


def exited_slots(slots: Iterable[Slot]) -> list[tuple[Slot, int, int]]:
    """Slots whose process has exited, with its pid and exit code (negative: signal)."""
    slots = list(slots)
    done = []
    for slot in slots:
        if slot.pid is None:
            continue
        try:
            pid, status = os.waitpid(slot.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = slot.pid, 0
        if pid:
            done.append((slot, pid, os.waitstatus_to_exitcode(status)))
    if os.getpid() == 1:
        # As a container's init, orphans of the handlers' own subprocesses are ours to
        # reap, or they stay zombies for the pod's lifetime.
        by_pid = {slot.pid: slot for slot in slots if slot.pid}
        with contextlib.suppress(ChildProcessError):
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                if pid in by_pid:
                    done.append((by_pid[pid], pid, os.waitstatus_to_exitcode(status)))
    return done


def describe_exit(code: int) -> str:
    """An exit code as ``os.waitstatus_to_exitcode`` gives it, in words for the log."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def count_restart(slot_id: str) -> None:
    """Count a restart in the metrics; never fails the caller."""
    try:
        # Here, not at the top: prometheus-client is imported once the metrics dir is set.
        from routemq_runtime.supervisor.load import count_restart as count

        count(slot_id)
    except Exception as error:  # metrics must never stop supervision
        logging.getLogger("routemq.supervisor").debug("could not count restart: %s", error)
