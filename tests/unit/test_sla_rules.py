"""The Prometheus alert rules under deploy/ name only metrics the SLA monitor exports.

Read line by line (no YAML library is a dependency): every `expr:` is one line."""

import re
from pathlib import Path

from contracts.sla import SlaPolicy
from services.sla_monitor.metrics import sla_metrics

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "sla_alerts.yml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_count", "_sum", "_bucket"), "gauge": ("",)}


def exported_series() -> set[str]:
    metrics = sla_metrics(SlaPolicy())
    series: set[str] = set()
    for collector in vars(metrics).values():
        for family in collector.describe():
            series |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return series


def test_every_rule_uses_exported_series_and_every_alert_is_complete() -> None:
    text = RULES.read_text()
    expressions = re.findall(r"^\s+expr: (.+)$", text, re.MULTILINE)
    alerts = re.findall(r"^\s+- alert: (\w+)$", text, re.MULTILINE)
    assert {"TicketsSlaBreachRateHigh", "TicketsSlaFirstResponseComplianceLow"} <= set(alerts)
    assert len(re.findall(r"^\s+severity: (warning|critical)$", text, re.MULTILINE)) == len(alerts)
    assert len(re.findall(r"^\s+summary: ", text, re.MULTILINE)) == len(alerts)
    exported = exported_series()
    for expression in expressions:
        referenced = set(re.findall(r"\btickets_sla_[a-z_]+", expression))
        assert referenced, expression
        assert referenced <= exported, (expression, referenced - exported)
    compliance = [e for e in expressions if "compliance_ratio" in e]
    assert len(compliance) == 2
    assert all(e.endswith("< 0.95") for e in compliance)
