"""Failed messages: every dead letter of the app kept in a store until someone acts on it.

``record`` reads a dead letter into a :class:`FailedMessage`, ``store`` keeps them (SQLite in the
app's ``storage/`` by default), ``keeper`` drains the app's durable dead-letter session into the
store, ``replay`` sends a stored message again to its original topic (``routemq failed:retry``).
"""

from routemq_runtime.failed.record import FailedMessage, from_dead_letter
from routemq_runtime.failed.store import FailedStore, StoreError, open_store, store_path

__all__ = [
    "FailedMessage",
    "FailedStore",
    "StoreError",
    "from_dead_letter",
    "open_store",
    "store_path",
]
