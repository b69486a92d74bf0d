"""The ledger of handled ids that a test app's handlers keep, one file per process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.polling import poll, wait_for


class Ledger:
    """Lines ``worker ... id ...`` in ``directory/*.log``, one per handled message.

    Handlers append a whole line before they return (and so before their message is acked): once
    a stream has ended the ledger says which ids were handled, which are missing and which were
    handled more than once. A line still being written (no newline yet) is not read.
    ``id_field`` is the position of the id among a line's words.
    """

    def __init__(self, directory: Path, id_field: int = 1) -> None:
        self.directory = directory
        self.id_field = id_field
        directory.mkdir(parents=True, exist_ok=True)

    def lines(self) -> list[list[str]]:
        out = []
        for path in self.directory.glob("*.log"):
            complete = path.read_text().rpartition("\n")[0]
            out += [line.split() for line in complete.splitlines() if line]
        return out

    def ids(self) -> Counter[int]:
        return Counter(int(parts[self.id_field]) for parts in self.lines())

    def count(self) -> int:
        return sum(self.ids().values())

    def settle(self, expected: set[int], timeout: float) -> Counter[int]:
        """Wait until every expected id is in; what was handled by then, complete or not."""
        poll(lambda: expected <= set(self.ids()), timeout, interval=0.1)
        return self.ids()

    def wait_ids(self, expected: set[int], timeout: float = 20.0) -> Counter[int]:
        """Wait until every expected id is in; failing the test otherwise."""
        wait_for(lambda: expected <= set(self.ids()), timeout, f"{len(expected)} handled messages")
        return self.ids()

    def wait_count(self, at_least: int, timeout: float = 20.0) -> None:
        wait_for(lambda: self.count() >= at_least, timeout, f"{at_least} handled messages")
