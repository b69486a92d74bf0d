import sys
import textwrap

import pytest

from routemq_runtime import Router, RouterLoadError, RouterRegistry
from routemq_runtime.app_loader import AppNotFoundError, find_app_dir, load_app_router


@pytest.fixture
def app_dir(tmp_path, monkeypatch):
    """A throwaway app whose packages are importable and forgotten after the test."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "app" / "routers").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "routers" / "__init__.py").write_text("")
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("app", "bootstrap"):
            del sys.modules[name]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


ROUTER_MODULE = """
from routemq_runtime import Router

async def handle(topic):
    return topic

router = Router()
router.on("{pattern}", handle)
"""


def test_discovers_and_merges_every_router_module(app_dir):
    write(app_dir / "app/routers/sensors.py", ROUTER_MODULE.replace("{pattern}", "sensors/+"))
    write(app_dir / "app/routers/alerts.py", ROUTER_MODULE.replace("{pattern}", "alerts/#"))
    write(app_dir / "app/routers/nested/deep.py", ROUTER_MODULE.replace("{pattern}", "deep"))
    write(app_dir / "app/routers/nested/__init__.py", "")
    write(app_dir / "app/routers/helpers.py", "VALUE = 1\n")
    registry = RouterRegistry("app.routers")
    router = registry.discover_and_load_routers()
    assert sorted(r.pattern for r in router.routes) == ["alerts/#", "deep", "sensors/+"]
    assert registry.modules == [
        "app.routers.alerts",
        "app.routers.nested.deep",
        "app.routers.sensors",
    ]


def test_import_error_stops_startup_naming_the_module(app_dir):
    write(app_dir / "app/routers/good.py", ROUTER_MODULE.replace("{pattern}", "ok"))
    write(app_dir / "app/routers/broken.py", "import not_a_module_anywhere\n")
    with pytest.raises(RouterLoadError, match=r"'app\.routers\.broken'.*ModuleNotFoundError"):
        RouterRegistry("app.routers").discover_and_load_routers()


def test_syntax_error_is_reported_with_the_module(app_dir):
    write(app_dir / "app/routers/typo.py", "router = Router(\n")
    with pytest.raises(RouterLoadError, match=r"app\.routers\.typo.*SyntaxError"):
        RouterRegistry("app.routers").discover_and_load_routers()


def test_missing_package_is_an_error_not_an_empty_router(app_dir):
    with pytest.raises(RouterLoadError, match="app.nothing_here"):
        RouterRegistry("app.nothing_here").discover_and_load_routers()


def test_router_attribute_of_the_wrong_type(app_dir):
    write(app_dir / "app/routers/odd.py", "router = object()\n")
    with pytest.raises(RouterLoadError, match="not a routemq_runtime.Router"):
        RouterRegistry("app.routers").discover_and_load_routers()


def test_duplicate_routes_across_modules_are_refused(app_dir):
    write(app_dir / "app/routers/one.py", ROUTER_MODULE.replace("{pattern}", "x/{a}"))
    write(app_dir / "app/routers/two.py", ROUTER_MODULE.replace("{pattern}", "x/{b}"))
    with pytest.raises(ValueError, match="duplicate route 'x/{b}'"):
        RouterRegistry("app.routers").discover_and_load_routers()


def test_load_app_router_prefers_bootstrap_load_router(app_dir):
    write(app_dir / "app/routers/main.py", ROUTER_MODULE.replace("{pattern}", "from/registry"))
    write(
        app_dir / "bootstrap/app.py",
        """
        from routemq_runtime import RouterRegistry

        def load_router():
            router = RouterRegistry("app.routers").discover_and_load_routers()
            router.on("from/bootstrap", lambda topic: topic)
            return router
        """,
    )
    router = load_app_router(app_dir)
    assert [r.pattern for r in router.routes] == ["from/registry", "from/bootstrap"]


def test_load_app_router_without_bootstrap_uses_the_registry(app_dir):
    write(app_dir / "app/routers/main.py", ROUTER_MODULE.replace("{pattern}", "only"))
    assert [r.pattern for r in load_app_router(app_dir).routes] == ["only"]


def test_load_app_router_does_not_import_paho(app_dir):
    import subprocess

    write(app_dir / "app/routers/main.py", ROUTER_MODULE.replace("{pattern}", "only"))
    code = (
        "import sys; from routemq_runtime.app_loader import load_app_router;"
        f"load_app_router({str(app_dir)!r});"
        "assert 'paho' not in sys.modules and 'prometheus_client' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_find_app_dir_looks_upwards_and_explains_failure(app_dir, tmp_path_factory):
    nested = app_dir / "app" / "controllers"
    nested.mkdir()
    assert find_app_dir(nested) == app_dir.resolve()
    elsewhere = tmp_path_factory.mktemp("empty")
    with pytest.raises(AppNotFoundError, match="app/routers/"):
        find_app_dir(elsewhere)


def test_merged_router_is_a_router():
    merged = Router().include(Router())
    assert isinstance(merged, Router) and len(merged) == 0
