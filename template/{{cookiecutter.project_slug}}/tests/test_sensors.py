from routemq_runtime.testing import PayloadValidationError, TestClient


def test_reading_is_routed_to_the_sensor_controller(client: TestClient) -> None:
    outcome = client.publish("sensors/kitchen/data", {"temperature": 21.5})

    assert outcome.ok, outcome.error
    assert outcome.route.pattern == "sensors/{device_id}/data"
    assert outcome.params == {"device_id": "kitchen"}
    assert outcome.result == {"device_id": "kitchen", "temperature": 21.5}
    assert client.published == []

    # An MQTT 5 request (with a Response Topic) gets the summary as its reply.
    request = client.publish(
        "sensors/kitchen/data", {"temperature": 19}, response_topic="replies/me"
    )
    assert request.reply.topic == "replies/me"
    assert request.reply.payload == {"device_id": "kitchen", "temperature": 19.0}


def test_hot_reading_publishes_an_alert(client: TestClient) -> None:
    outcome = client.publish("sensors/boiler/data", {"temperature": 75})

    assert outcome.ok, outcome.error
    [alert] = client.published
    assert alert.topic == "alerts/boiler"
    assert alert.qos == 1
    assert alert.payload == {"device_id": "boiler", "temperature": 75.0}


def test_bad_reading_is_rejected_with_its_field_errors(client: TestClient) -> None:
    outcome = client.publish("sensors/kitchen/data", {"temperature": "hot"})

    # Never retried: the worker dead-letters it at once, with these errors.
    assert isinstance(outcome.error, PayloadValidationError)
    assert "kitchen" in str(outcome.error)
    [error] = outcome.error.errors
    assert error.as_dict() == {"path": "temperature", "expected": "number", "got": "string 'hot'"}
    [missing] = client.publish("sensors/kitchen/data", {"humidity": 40}).error.errors
    assert (missing.path, missing.got) == ("temperature", "nothing (missing)")
    assert client.published == []


def test_example_route_is_shared_between_workers(client: TestClient) -> None:
    route = client.router.find("sensors/{device_id}/data")

    assert route.shared is True
    assert route.worker_count == {{ cookiecutter.worker_count }}
    assert route.filter == "sensors/+/data"
    assert route.qos == 1


def test_unknown_topic_matches_no_route(client: TestClient) -> None:
    assert not client.publish("nothing/here", b"x").matched
