"""What a supervisor, its worker processes and the command line agree on: exit codes, signals.

Kept apart from both sides so that neither imports the other to learn a number.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
#: The supervisor gave up on a slot that kept dying, or the app's routers did not load.
EXIT_FAILED = 1
#: Bad arguments or configuration.
EXIT_USAGE = 2
#: A slot cannot work with this code or configuration (unknown route, refused credentials):
#: restarting it will not help, so the supervisor stops everything.
EXIT_BOOT_ERROR = 3

#: Asks a slot to leave for good (scale-down): unsubscribe, drain, end its broker session.
#: SIGTERM/SIGINT drain too but keep the session, for a restart under the same client id.
RETIRE_SIGNAL = signal.SIGUSR1
