import logging

import pytest

from routemq_runtime import Config, ConfigError


def test_defaults_without_any_environment():
    config = Config.from_env(env_file=None, environ={})
    assert config.mqtt_broker == "localhost"
    assert config.mqtt_port == 1883
    assert config.mqtt_group_name == "routemq"
    assert config.worker_count is None
    assert config.health_port is None


def test_typed_values_from_the_environment():
    config = Config.from_env(
        env_file=None,
        environ={
            "MQTT_BROKER": "broker.local",
            "MQTT_PORT": "8883",
            "MQTT_PROTOCOL": "3.1.1",
            "MQTT_TLS": "yes",
            "WORKER_COUNT": "4",
            "WORKER_AUTO_SCALE": "true",
            "WORKER_MIN_COUNT": "2",
            "WORKER_MAX_COUNT": "8",
            "ROUTEMQ_LOG_LEVEL": "debug",
            "ROUTEMQ_HEALTH_PORT": "8080",
            "ROUTEMQ_RETRY_BASE_DELAY": "0.1",
        },
    )
    assert config.mqtt_broker == "broker.local"
    assert config.mqtt_port == 8883
    assert config.mqtt_protocol == "3.1.1"
    assert config.mqtt_tls is True
    assert (config.worker_count, config.worker_auto_scale) == (4, True)
    assert (config.worker_min_count, config.worker_max_count) == (2, 8)
    assert config.log_level == "DEBUG" and config.log_level_number == logging.DEBUG
    assert config.health_port == 8080
    assert config.retry_base_delay == 0.1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MQTT_PORT": "eighty"}, "MQTT_PORT='eighty' is not an integer"),
        ({"MQTT_PORT": "0"}, "MQTT_PORT='0' must be between 1 and 65535"),
        ({"MQTT_PORT": "70000"}, "MQTT_PORT='70000' must be between 1 and 65535"),
        ({"WORKER_COUNT": "-1"}, "WORKER_COUNT='-1' must be at least 1"),
        ({"WORKER_MIN_COUNT": "0"}, "WORKER_MIN_COUNT='0' must be at least 1"),
        ({"WORKER_MIN_COUNT": "5", "WORKER_MAX_COUNT": "2"}, "WORKER_MIN_COUNT=5 is greater"),
        ({"ROUTEMQ_LOG_LEVEL": "loud"}, "ROUTEMQ_LOG_LEVEL='loud' must be one of"),
        ({"MQTT_PROTOCOL": "4"}, "MQTT_PROTOCOL='4' must be one of 5, 3.1.1"),
        ({"WORKER_AUTO_SCALE": "maybe"}, "WORKER_AUTO_SCALE='maybe' is not a boolean"),
        ({"ROUTEMQ_RETRY_BASE_DELAY": "-1"}, "ROUTEMQ_RETRY_BASE_DELAY='-1' must be at least"),
        ({"ROUTEMQ_DRAIN_TIMEOUT": "soon"}, "ROUTEMQ_DRAIN_TIMEOUT='soon' is not a number"),
        ({"MQTT_BROKER": "  "}, "MQTT_BROKER='  ' must not be empty"),
        ({"MQTT_TLS_CERT_FILE": "/c.pem"}, "must be set together"),
        ({"ROUTEMQ_HEALTH_PORT": "http"}, "ROUTEMQ_HEALTH_PORT='http' is not an integer"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env_file=None, environ=env)
    assert message in str(caught.value)


def test_every_bad_variable_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        Config.from_env(
            env_file=None,
            environ={"MQTT_PORT": "x", "WORKER_COUNT": "y", "ROUTEMQ_LOG_LEVEL": "z"},
        )
    assert len(caught.value.problems) == 3


def test_dotenv_is_loaded_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MQTT_BROKER=from-dotenv\nMQTT_PORT=1999\n# comment\n")
    config = Config.from_env(env_file=env_file, environ={"MQTT_PORT": "2000"})
    assert config.mqtt_broker == "from-dotenv"
    assert config.mqtt_port == 2000


def test_bad_value_in_dotenv_names_the_variable(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WORKER_MAX_COUNT=lots\n")
    with pytest.raises(ConfigError, match="WORKER_MAX_COUNT='lots' is not an integer"):
        Config.from_env(env_file=env_file, environ={})


def test_secret_from_file_variable(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    config = Config.from_env(env_file=None, environ={"MQTT_PASSWORD_FILE": str(secret)})
    assert config.mqtt_password == "hunter2"


def test_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="MQTT_PASSWORD_FILE=.* cannot be read"):
        Config.from_env(env_file=None, environ={"MQTT_PASSWORD_FILE": str(tmp_path / "nope")})


def test_password_never_appears_in_repr_str_or_redacted_view(caplog):
    config = Config(mqtt_username="worker", mqtt_password="hunter2")
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)
    assert config.redacted()["MQTT_PASSWORD"] == "***"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s %r %s", config, config, config.redacted())
    assert "hunter2" not in caplog.text


def test_bad_password_value_is_not_echoed(tmp_path):
    # Even an error message about a secret must not print it.
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env_file=None, environ={"MQTT_PASSWORD": "hunter2", "MQTT_PORT": "x"})
    assert "hunter2" not in str(caught.value)


def test_direct_construction_checks_cross_field_rules():
    with pytest.raises(ConfigError, match="WORKER_MIN_COUNT=3 is greater than WORKER_MAX_COUNT=2"):
        Config(worker_min_count=3, worker_max_count=2)
