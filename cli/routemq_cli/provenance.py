"""Where this installation of RouteMQ came from: a package index, wheel files, or a checkout.

No package index holds RouteMQ's own distributions when it is installed from a clone, so a new
app cannot simply ask pip for ``routemq-runtime``: it is installed from where the running CLI's
runtime came from. pip records that in each distribution's ``direct_url.json`` (PEP 610); a
distribution installed from an index records none.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

RUNTIME = "routemq-runtime"
CLI = "routemq-cli"

Kind = Literal["index", "wheel", "checkout"]


@dataclass(frozen=True)
class Origin:
    """Where one distribution came from."""

    kind: Kind
    #: The wheel file or the checkout directory (None for an index).
    path: Path | None = None
    editable: bool = False


@dataclass(frozen=True)
class Provenance:
    """Where the runtime and the CLI of this installation came from."""

    version: str
    runtime: Origin
    cli: Origin

    @property
    def from_index(self) -> bool:
        return self.runtime.kind == "index"


def origin_of(distribution: str) -> Origin:
    """The origin pip recorded for an installed distribution."""
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    if not text:
        return Origin("index")
    record = json.loads(text)
    url = urlparse(record.get("url", ""))
    if url.scheme != "file":
        # A VCS or remote archive URL: pip can reinstall it from the same requirement later, as
        # from an index.
        return Origin("index")
    path = Path(url2pathname(unquote(url.path)))
    if "archive_info" in record and path.suffix == ".whl":
        return Origin("wheel", path)
    return Origin("checkout", path, bool(record.get("dir_info", {}).get("editable")))


def runtime_version() -> str:
    """The installed runtime's version, read from its ``_version.py`` without importing the
    package (whose ``__init__`` loads routing and config: ~0.1 s the CLI need not pay)."""
    spec = importlib.util.find_spec("routemq_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("routemq-runtime is not installed")
    text = (Path(next(iter(spec.submodule_search_locations))) / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if match is None:
        raise RuntimeError("routemq_runtime/_version.py has no __version__")
    return match.group(1)


def current() -> Provenance:
    """Where the running RouteMQ came from."""
    runtime, cli = origin_of(RUNTIME), origin_of(CLI)
    if cli.kind == "index" and runtime.kind == "checkout" and runtime.path is not None:
        # The CLI runs from the same checkout without being installed (e.g. PYTHONPATH).
        cli = Origin("checkout", runtime.path / "cli", runtime.editable)
    return Provenance(runtime_version(), runtime, cli)
