"""The one base every ``make:*`` generator builds on.

A generator turns a name into files: it normalises the name, picks each file's stub (the app's
``stubs/`` folder first), renders every file before touching the disk, refuses to overwrite an
existing file unless forced, and reports one action per file. A subclass only says which files
it makes and what its stubs are filled with.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import ClassVar, NamedTuple

from routemq_cli.generators.errors import GeneratorError
from routemq_cli.generators.names import Name, normalise
from routemq_cli.generators.stubs import find_stub, render_stub


class FileSpec(NamedTuple):
    """A file to generate: its path inside the app and the stub it is rendered from."""

    path: str
    stub: str | None  # None: an empty file (a package's __init__.py)


class PlannedFile(NamedTuple):
    path: str  # POSIX path relative to the app directory, as shown to the user
    target: Path
    content: str
    exists: bool

    @property
    def action(self) -> str:
        return "OVERWRITE" if self.exists else "CREATE"


class Generated(NamedTuple):
    """What a generator did (or, in a dry run, would do)."""

    what: str
    subject: str
    files: tuple[PlannedFile, ...]
    dry_run: bool


class Generator:
    what: ClassVar[str]  # "controller": used in messages
    suffix: ClassVar[str] = ""  # "Controller": added to the class name, stripped from input
    module_suffix: ClassVar[bool] = True  # does the module name carry the suffix too?
    has_class: ClassVar[bool] = True

    def __init__(self, app_dir: Path, raw_name: str) -> None:
        self.app_dir = app_dir
        self.name: Name = normalise(
            raw_name,
            suffix=self.suffix,
            what=f"{self.what} name",
            module_suffix=self.module_suffix,
            has_class=self.has_class,
        )

    # -- what a subclass provides ------------------------------------------------------------

    def files(self) -> list[FileSpec]:
        raise NotImplementedError

    def values(self) -> dict[str, str]:
        """Placeholders every stub can use; subclasses add their own."""
        return {
            "class_name": self.name.class_name,
            "module": self.name.module,
            "base_class": self.name.base_class,
            "base_module": self.name.base_module,
            "topic": self.name.topic,
        }

    def subject(self) -> str:
        return self.name.class_name if self.has_class else self.name.module

    # -- the shared steps ----------------------------------------------------------------------

    def plan(self) -> list[PlannedFile]:
        """Render every file in memory: a bad stub fails here, before anything is written."""
        values = self.values()
        specs = self._with_packages(self.files())
        planned = []
        for spec in specs:
            target = self.app_dir / spec.path
            content = ""
            if spec.stub is not None:
                stub = find_stub(spec.stub, self.app_dir)
                content = render_stub(stub, values, shown=self._shown(stub))
            planned.append(PlannedFile(spec.path, target, content, target.exists()))
        return planned

    def generate(self, *, force: bool = False, dry_run: bool = False) -> Generated:
        planned = self.plan()
        existing = [file.path for file in planned if file.exists]
        if existing and not force:
            others = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise GeneratorError(
                f"{existing[0]} already exists{others}; nothing was written",
                hint="use --force to overwrite",
            )
        if not dry_run:
            for file in planned:
                _write(file.target, file.content)
        return Generated(self.what, self.subject(), tuple(planned), dry_run)

    def _with_packages(self, specs: list[FileSpec]) -> list[FileSpec]:
        # A folder created under app/ becomes a package, so its module imports as app.x.y.
        result: list[FileSpec] = []
        seen: set[str] = set()
        for spec in specs:
            parent = Path(spec.path).parent
            if parent.parts[:1] == ("app",) and not (self.app_dir / parent).is_dir():
                init = (parent / "__init__.py").as_posix()
                if init not in seen:
                    seen.add(init)
                    result.append(FileSpec(init, None))
            result.append(spec)
        return result

    def _shown(self, stub: Path) -> str:
        try:
            return stub.relative_to(self.app_dir).as_posix()
        except ValueError:
            return f"built-in {stub.name}"


def _write(target: Path, content: str) -> None:
    """Write through a temporary file, so an interrupted write never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
