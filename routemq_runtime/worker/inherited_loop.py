"""A forked worker must start its own event loop even when its parent was running one.

asyncio remembers the running loop per thread, and a child forked from inside a running loop (a
background supervisor started from an async program) would inherit that record: ``asyncio.run``
then refuses to start. The record is cleared with ``asyncio.events._set_running_loop``, which
is private; without it, the interpreter's own guards apply (CPython compares the process id of
the recorded loop, and from 3.12 clears the record at fork).
"""

from __future__ import annotations

import asyncio
from types import ModuleType


def forget_inherited_loop(events: ModuleType = asyncio.events) -> bool:
    """Clear the running-loop record of this thread; False when asyncio offers no way to."""
    reset = getattr(events, "_set_running_loop", None)
    if reset is None:
        return False
    reset(None)
    return True
