"""Worker processes: each serves one slot's subscriptions with at-least-once delivery."""

from routemq_runtime.lifecycle import EXIT_BOOT_ERROR, EXIT_OK, RETIRE_SIGNAL
from routemq_runtime.worker.process import Worker, run_slot
from routemq_runtime.worker.spec import SlotSpec, slot_client_id

#: The design page's name for the class a worker process runs (subclass it, pass it as
#: ``WorkerManager(worker_class=...)``).
WorkerProcess = Worker

__all__ = [
    "EXIT_BOOT_ERROR",
    "EXIT_OK",
    "RETIRE_SIGNAL",
    "SlotSpec",
    "Worker",
    "WorkerProcess",
    "run_slot",
    "slot_client_id",
]
