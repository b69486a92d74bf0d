"""Where an installation came from, as pip recorded it (PEP 610 ``direct_url.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routemq_cli.provenance import Origin, current, origin_of


def fake_distribution(site: Path, name: str, direct_url: dict | None) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (None, Origin("index")),
        (
            {"url": "file:///wheels/x%20y/a-1.0-py3-none-any.whl", "archive_info": {}},
            Origin("wheel", Path("/wheels/x y/a-1.0-py3-none-any.whl")),
        ),
        (
            {"url": "file:///src/RouteMQ", "dir_info": {"editable": True}},
            Origin("checkout", Path("/src/RouteMQ"), editable=True),
        ),
        ({"url": "file:///src/RouteMQ", "dir_info": {}}, Origin("checkout", Path("/src/RouteMQ"))),
        # pip can fetch a remote or VCS requirement again by itself, as from an index.
        ({"url": "https://example.invalid/a.whl", "archive_info": {}}, Origin("index")),
        ({"url": "git+https://example.invalid/a", "vcs_info": {"vcs": "git"}}, Origin("index")),
    ],
)
def test_origin_of_reads_what_pip_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_url: dict | None, expected: Origin
) -> None:
    fake_distribution(tmp_path, "routemq-fake", direct_url)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert origin_of("routemq-fake") == expected


def test_an_unknown_distribution_counts_as_from_an_index() -> None:
    assert origin_of("routemq-no-such-distribution") == Origin("index")


def test_this_checkouts_install_is_a_checkout() -> None:
    here = current()
    root = Path(__file__).resolve().parents[2]
    assert (here.runtime.kind, here.runtime.path) == ("checkout", root)
    assert (here.cli.kind, here.cli.path) == ("checkout", root / "cli")
    assert not here.from_index
