"""Security checks: no secret in logs or endpoints, TLS really used, safe generated app files."""

from __future__ import annotations

import datetime
import ipaddress
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.catalogue.test_catalogue import PASSWORD, make_app, password_broker
from tests.support.apps import clean_env, launch, run_argv
from tests.support.mosquitto import Mosquitto
from tests.support.polling import wait_for
from tests.support.publishing import NumberedPublisher
from tests.support.supervised import Supervised, http_get

RECORDING_ROUTER = """\
import os

from routemq_runtime import Router

router = Router()


async def record(payload):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(f"{payload['id']}\\n")


router.on("secure/{name}", record, qos=1)
"""


def running_app(app: Path, env: dict[str, str], log: Path) -> Supervised:
    """``python -m routemq_runtime run`` of an app dir, on a health port of its own."""
    return launch(run_argv(app), env, app, log)


def stop(run: Supervised) -> int:
    code, _ = run.stop(20, whole_group=True)
    run.cleanup()
    return code


def publish(broker: Mosquitto, topic: str, ids: range, **options: Any) -> None:
    with NumberedPublisher(broker, **options) as publisher:
        publisher.publish(topic, ids)


def recording_app(tmp_path: Path) -> tuple[Path, Path]:
    app = make_app(tmp_path / "app")
    (app / "app" / "routers" / "ok.py").write_text(RECORDING_ROUTER)
    return app, tmp_path / "records.txt"


def recorded(path: Path) -> set[int]:
    return {int(x) for x in path.read_text().split()} if path.exists() else set()


# ------------------------------------------------------------------------- secrets in logs


@pytest.mark.integration
@pytest.mark.parametrize("transport", ["native", "paho"])
def test_the_password_appears_in_no_log_line_or_endpoint(mosquitto_factory, tmp_path, transport):
    """A real login at DEBUG (the clients' packet logs included): the password is nowhere."""
    broker = password_broker(mosquitto_factory, tmp_path)
    app, records = recording_app(tmp_path)
    env = clean_env(
        MQTT_BROKER=broker.host,
        MQTT_PORT=str(broker.port),
        MQTT_USERNAME="worker",
        MQTT_PASSWORD=PASSWORD,
        ROUTEMQ_LOG_LEVEL="DEBUG",
        ROUTEMQ_APP_NAME="secret",
        RECORD_FILE=str(records),
        MQTT_TRANSPORT=transport,
    )
    run = running_app(app, env, tmp_path / "app.log")
    try:
        run.wait_ready()
        publish(broker, "secure/a", range(5), credentials=("worker", PASSWORD))
        wait_for(lambda: recorded(records) == set(range(5)), 10, "5 handled messages")
        endpoints = b"".join(http_get(run.port, p)[1] for p in ("/livez", "/readyz", "/metrics"))
    finally:
        code = stop(run)
    output = run.output()
    assert code == 0, output
    login = {"paho": "Sending CONNECT (u1, p1", "native": "username 'worker', password ***"}
    assert login[transport] in output, "the DEBUG packet log of the login was captured"
    assert PASSWORD not in output
    assert PASSWORD.encode() not in endpoints


def test_secrets_are_masked_whoever_logs_them(capsys):
    """A handler or library that logs the password by mistake gets it masked."""
    code = (
        "import logging\n"
        "from routemq_runtime.config import Config\n"
        "from routemq_runtime.log import configure_from_config\n"
        f"config = Config(mqtt_username='w', mqtt_password={PASSWORD!r}, log_level='DEBUG')\n"
        "configure_from_config(config, worker='w')\n"
        "log = logging.getLogger('app.controller')\n"
        f"log.debug('connecting with %s', {PASSWORD!r})\n"
        "log.info('config %r / %s / %s', config, config, config.redacted())\n"
        "log.warning(f'inline {config.mqtt_password}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), check=True
    )
    assert result.stderr.count("***") >= 3, result.stderr
    assert PASSWORD not in result.stderr


# ------------------------------------------------------------------------- TLS


def _certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key_pair():
        return ec.generate_private_key(ec.SECP256R1())

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def write(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        path.chmod(0o644)  # read by mosquitto's own user
        return path

    def pem_key(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def ca(label: str):
        key = key_pair()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(name(label))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    def leaf(ca_key, ca_cert, label: str, usage, san=None):
        key = key_pair()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca_key, ca_cert = ca("routemq test CA")
    _, other_ca = ca("some other CA")
    server_key, server_cert = leaf(
        ca_key,
        ca_cert,
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key, client_cert = leaf(ca_key, ca_cert, "worker", ExtendedKeyUsageOID.CLIENT_AUTH)
    return {
        "ca": write(directory / "ca.pem", ca_cert.public_bytes(pem)),
        "other_ca": write(directory / "other-ca.pem", other_ca.public_bytes(pem)),
        "server_cert": write(directory / "server.pem", server_cert.public_bytes(pem)),
        "server_key": write(directory / "server.key", pem_key(server_key)),
        "client_cert": write(directory / "client.pem", client_cert.public_bytes(pem)),
        "client_key": write(directory / "client.key", pem_key(client_key)),
    }


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """mosquitto with only a TLS listener on loopback that demands a client certificate."""
    broker = Mosquitto()
    files = _certificates(broker.workdir)
    broker.extra_config = "\n".join(
        [
            f"cafile {files['ca']}",
            f"certfile {files['server_cert']}",
            f"keyfile {files['server_key']}",
            "require_certificate true",
        ]
    )
    broker.start()
    yield broker, files
    broker.cleanup()


@pytest.mark.integration
def test_tls_ca_and_client_certificate_reach_paho(tls_broker, tmp_path):
    broker, files = tls_broker
    app, records = recording_app(tmp_path)
    env = clean_env(
        MQTT_BROKER=broker.host,
        MQTT_PORT=str(broker.port),
        MQTT_TLS="true",
        MQTT_TLS_CA_FILE=str(files["ca"]),
        MQTT_TLS_CERT_FILE=str(files["client_cert"]),
        MQTT_TLS_KEY_FILE=str(files["client_key"]),
        ROUTEMQ_APP_NAME="tls",
        RECORD_FILE=str(records),
    )
    run = running_app(app, env, tmp_path / "app.log")
    try:
        # The broker demands a client certificate signed by the CA and the worker checks the
        # broker's against the CA file: ready means both files were used.
        run.wait_ready()
        publish(
            broker,
            "secure/tls",
            range(3),
            tls={
                "ca": str(files["ca"]),
                "cert": str(files["client_cert"]),
                "key": str(files["client_key"]),
            },
        )
        wait_for(lambda: recorded(records) == {0, 1, 2}, 10, "3 messages over TLS")
    finally:
        assert stop(run) == 0, run.output()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("wrong_ca", "certificate verify failed"),
        ("no_client_cert", "reconnecting in"),
    ],
)
def test_tls_is_verified_and_a_refused_handshake_is_retried(
    tls_broker, tmp_path, variant, expected
):
    broker, files = tls_broker
    app, _ = recording_app(tmp_path)
    env = clean_env(
        MQTT_BROKER=broker.host,
        MQTT_PORT=str(broker.port),
        MQTT_TLS="true",
        MQTT_TLS_CA_FILE=str(files["other_ca" if variant == "wrong_ca" else "ca"]),
        ROUTEMQ_APP_NAME=f"tls-{variant.replace('_', '-')}",
        RECORD_FILE=str(tmp_path / "records.txt"),
    )
    if variant == "wrong_ca":
        env |= {
            "MQTT_TLS_CERT_FILE": str(files["client_cert"]),
            "MQTT_TLS_KEY_FILE": str(files["client_key"]),
        }
    run = running_app(app, env, tmp_path / "app.log")
    try:
        wait_for(lambda: expected in run.output(), 10, f"{expected!r} in the log")
        time.sleep(0.5)
        assert http_get(run.port, "/readyz")[0] == 503
        assert run.process.poll() is None, "a refused handshake is retried, not fatal"
    finally:
        stop(run)
    assert "Traceback" not in run.output()


def test_tls_files_that_cannot_be_loaded_are_refused_before_start(tls_broker, tmp_path):
    _, files = tls_broker
    app = make_app(tmp_path / "app")
    env = clean_env(
        MQTT_TLS="true",
        MQTT_TLS_CA_FILE=str(files["ca"]),
        MQTT_TLS_CERT_FILE=str(files["client_cert"]),
        MQTT_TLS_KEY_FILE=str(files["server_key"]),  # not this certificate's key
    )
    result = subprocess.run(
        [sys.executable, "-m", "routemq_runtime", "run", "--app-dir", str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2, result.stderr
    assert "MQTT_TLS_CERT_FILE=" in result.stderr and "MQTT_TLS_KEY_FILE=" in result.stderr
    assert "do not load as a certificate and its key" in result.stderr


# ------------------------------------------------------------------------- generated files


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    # Docker matches root-relative paths: `*` stays within one level, `**` spans levels.
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "(/.*)?")  # a matched directory excludes what it holds


def _dockerignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if _docker_pattern(body.strip("/")).fullmatch(path):
            ignored = not negated
    return ignored


@pytest.mark.template
def test_generated_image_runs_as_non_root_and_never_contains_dot_env(rendered_app):
    dockerfile = (rendered_app / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "the Dockerfile sets no USER (it would run as root)"
    final_user = users[-1].split(":")[0]
    assert final_user not in ("root", "0"), users
    last_from = dockerfile.rindex("\nFROM ")
    assert dockerfile.rindex("\nUSER ") > last_from, "USER must be set in the final stage"

    patterns = [
        line.strip()
        for line in (rendered_app / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert (rendered_app / ".env").exists(), "the app has a .env that must stay out of images"
    for secret in (".env", ".env.local", ".env.production", "client.key"):
        assert _dockerignored(patterns, secret), f"{secret} would be sent to the image build"
    assert not _dockerignored(patterns, "main.py")
    assert not re.search(r"^(COPY|ADD)\s.*\.env", dockerfile, re.MULTILINE)

    deployment = yaml.safe_load((rendered_app / "k8s" / "deployment.yaml").read_text())
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security.get("runAsUser", 1) != 0


@pytest.mark.template
def test_k8s_secret_example_holds_placeholders_only(rendered_app):
    documents = list(yaml.safe_load_all((rendered_app / "k8s" / "secret.example.yaml").read_text()))
    secrets = [d for d in documents if d and d.get("kind") == "Secret"]
    assert secrets, "the example Secret is missing"
    for secret in secrets:
        values = {**secret.get("stringData", {}), **secret.get("data", {})}
        assert values, "an example Secret without keys shows nothing"
        for key, value in values.items():
            assert re.fullmatch(r"(REPLACE[-_]ME|<[^>]+>|)", str(value)), (
                f"{key} holds {value!r}, not a placeholder"
            )
    kustomization = yaml.safe_load((rendered_app / "k8s" / "kustomization.yaml").read_text())
    applied = kustomization.get("resources", [])
    assert "secret.example.yaml" not in applied, "the example must not be applied as is"
