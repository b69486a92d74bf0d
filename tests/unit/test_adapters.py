"""Every use of another library's private API sits behind one adapter; each adapter's fast path
and its fallback (the library having changed) are run here."""

from __future__ import annotations

import asyncio
import os
import types
from typing import Any

import pytest
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry, Histogram

from routemq_runtime.metrics import BUCKETS
from routemq_runtime.prometheus_internals import BatchedHistogram, multiprocess_mode
from routemq_runtime.transport import paho_speedups
from routemq_runtime.worker.inherited_loop import forget_inherited_loop

# ---------------------------------------------------------------- paho: shared Properties tables


def _publish_properties() -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("routemq-route", "jobs/{kind}"), ("k", "v")]
    props.MessageExpiryInterval = 30
    props.ContentType = "application/json"
    return props.pack()


def test_paho_fast_path_decodes_like_paho(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_packet, "Properties", Properties)
    assert paho_speedups.install()
    assert _packet.Properties is paho_speedups.SharedTableProperties
    assert paho_speedups.install()  # twice is harmless
    packed = _publish_properties()
    theirs = Properties(PacketTypes.PUBLISH)
    theirs.unpack(packed)
    ours = _packet.Properties(PacketTypes.PUBLISH)
    ours.unpack(packed)
    assert ours.json() == theirs.json()
    # Instances share tables, never values.
    other = _packet.Properties(PacketTypes.PUBLISH)
    assert other.json() == {} and other.names is ours.names


def test_paho_fallback_leaves_a_changed_decoder_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class TheirNewProperties(Properties):
        pass

    monkeypatch.setattr(_packet, "Properties", TheirNewProperties)
    assert not paho_speedups.install()
    assert _packet.Properties is TheirNewProperties


def test_paho_fallback_when_properties_grew_new_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_packet, "Properties", Properties)
    original_init = Properties.__init__

    def init_with_more_state(self: Properties, packetType: int) -> None:
        original_init(self, packetType)
        self.__dict__["cache"] = {}

    monkeypatch.setattr(Properties, "__init__", init_with_more_state)
    assert not paho_speedups.install()
    assert _packet.Properties is Properties


# ---------------------------------------------------------------- prometheus: batched histogram


def _samples(registry: CollectorRegistry, name: str) -> list[tuple[str, Any, float]]:
    return [
        (s.name.removeprefix(name), s.labels.get("le"), s.value)
        for family in registry.collect()
        if family.name == name
        for s in family.samples
        if not s.name.endswith("_created")
    ]


@pytest.mark.parametrize("private_state", [True, False], ids=["fast", "fallback"])
def test_batched_histogram_adds_up_like_observe(private_state: bool) -> None:
    registry = CollectorRegistry()
    batched = Histogram("b_seconds", "b", buckets=BUCKETS, registry=registry)
    direct = Histogram("d_seconds", "d", buckets=BUCKETS, registry=registry)

    class PublicOnly:
        """A histogram child of a prometheus-client without ``_buckets``/``_sum``."""

        def __init__(self, child: Any) -> None:
            self.observe = child.observe

    local = BatchedHistogram(batched if private_state else PublicOnly(batched), BUCKETS)
    assert local.direct is not private_state
    for value in (0.0001, 0.001, 0.3, 1, 61):
        local.observe(value)
        direct.observe(value)
    local.flush()
    local.flush()
    assert _samples(registry, "b_seconds") == _samples(registry, "d_seconds")


def test_multiprocess_mode_is_read_or_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import values

    assert multiprocess_mode() in (True, False)
    monkeypatch.delattr(values.ValueClass, "_multiprocess", raising=False)
    assert multiprocess_mode() is None


# ---------------------------------------------------------------- asyncio: the inherited loop


def _run_in_fork_of_running_loop(events: Any = asyncio.events) -> int:
    """Fork from inside a running loop; the child forgets the loop and runs one of its own."""

    async def parent() -> int:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                forget_inherited_loop(events)
                asyncio.run(asyncio.sleep(0))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    return asyncio.run(parent())


def test_inherited_loop_fast_path_clears_the_record() -> None:
    loop = asyncio.new_event_loop()
    try:
        asyncio.events._set_running_loop(loop)
        assert asyncio.events._get_running_loop() is loop
        assert forget_inherited_loop()
        assert asyncio.events._get_running_loop() is None
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    assert _run_in_fork_of_running_loop() == 0


def test_inherited_loop_fallback_relies_on_the_interpreter() -> None:
    an_asyncio_without_it = types.ModuleType("asyncio.events")
    assert not forget_inherited_loop(an_asyncio_without_it)
    assert _run_in_fork_of_running_loop(an_asyncio_without_it) == 0


# ---------------------------------------------------------------- typer: skipping pydantic


def _run_cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from routemq_cli.main import build_app

    return CliRunner().invoke(build_app(["make:controller"]), list(args))


def test_typer_fast_path_types_plain_parameters(tmp_path, monkeypatch) -> None:
    from routemq_cli import typer_speedups

    assert typer_speedups.already_typed_param() is not None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app" / "routers").mkdir(parents=True)
    result = _run_cli("make:controller", "Sensor", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "app/controllers/sensor_controller.py" in result.output


def test_typer_fallback_keeps_typers_own_coercion(tmp_path, monkeypatch) -> None:
    import typer._coercion

    from routemq_cli import typer_speedups

    # A Typer whose private module no longer has what the fast path builds on.
    monkeypatch.delattr(typer._coercion, "build_runtime_param")
    assert typer_speedups.already_typed_param() is None
    monkeypatch.setattr(typer_speedups, "ALREADY_TYPED", None)
    params = [object()]
    assert typer_speedups.skip_pydantic(params) is params
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app" / "routers").mkdir(parents=True)
    result = _run_cli("make:controller", "Sensor", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "app/controllers/sensor_controller.py" in result.output
