"""``docs:asyncapi``: the app's AsyncAPI 3.0 document, checked by the official parser
(``@asyncapi/parser`` from the npm registry, installed by ./scripts/test.sh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

ROUTER = """
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from pydantic import BaseModel

from routemq_runtime import Router


@dataclass
class Position:
    lat: float
    lon: float


@dataclass
class Reading:
    temperature: float
    unit: Literal["C", "F"] = "C"
    tags: list[str] = field(default_factory=list)
    position: Position | None = None


class Summary(TypedDict):
    device_id: str
    ok: bool


class Count(BaseModel):
    value: int
    positions: list[Position] = []


async def reading(device_id: str, payload: Reading) -> Summary:
    return {"device_id": device_id, "ok": True}


async def untyped(payload, client):
    pass


async def raw_log(rest: str, payload: bytes) -> None:
    pass


def count(n: int, payload: Count) -> Count:
    return payload


router = Router()
router.on("sensors/{device_id}/data", reading, qos=1, shared=True, worker_count=3)
router.on("events/+/seen", untyped)
router.on("logs/{rest:path}", raw_log, qos=1)
router.on("counts/{n:int}", count, qos=2)
"""


def asyncapi_validate(*files: Path) -> list[dict]:
    """Every diagnostic of the official parser; the node script exits 1 on any error."""
    modules = Path(os.environ.get("ROUTEMQ_NODE_MODULES") or ROOT / ".cache/node/node_modules")
    if not (modules / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            f"@asyncapi/parser is not in {modules}: run ./scripts/test.sh, which installs it"
        )
    node = shutil.which("node")
    assert node, "Node.js is missing"
    script = Path(__file__).with_name("asyncapi_validate.cjs")
    result = subprocess.run(
        [node, str(script), *map(str, files)],
        env={**os.environ, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def errors_of(diagnostics: list[dict]) -> list[dict]:
    return [d for d in diagnostics if d["severity"] == 0]


@pytest.fixture
def typed_app(app_dir: Path) -> Path:
    (app_dir / "app/routers/sensors.py").write_text(ROUTER)
    (app_dir / ".env").write_text("MQTT_USERNAME=reader\nMQTT_PASSWORD=hunter2\nMQTT_PORT=8883\n")
    return app_dir


def test_typed_untyped_and_path_routes_give_a_valid_document(typed_app: Path, invoke) -> None:
    result = invoke("docs:asyncapi", "-o", "asyncapi.json")
    assert result.exit_code == 0, result.output
    assert "CREATE asyncapi.json" in result.output
    path = typed_app / "asyncapi.json"
    assert errors_of(asyncapi_validate(path)) == []
    text = path.read_text()
    assert "hunter2" not in text and "reader" not in text
    doc = json.loads(text)

    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["broker"]["host"] == "localhost:8883"
    sensors = doc["channels"]["sensors-device_id-data"]
    assert sensors["address"] == "sensors/{device_id}/data"
    assert sensors["parameters"]["device_id"]["x-routemq-type"] == "string"
    assert doc["channels"]["counts-n"]["parameters"]["n"]["x-routemq-type"] == "integer"
    assert doc["channels"]["logs-rest"]["address"] == "logs/{rest}"
    assert doc["channels"]["events-plus-seen"]["address"] == "events/+/seen"

    receive = doc["operations"]["receive-sensors-device_id-data"]
    assert receive["bindings"]["mqtt"]["qos"] == 1
    assert receive["x-routemq"] == {
        "shared": True,
        "group": "routemq",
        "subscription": "$share/routemq/sensors/+/data",
        "workerCount": 3,
    }
    assert "reply" in receive and "reply" not in doc["operations"]["receive-logs-rest"]
    assert "reply" not in doc["operations"]["receive-events-plus-seen"]

    messages, schemas = doc["components"]["messages"], doc["components"]["schemas"]
    assert messages["sensors-device_id-data"]["payload"] == {"$ref": "#/components/schemas/Reading"}
    assert schemas["Reading"]["required"] == ["temperature"]
    assert schemas["Reading"]["properties"]["unit"] == {"enum": ["C", "F"]}
    assert messages["sensors-device_id-data-reply"]["payload"] == {
        "$ref": "#/components/schemas/Summary"
    }
    assert messages["logs-rest"]["contentType"] == "application/octet-stream"
    assert schemas["Count"]["properties"]["value"]["type"] == "integer"  # pydantic's own schema
    assert "Position" in schemas


def test_yaml_output_is_the_same_document(typed_app: Path, invoke) -> None:
    as_json = invoke("docs:asyncapi")
    as_yaml = invoke("docs:asyncapi", "--yaml", "-o", "asyncapi.yaml")
    assert as_json.exit_code == 0 and as_yaml.exit_code == 0, as_yaml.output
    path = typed_app / "asyncapi.yaml"
    assert yaml.safe_load(path.read_text()) == json.loads(as_json.output)
    assert errors_of(asyncapi_validate(path)) == []


def test_the_template_app_gives_a_valid_document(generated_app: Path, invoke) -> None:
    result = invoke("docs:asyncapi", "-o", "asyncapi.json")
    assert result.exit_code == 0, result.output
    assert errors_of(asyncapi_validate(generated_app / "asyncapi.json")) == []
    doc = json.loads((generated_app / "asyncapi.json").read_text())
    assert list(doc["channels"]) == ["sensors-device_id-data", "sensors-device_id-data-reply"]
    assert doc["info"]["title"] == generated_app.name


def test_the_parser_reports_a_broken_document(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"asyncapi": "3.0.0", "info": {"title": "x"}}))
    assert errors_of(asyncapi_validate(broken))


def test_outside_an_app_it_fails_with_a_hint(tmp_path: Path, invoke, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("docs:asyncapi")
    assert result.exit_code == 1
    assert "not inside a RouteMQ app" in result.output
