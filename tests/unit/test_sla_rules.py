"""The Prometheus alert rules under deploy/ are well formed and name only metrics the SLA
monitor exports."""

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML (pinned) ships no stubs

from contracts.sla import SlaPolicy
from services.sla_monitor.metrics import sla_metrics

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "sla_alerts.yml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_count", "_sum", "_bucket"), "gauge": ("",)}
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")
"""`level:metric:operations`, Prometheus' recording-rule naming convention."""


def exported_series() -> set[str]:
    metrics = sla_metrics(SlaPolicy())
    series: set[str] = set()
    for collector in vars(metrics).values():
        for family in collector.describe():
            series |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return series


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    [group] = document["groups"]
    assert group["name"] == "tickets-sla"
    found: list[dict[str, Any]] = group["rules"]
    return found


def test_every_rule_uses_exported_series_and_every_alert_is_complete() -> None:
    exported = exported_series()
    alerts = [r for r in rules() if "alert" in r]
    records = [r for r in rules() if "record" in r]
    assert {a["alert"] for a in alerts} >= {
        "TicketsSlaBreachRateHigh",
        "TicketsSlaUrgentBreach",
        "TicketsSlaFirstResponseComplianceLow",
        "TicketsSlaResolutionComplianceLow",
        "TicketsSlaScannerStalled",
    }
    assert len(alerts) + len(records) == len(rules())
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert
        assert alert["annotations"]["summary"], alert
        assert alert["annotations"]["description"], alert
    for record in records:
        assert RECORD_NAME.fullmatch(record["record"]), record
    for rule in rules():
        referenced = set(re.findall(r"\btickets_sla_[a-z_]+", rule["expr"]))
        assert referenced, rule
        assert referenced <= exported, (rule["expr"], referenced - exported)
    compliance = [a["expr"] for a in alerts if "compliance_ratio" in a["expr"]]
    assert len(compliance) == 2
    assert all(e.endswith("< 0.95") for e in compliance)
