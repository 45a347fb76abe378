"""The assistant's alert rules under deploy/ are well formed and name only series the
gateway exports, with the label values it uses."""

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML (pinned) ships no stubs

from services.assistant_gateway import metrics

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "assistant_alerts.yml"
PROMETHEUS = RULES.parent / "prometheus.yml"


def rules() -> list[dict[str, Any]]:
    [group] = yaml.safe_load(RULES.read_text())["groups"]
    assert group["name"] == "tickets-assistant"
    found: list[dict[str, Any]] = group["rules"]
    return found


def test_the_fallback_alerts_read_the_replies_counter_and_are_loaded() -> None:
    exported = {family.name + "_total" for family in metrics.REPLIES.describe()}
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert set(alerts) == {"TicketsAssistantFallbackReplies", "TicketsAssistantModelDown"}
    for rule in rules():
        names = set(re.findall(r"\btickets_assistant_[a-z_]+", rule["expr"]))
        assert names == exported, rule["expr"]
        kinds = set(re.findall(r'kind=~?"([a-z|]+)"', rule["expr"]))
        assert {k for group in kinds for k in group.split("|")} <= {"model", "fallback"}
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]
        assert alert["annotations"]["description"]
    assert (
        "/etc/prometheus/assistant_alerts.yml"
        in yaml.safe_load(PROMETHEUS.read_text())["rule_files"]
    )
