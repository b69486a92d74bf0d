"""``make:controller``: a controller class and a test that passes as generated."""

from __future__ import annotations

from pathlib import Path

from routemq_cli.generators.base import FileSpec, Generator


class ControllerGenerator(Generator):
    what = "controller"
    suffix = "Controller"

    def __init__(self, app_dir: Path, raw_name: str, *, with_test: bool = True) -> None:
        super().__init__(app_dir, raw_name)
        self.with_test = with_test

    def files(self) -> list[FileSpec]:
        specs = [FileSpec(f"app/controllers/{self.name.module}.py", "controller.stub")]
        if self.with_test:
            specs.append(FileSpec(f"tests/test_{self.name.module}.py", "controller.test.stub"))
        return specs
