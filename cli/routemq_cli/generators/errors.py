"""The one error type generators raise: a message naming the problem and a hint to fix it."""

from __future__ import annotations


class GeneratorError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
