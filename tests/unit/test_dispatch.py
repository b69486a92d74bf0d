import asyncio
import threading

import pytest

from routemq_runtime import Context, Controller, Middleware, RouteDefinitionError, Router
from routemq_runtime.testing import NoRouteError, TestClient


class SensorController(Controller):
    instances = 0

    def __init__(self):
        type(self).instances += 1
        self.seen = []

    async def process(self, device_id: int, payload, client):
        self.seen.append(device_id)
        client.publish(f"alerts/{device_id}", {"temperature": payload["temperature"]}, qos=1)
        return len(self.seen)

    @staticmethod
    async def legacy_free(topic):
        return topic

    @staticmethod
    async def legacy(device_id, payload, client):
        return ("legacy", device_id, payload)


def test_controller_method_handlers_get_one_instance_per_process():
    SensorController.instances = 0
    router = Router()
    router.on("sensors/{device_id:int}/data", SensorController.process, qos=1)
    client = TestClient(router)
    assert client.publish("sensors/7/data", {"temperature": 21}).result == 1
    assert client.publish("sensors/8/data", {"temperature": 22}).result == 2
    assert SensorController.instances == 1
    assert [m.topic for m in client.published] == ["alerts/7", "alerts/8"]
    assert client.published[0].payload == {"temperature": 21}
    assert client.published[0].qos == 1


def test_original_routemq_handler_style_works_unchanged():
    router = Router()
    router.on("sensors/{device_id}/data", SensorController.legacy)
    outcome = TestClient(router).publish("sensors/abc/data", {"v": 1})
    assert outcome.result == ("legacy", "abc", {"v": 1})


def test_every_injectable_argument():
    seen = {}

    async def handler(
        x, payload, topic, context, message, client, params, raw, qos, retain, properties,
        worker_id, attempt,
    ):  # fmt: skip
        seen.update(locals())

    router = Router()
    router.on("t/{x:int}", handler, qos=1)
    client = TestClient(router, worker_id="w-3")
    client.publish("t/5", {"a": 1}, qos=1, retain=True, properties={"k": "v"})
    assert seen["x"] == 5
    assert seen["payload"] == {"a": 1}
    assert seen["topic"] == "t/5"
    assert isinstance(seen["context"], Context)
    assert seen["message"] is seen["context"]
    assert seen["client"] is client.transport
    assert seen["params"] == {"x": 5}
    assert seen["raw"] == b'{"a":1}'
    assert (seen["qos"], seen["retain"], seen["properties"]) == (1, True, {"k": "v"})
    assert (seen["worker_id"], seen["attempt"]) == ("w-3", 1)
    assert seen["context"].route.pattern == "t/{x:int}"


def test_payload_is_json_when_json_else_bytes():
    router = Router()

    async def echo(payload):
        return payload

    router.on("p", echo)
    client = TestClient(router)
    assert client.publish("p", b'{"a": [1, 2]}').result == {"a": [1, 2]}
    assert client.publish("p", b"{not json").result == b"{not json"
    assert client.publish("p", b"\xff\xfe").result == b"\xff\xfe"
    assert client.publish("p", b"").result == b""
    assert client.publish("p", "42").result == 42


def test_sync_handlers_run_off_the_event_loop_thread():
    loop_threads = []

    def blocking(topic):
        loop_threads.append(threading.current_thread())
        return topic

    router = Router()
    router.on("s", blocking)
    client = TestClient(router)
    assert client.publish("s").result == "s"
    assert loop_threads[0] is not threading.main_thread()


def test_kwargs_handler_receives_route_params():
    async def handler(**params):
        return params

    router = Router()
    router.on("a/{x}/{y:int}", handler)
    assert TestClient(router).publish("a/k/3").result == {"x": "k", "y": 3}


def test_unknown_argument_fails_at_definition():
    async def handler(device, payload):
        return None

    with pytest.raises(RouteDefinitionError, match="asks for 'device'") as caught:
        Router().on("sensors/{device_id}", handler)
    assert "device_id" in str(caught.value)  # the message lists what is available


def test_optional_unknown_argument_is_allowed():
    async def handler(payload, unit="C"):
        return unit

    router = Router()
    router.on("a", handler)
    assert TestClient(router).publish("a").result == "C"


def test_handler_exception_is_reported_not_raised_by_default():
    async def broken(payload):
        raise ValueError("bad reading")

    router = Router()
    router.on("a", broken)
    outcome = TestClient(router).publish("a", {"x": 1})
    assert not outcome.ok and outcome.matched
    assert isinstance(outcome.error, ValueError)
    with pytest.raises(ValueError, match="bad reading"):
        TestClient(router, raise_exceptions=True).publish("a")


def test_unmatched_topic_is_reported():
    router = Router()
    client = TestClient(router)
    outcome = client.publish("nowhere", b"x")
    assert outcome.matched is False
    assert client.results == [outcome]
    with pytest.raises(NoRouteError, match="nowhere"):
        TestClient(router, raise_exceptions=True).publish("nowhere")


def recording(name, log):
    class Recorder(Middleware):
        async def handle(self, context, next):
            log.append(f"{name}>")
            result = await next(context)
            log.append(f"<{name}")
            return result

    Recorder.__name__ = name
    return Recorder


def test_groups_nest_prefixes_and_middleware_order():
    log = []

    async def handler(device_id, context):
        log.append("handler")
        return context.route.pattern

    router = Router()
    with router.group(prefix="site", middleware=[recording("outer", log)]):
        with router.group(prefix="/floor/", middleware=[recording("inner", log)]):
            route = router.on("{device_id}", handler, middleware=[recording("route", log)])
        router.on("gate", SensorController.legacy_free)
    router.on("plain/{device_id}", handler)
    assert route.pattern == "site/floor/{device_id}"
    assert [m.__name__ for m in route.middleware] == ["outer", "inner", "route"]
    client = TestClient(router)
    assert client.publish("site/floor/d1").result == "site/floor/{device_id}"
    assert log == ["outer>", "inner>", "route>", "handler", "<route", "<inner", "<outer"]
    log.clear()
    client.publish("plain/d1")
    assert log == ["handler"]
    assert router.find("site/gate").middleware[0].__name__ == "outer"


def test_middleware_that_does_not_call_next_stops_the_chain():
    called = []

    class Deny(Middleware):
        async def handle(self, context, next):
            return "denied"

    async def handler():
        called.append(True)

    router = Router()
    router.on("a", handler, middleware=[Deny])
    assert TestClient(router).publish("a").result == "denied"
    assert called == []


def test_function_and_instance_middleware_and_shared_state():
    async def tag(context, next):
        context.state["user"] = "alice"
        return await next(context)

    class Upper(Middleware):
        def __init__(self, suffix):
            self.suffix = suffix

        async def handle(self, context, next):
            return (await next(context)) + self.suffix

    async def handler(context):
        return context.state["user"]

    router = Router()
    router.on("a", handler, middleware=[tag, Upper("!")])
    assert TestClient(router).publish("a").result == "alice!"


def test_bad_middleware_is_refused_at_definition():
    class NotMiddleware:
        pass

    async def handler():
        return None

    with pytest.raises(TypeError, match="middleware"):
        Router().on("a", handler, middleware=[NotMiddleware])
    with pytest.raises(TypeError, match="middleware"):
        Router().on("a", handler, middleware=[42])


def test_decorator_form():
    router = Router()

    @router.route("a/{x}")
    async def handler(x):
        return x

    assert TestClient(router).publish("a/1").result == "1"


def test_async_publish_inside_a_running_loop():
    router = Router()

    async def handler(x):
        return x

    router.on("a/{x}", handler)
    client = TestClient(router)

    async def scenario():
        return await client.apublish("a/9")

    assert asyncio.run(scenario()).result == "9"


def test_test_client_context_manager_closes_its_loop():
    router = Router()

    def handler():
        return 1

    router.on("a", handler)
    with TestClient(router) as client:
        assert client.publish("a").ok
    assert not client.loop_open


def test_a_handler_changing_its_params_does_not_change_the_next_message():
    async def handler(params, context):
        seen = dict(params)
        params["injected"] = True
        context.params["also"] = 1
        return seen

    router = Router()
    router.on("a/{x}", handler)
    client = TestClient(router)
    assert client.publish("a/k").result == {"x": "k"}
    outcome = client.publish("a/k")
    assert outcome.result == {"x": "k"}
    assert router.match("a/k").params == {"x": "k"}
