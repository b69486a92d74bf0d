"""``make:middleware``: ``class AuthMiddleware(Middleware)`` in ``app/middleware/auth.py``."""

from __future__ import annotations

from pathlib import Path

from routemq_cli.generators.base import FileSpec, Generator


class MiddlewareGenerator(Generator):
    what = "middleware"
    suffix = "Middleware"
    module_suffix = False  # the folder already says what it holds: app/middleware/auth.py

    def __init__(self, app_dir: Path, raw_name: str, *, with_test: bool = True) -> None:
        super().__init__(app_dir, raw_name)
        self.with_test = with_test

    def files(self) -> list[FileSpec]:
        specs = [FileSpec(f"app/middleware/{self.name.module}.py", "middleware.stub")]
        if self.with_test:
            test = f"tests/test_{self.name.module}_middleware.py"
            specs.append(FileSpec(test, "middleware.test.stub"))
        return specs
