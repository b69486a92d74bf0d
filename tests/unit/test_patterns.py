import pytest

from routemq_runtime import RouteDefinitionError, Router
from routemq_runtime.routing import parse_pattern


async def handler():
    return None


@pytest.mark.parametrize(
    ("pattern", "expected_filter"),
    [
        ("sensors/data", "sensors/data"),
        ("sensors/+/data", "sensors/+/data"),
        ("sensors/#", "sensors/#"),
        ("#", "#"),
        ("+", "+"),
        ("sensors/{device_id}/data", "sensors/+/data"),
        ("sensors/{device_id:int}/data", "sensors/+/data"),
        ("sensors/{value:float}", "sensors/+"),
        ("sensors/{name:str}", "sensors/+"),
        ("logs/{rest:path}", "logs/#"),
        ("$SYS/broker/#", "$SYS/broker/#"),
        ("a/{x}/+/{y:int}/#", "a/+/+/+/#"),
    ],
)
def test_subscription_filter_is_derived_from_the_pattern(pattern, expected_filter):
    route = Router().on(pattern, handler)
    assert route.filter == expected_filter
    assert route.pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("a//b", "level 2 is empty"),
        ("a/", "level 2 is empty"),
        ("/a", "level 1 is empty"),
        ("a/#/b", "'#' must be the last level"),
        ("a/b#", "mixes a wildcard"),
        ("a/+b", "mixes a wildcard"),
        ("a/{}", "empty name"),
        ("a/{:int}", "empty name"),
        ("a/{x:uuid}", "unknown convertor 'uuid'"),
        ("a/{x}/{x}", "'x' appears twice"),
        ("a/{x-y}", "not a Python identifier"),
        ("a/{rest:path}/b", "must be the last level"),
        ("a/dev-{id}", "must fill a whole level"),
        ("a/{id", "must fill a whole level"),
        ("$SYS/+", None),  # allowed: only level one matters
        ("$share/g/a", "use shared=True"),
        ("${x}/a", "'$' topic"),
        ("a/\x00", "NUL"),
    ],
)
def test_invalid_patterns_fail_at_definition_naming_the_pattern(pattern, reason):
    router = Router()
    if reason is None:
        router.on(pattern, handler)
        return
    with pytest.raises(RouteDefinitionError) as caught:
        router.on(pattern, handler)
    assert repr(pattern) in str(caught.value)
    assert reason in str(caught.value)
    assert router.routes == []


@pytest.mark.parametrize("pattern", [None, 42, b"a/b", ["a"]])
def test_non_string_patterns_are_refused(pattern):
    with pytest.raises(RouteDefinitionError, match="must be a str"):
        Router().on(pattern, handler)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"qos": 3}, "qos must be 0, 1 or 2"),
        ({"qos": True}, "qos must be 0, 1 or 2"),
        ({"shared": True, "worker_count": 0}, "positive integer"),
        ({"worker_count": 2}, "needs shared=True"),
    ],
)
def test_invalid_route_options_name_the_pattern(options, reason):
    with pytest.raises(RouteDefinitionError, match=reason) as caught:
        Router().on("a/b", handler, **options)
    assert "'a/b'" in str(caught.value)


def test_non_callable_handler_is_refused():
    with pytest.raises(RouteDefinitionError, match="not callable"):
        Router().on("a", "not a function")


def test_duplicate_routes_are_refused_even_with_other_parameter_names():
    router = Router()
    router.on("sensors/{device}/data", handler)
    with pytest.raises(RouteDefinitionError, match="duplicate route") as caught:
        router.on("sensors/{other}/data", handler)
    assert "sensors/{device}/data" in str(caught.value)


def test_same_shape_with_other_convertor_is_not_a_duplicate():
    router = Router()
    router.on("sensors/{device:int}/data", handler)
    router.on("sensors/{device}/data", handler)
    assert len(router) == 2


def test_route_keys_are_stable_slugs_and_unique():
    router = Router()
    first = router.on("sensors/{device_id}/data", handler)
    second = router.on("sensors/{device_id:int}/data", handler)
    wild = router.on("sensors/+/#", handler)
    assert first.key == "sensors-device_id-data"
    assert second.key == "sensors-device_id-data-2"
    assert wild.key == "sensors-plus-all"


def test_shared_subscription_topic():
    route = Router().on("sensors/{id}/data", handler, shared=True, worker_count=3, qos=1)
    assert route.subscription("workers") == "$share/workers/sensors/+/data"
    plain = Router().on("alerts/{id}", handler)
    assert plain.subscription("workers") == "alerts/+"


def test_parsed_pattern_exposes_param_names():
    assert parse_pattern("a/{x:int}/{rest:path}").param_names == ("x", "rest")
