"""Stub lookup: ``stub:publish`` copies the built-in stubs; an app's ``stubs/`` overrides them."""

from __future__ import annotations

from pathlib import Path

from routemq_cli.generators.stubs import BUILTIN_STUBS, builtin_stub_names


def test_stub_publish_copies_every_builtin_stub(app_dir: Path, invoke) -> None:
    result = invoke("stub:publish")

    assert result.exit_code == 0, result.output
    names = builtin_stub_names()
    assert {"controller.stub", "controller.test.stub", "router.stub", "middleware.stub"} <= set(
        names
    )
    for name in names:
        assert f"CREATE stubs/{name}" in result.output
        assert (app_dir / "stubs" / name).read_text() == (BUILTIN_STUBS / name).read_text()


def test_stub_publish_keeps_edited_stubs_unless_forced(app_dir: Path, invoke) -> None:
    assert invoke("stub:publish").exit_code == 0
    edited = app_dir / "stubs" / "controller.stub"
    edited.write_text("# edited\n")

    result = invoke("stub:publish")
    assert result.exit_code == 0, result.output
    assert "KEEP stubs/controller.stub" in result.output
    assert edited.read_text() == "# edited\n"

    result = invoke("stub:publish", "--force")
    assert result.exit_code == 0, result.output
    assert "OVERWRITE stubs/controller.stub" in result.output
    assert edited.read_text() == (BUILTIN_STUBS / "controller.stub").read_text()


def test_app_stub_overrides_the_builtin_one(app_dir: Path, invoke) -> None:
    (app_dir / "stubs").mkdir()
    (app_dir / "stubs" / "controller.stub").write_text(
        "# house style for ${class_name} in ${module}; costs $$0\nclass ${class_name}:\n    pass\n"
    )

    result = invoke("make:controller", "Sensor")

    assert result.exit_code == 0, result.output
    assert (app_dir / "app/controllers/sensor_controller.py").read_text() == (
        "# house style for SensorController in sensor_controller; costs $0\n"
        "class SensorController:\n    pass\n"
    )
    # Stubs the app did not override still come from the built-in set.
    test = (app_dir / "tests/test_sensor_controller.py").read_text()
    assert "TestClient" in test


def test_a_stub_with_an_unknown_placeholder_writes_nothing(app_dir: Path, invoke) -> None:
    (app_dir / "stubs").mkdir()
    (app_dir / "stubs" / "controller.test.stub").write_text("${class_nmae}\n")

    result = invoke("make:controller", "Sensor")

    assert result.exit_code == 1
    assert "stubs/controller.test.stub uses unknown placeholder ${class_nmae}" in result.output
    assert "${class_name}" in result.output  # the hint lists what is available
    assert not (app_dir / "app/controllers/sensor_controller.py").exists()


def test_stub_publish_outside_an_app(tmp_path: Path, monkeypatch, invoke) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("stub:publish")
    assert result.exit_code == 1
    assert "not inside a RouteMQ app" in result.output
    assert not (tmp_path / "stubs").exists()
