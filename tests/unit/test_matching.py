import pytest

from routemq_runtime import Router


def make(name):
    async def handler():
        return name

    handler.__qualname__ = name
    return handler


def winner(router, topic):
    match = router.match(topic)
    return None if match is None else match.route.pattern


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("sensors/special/data", "sensors/special/data"),  # literal beats everything
        ("sensors/42/data", "sensors/{id:int}/data"),  # typed param beats plain param
        ("sensors/4.5/data", "sensors/{id:float}/data"),
        ("sensors/abc/data", "sensors/{id}/data"),  # param beats +
        ("sensors/abc/other", "sensors/+/other"),
        ("sensors/abc/x/y", "sensors/#"),  # # is the last resort
        ("sensors", "sensors/#"),  # MQTT: a/# also matches a
    ],
)
def test_most_specific_route_wins_regardless_of_definition_order(topic, expected):
    patterns = [
        "sensors/#",
        "sensors/+/other",
        "sensors/{id}/data",
        "sensors/{id:float}/data",
        "sensors/{id:int}/data",
        "sensors/special/data",
    ]
    for ordering in (patterns, list(reversed(patterns))):
        router = Router()
        for pattern in ordering:
            router.on(pattern, make(pattern))
        assert winner(router, topic) == expected


def test_precedence_is_decided_level_by_level_from_the_left():
    router = Router()
    router.on("+/b/c", make("plus-first"))
    router.on("a/+/+", make("literal-first"))
    assert winner(router, "a/b/c") == "a/+/+"


def test_backtracks_when_a_more_specific_branch_fails_deeper():
    router = Router()
    router.on("a/b/c", make("abc"))
    router.on("a/{x}/d", make("axd"))
    assert winner(router, "a/b/d") == "a/{x}/d"


def test_ties_between_multi_level_routes_keep_definition_order():
    router = Router()
    router.on("logs/#", make("hash"))
    router.on("logs/{rest:path}", make("path"))
    assert winner(router, "logs/a/b") == "logs/#"
    router = Router()
    router.on("logs/{rest:path}", make("path"))
    router.on("logs/#", make("hash"))
    assert winner(router, "logs/a/b") == "logs/{rest:path}"


def test_path_capture_needs_at_least_one_level():
    router = Router()
    router.on("logs/{rest:path}", make("path"))
    assert router.match("logs") is None
    assert router.match("logs/a").params == {"rest": "a"}
    assert router.match("logs/a/b/c").params == {"rest": "a/b/c"}


def test_convertors_convert_and_filter():
    router = Router()
    router.on("n/{i:int}", make("int"))
    router.on("f/{x:float}", make("float"))
    assert router.match("n/-12").params == {"i": -12}
    assert router.match("n/12a") is None
    assert router.match("f/1.5").params == {"x": 1.5}
    assert router.match("f/2").params == {"x": 2.0}
    assert router.match("f/nan") is None


def test_plain_param_does_not_match_an_empty_level():
    router = Router()
    router.on("a/{x}/b", make("x"))
    router.on("a/+/c", make("plus"))
    assert router.match("a//b") is None
    assert winner(router, "a//c") == "a/+/c"


def test_wildcards_do_not_match_dollar_topics_at_level_one():
    router = Router()
    router.on("#", make("all"))
    router.on("+/broker/uptime", make("plus"))
    router.on("{x}/broker/clients", make("param"))
    assert router.match("$SYS/broker/uptime") is None
    assert router.match("$SYS/broker/clients") is None
    router.on("$SYS/#", make("sys"))
    assert winner(router, "$SYS/broker/uptime") == "$SYS/#"


def test_no_match_returns_none():
    router = Router()
    router.on("a/b", make("ab"))
    assert router.match("a") is None
    assert router.match("a/b/c") is None
    assert router.match("b/a") is None


def test_shared_and_plain_routes_match_alike():
    router = Router()
    router.on("s/{id}", make("shared"), shared=True, worker_count=3)
    router.on("p/{id}", make("plain"))
    assert router.match("s/1").params == {"id": "1"}
    assert router.match("p/1").params == {"id": "1"}


def test_only_builds_a_router_with_a_subset_of_routes():
    router = Router()
    general = router.on("sensors/+/data", make("general"), shared=True, worker_count=2)
    router.on("sensors/special/data", make("special"))
    slot_view = router.only([general])
    # The slot subscribed to the shared filter handles every topic it receives itself.
    assert slot_view.match("sensors/special/data").route is general
    assert slot_view.routes == [general]


def test_a_thousand_routes_still_resolve_correctly():
    router = Router()
    for i in range(1000):
        router.on(f"devices/d{i}/{{metric}}", make(f"d{i}"))
    assert winner(router, "devices/d999/temp") == "devices/d999/{metric}"
    assert router.match("devices/d999/temp").params == {"metric": "temp"}


def test_a_topic_matched_again_gets_the_remembered_match():
    router = Router()
    router.on("sensors/{device_id}/data", make("data"))
    once = router.match("sensors/a/data")
    # Remembered from the second time on: topics seen once stay cheap to forget.
    remembered = router.match("sensors/a/data")
    assert remembered is not once and remembered.params == once.params
    assert router.match("sensors/a/data") is remembered
    assert router.match("sensors/b/data") is not remembered
    for _ in range(3):
        assert router.match("nothing/here") is None
    assert router._matches == {"sensors/a/data": remembered, "nothing/here": None}


def test_topics_seen_once_are_not_remembered():
    router = Router()
    router.on("d/{n:int}", make("d"))
    for n in range(100):
        assert router.match(f"d/{n}").params == {"n": n}
    assert router._matches == {}


def test_adding_a_route_forgets_remembered_matches():
    router = Router()
    router.on("sensors/+/data", make("general"))
    for _ in range(3):
        assert winner(router, "sensors/special/data") == "sensors/+/data"
        assert router.match("other") is None
    router.on("sensors/special/data", make("special"))
    router.on("other", make("other"))
    assert winner(router, "sensors/special/data") == "sensors/special/data"
    assert winner(router, "other") == "other"


def test_included_routes_forget_remembered_matches_too():
    router, extra = Router(), Router()
    extra.on("b/{x}", make("b"))
    for _ in range(3):
        assert router.match("b/1") is None
    router.include(extra)
    assert router.match("b/1").params == {"x": "1"}


def test_the_remembered_matches_stay_bounded(monkeypatch):
    from routemq_runtime.routing import router as router_module  # to shrink the bound

    monkeypatch.setattr(router_module, "MATCH_CACHE_SIZE", 3)
    router = Router()
    router.on("d/{n:int}", make("d"))
    for n in range(10):
        for _ in range(3):
            assert router.match(f"d/{n}").params == {"n": n}
        assert len(router._matches) <= 3 and len(router._seen) <= 3
    assert router.match("d/9") is router.match("d/9")


def test_long_topics_are_matched_but_not_remembered():
    router = Router()
    router.on("logs/{rest:path}", make("logs"))
    topic = "logs/" + "x" * 300
    for _ in range(3):
        assert router.match(topic).params == {"rest": "x" * 300}
    assert topic not in router._matches and topic not in router._seen


def test_a_match_cannot_be_changed():
    router = Router()
    router.on("s/{id}", make("s"))
    router.match("s/1")
    match = router.match("s/1")
    with pytest.raises(AttributeError):
        match.params = {"id": "2"}
    with pytest.raises(AttributeError):
        match.route = None
    with pytest.raises(TypeError):
        match.params["id"] = "2"  # type: ignore[index]
    assert router.match("s/1").params == {"id": "1"}
    assert repr(match) == "Match('s/{id}', {'id': '1'})"
