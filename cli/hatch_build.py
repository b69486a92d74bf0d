"""Pin ``routemq-runtime`` to exactly the CLI's own version (one version number for both)."""

import re
from pathlib import Path

from hatchling.metadata.plugin.interface import MetadataHookInterface

BASE_DEPENDENCIES = ["typer>=0.12", "copier>=9.4,<10", "jinja2>=3.1", "watchfiles>=0.21"]


def runtime_version(root: str) -> str:
    text = (Path(root).parent / "routemq_runtime" / "_version.py").read_text()
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if match is None:
        raise RuntimeError("routemq_runtime/_version.py has no __version__")
    return match.group(1)


class CustomMetadataHook(MetadataHookInterface):
    def update(self, metadata: dict) -> None:
        metadata["dependencies"] = [
            *BASE_DEPENDENCIES,
            f"routemq-runtime=={runtime_version(self.root)}",
        ]
