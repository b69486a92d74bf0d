"""Name normalisation: what users type becomes one class and module name, or a clear refusal."""

from __future__ import annotations

import pytest

from routemq_cli.generators.names import InvalidName, normalise


@pytest.mark.parametrize(
    ("raw", "class_name", "module"),
    [
        ("Sensor", "SensorController", "sensor_controller"),
        ("sensor", "SensorController", "sensor_controller"),
        ("SensorController", "SensorController", "sensor_controller"),
        ("sensor_controller", "SensorController", "sensor_controller"),
        ("sensor-reading", "SensorReadingController", "sensor_reading_controller"),
        ("SensorReading", "SensorReadingController", "sensor_reading_controller"),
        ("sensorReading", "SensorReadingController", "sensor_reading_controller"),
        ("sensor_reading", "SensorReadingController", "sensor_reading_controller"),
        ("HTTPGateway", "HTTPGatewayController", "http_gateway_controller"),
        ("sensor2", "Sensor2Controller", "sensor2_controller"),
        ("  Sensor  ", "SensorController", "sensor_controller"),
    ],
)
def test_controller_names_normalise(raw: str, class_name: str, module: str) -> None:
    name = normalise(raw, suffix="Controller")
    assert (name.class_name, name.module) == (class_name, module)


def test_module_without_suffix_and_topic() -> None:
    name = normalise("RateLimitMiddleware", suffix="Middleware", module_suffix=False)
    assert (name.class_name, name.module, name.topic) == (
        "RateLimitMiddleware",
        "rate_limit",
        "rate-limit",
    )


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("sensors/data", "path separator"),
        ("..\\evil", "path separator"),
        ("..", "path separator"),
        ("1sensor", "starts with a digit"),
        ("sensor reading", "not a Python identifier"),
        ("sensor.reading", "not a Python identifier"),
        ("sénsor", "not a Python identifier"),
        ("class", "Python keyword"),
        ("Import", "Python keyword"),
        ("Controller", "no name part"),
    ],
)
def test_bad_names_are_refused_naming_the_rule(raw: str, rule: str) -> None:
    with pytest.raises(InvalidName) as caught:
        normalise(raw, suffix="Controller", what="controller name")
    assert rule in caught.value.message
    assert caught.value.hint


def test_builtins_are_refused_only_where_a_name_would_shadow_one() -> None:
    with pytest.raises(InvalidName, match="shadow the Python builtin 'list'"):
        normalise("list", has_class=False)
    # A suffixed class never collides with a builtin, whatever its module is called.
    assert normalise("list", suffix="Controller").class_name == "ListController"
    middleware = normalise("filter", suffix="Middleware", module_suffix=False)
    assert (middleware.class_name, middleware.module) == ("FilterMiddleware", "filter")
