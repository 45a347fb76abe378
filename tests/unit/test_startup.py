"""Settings errors and unknown variables, worded for the operator who set them."""

import os

import pytest
from openai import AsyncOpenAI

from infra.startup import StartupError, load_settings, unknown_variables


def test_misspelt_variables_are_named_with_the_closest_known_one() -> None:
    warnings = unknown_variables(
        {
            "TICKETS_SLA_TARGETS": "{}",
            "TICKETS_NOTIFIER__CORS_ORIGIN": "*",
            "TICKETS_ZZZZZZZZ": "1",
            "tickets_http_port": "8000",
            "TICKETS_SLA__TARGETS__URGENT__FIRST_RESPONSE": "PT5M",
            "TICKETS_PYTHON": "/usr/bin/python3.13",
            "PATH": "/usr/bin",
        }
    )
    assert warnings == [
        "unknown setting TICKETS_NOTIFIER__CORS_ORIGIN is ignored; "
        "did you mean TICKETS_NOTIFIER__CORS_ORIGINS?",
        "unknown setting TICKETS_SLA_TARGETS is ignored; did you mean TICKETS_SLA__TARGETS?",
        "unknown setting TICKETS_ZZZZZZZZ is ignored",
    ]


def test_every_documented_kind_of_name_is_known() -> None:
    known = {
        "TICKETS_HTTP_PORT": "1",
        "TICKETS_MONGODB_URL": "mongodb://x",
        "TICKETS_SLA__WARNING_RATIO": "0.5",
        "TICKETS_SLA__BUSINESS_HOURS__TIMEZONE": "UTC",
        "TICKETS_SLA_MONITOR__SCAN_BATCH": "10",
        "TICKETS_ASSISTANT__API": "responses",
        "TICKETS_RABBITMQ_WAIT": "60",
    }
    assert unknown_variables(known) == []


def line_for(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StartupError) as raised:
        load_settings()
    return str(raised.value)


def test_json_settings_name_the_variable_and_show_an_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert line_for(monkeypatch, TICKETS_SLA__TARGETS="garbage") == (
        "TICKETS_SLA__TARGETS='garbage': expected JSON, e.g. "
        '{"urgent": {"first_response": "PT10M", "resolution": "PT2H"}}'
    )


def test_a_problem_inside_json_names_the_field_within_it(monkeypatch: pytest.MonkeyPatch) -> None:
    line = line_for(monkeypatch, TICKETS_SLA__TARGETS='{"urgent": {"first_response": "soon"}}')
    assert line == (
        """TICKETS_SLA__TARGETS='{"urgent": {"first_response": "soon"}}': """
        "urgent.first_response: expected a duration: ISO 8601 (PT15M, P3D) or seconds, "
        "urgent.resolution: missing"
    )


def test_several_bad_variables_are_all_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    line = line_for(monkeypatch, TICKETS_HTTP_PORT="x", TICKETS_SLA__WARNING_RATIO="3")
    assert line == (
        "TICKETS_HTTP_PORT='x': expected a valid integer, unable to parse string as an integer; "
        "TICKETS_SLA__WARNING_RATIO='3': expected less than 1"
    )


def test_urls_and_secrets_are_named_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    line = line_for(monkeypatch, RABBITMQ_URL="http://admin:hunter2@broker:5672/")
    assert line == "RABBITMQ_URL: expected amqp[s]://user:password@host[:port]/[vhost]"


def test_a_long_value_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    line = line_for(monkeypatch, TICKETS_LOG_LEVEL="x" * 500)
    assert line.startswith(f"TICKETS_LOG_LEVEL='{'x' * 60}...': expected 'DEBUG'")


def test_empty_optional_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MONGODB_URL"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.openai_base_url is None
    assert settings.openai_api_key is None
    assert settings.mongodb_url is None


def test_an_empty_base_url_does_not_reach_the_openai_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    client = AsyncOpenAI(api_key=settings.openai_api_key, base_url=settings.openai_base_url)
    assert "OPENAI_BASE_URL" not in os.environ
    assert str(client.base_url).startswith("https://")
