"""Starting commands the way a terminal does."""

from __future__ import annotations

import signal


def ctrl_c_reaches_it() -> None:
    """For ``Popen(preexec_fn=...)``: SIGINT back to its default in the child.

    A test run started in the background of a non-interactive shell ignores SIGINT, and an
    ignored signal stays ignored across exec, so Python would not raise KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
