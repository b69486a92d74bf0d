"""A slot process must not outlive its supervisor.

An orphaned slot keeps its broker session and client id; a new supervisor's slot with the same
id then takes the session over, the orphan reconnects and takes it back, and the two knock each
other off the broker several times a second. On Linux the kernel sends the slot SIGTERM (its
drain signal) when the supervisor dies, however it dies (SIGKILL, OOM killer).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> bool:
    """Ask for ``sig`` when the parent dies; False where the platform cannot do that.

    Call it in the child right after ``fork``. A parent that died before the request was made
    is caught by comparing ``getppid()`` afterwards: the child then exits at once.
    """
    armed = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    if os.getppid() != parent_pid:
        os._exit(0)
    return armed
