"""Every alert rule under deploy/prometheus is complete and names only series the code
exports; `promtool` (installed by scripts/bootstrap.sh where apt can fetch it) checks the
files as Prometheus itself would."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (pinned) ships no stubs

from tests.support.exported import exported_series

PROMETHEUS = Path(__file__).parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("*_alerts.yml"))
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")
SERIES = re.compile(r"\btickets_[a-z_]+\b")
PROMTOOL = shutil.which("promtool") or str(Path(__file__).parents[2] / ".venv" / "bin" / "promtool")


def rules_of(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_ops_rules_cover_every_failure_mode() -> None:
    alerts = {rule["alert"] for rule in rules_of(PROMETHEUS / "ops_alerts.yml") if "alert" in rule}
    assert alerts == {
        "TicketsProcessDown",
        "TicketsDependencyDown",
        "TicketsHttpErrorsHigh",
        "TicketsHttpSlow",
        "TicketsConsumerFailing",
        "TicketsDeadLetters",
        "TicketsQueueBacklog",
        "TicketsQueueWithoutConsumers",
        "TicketsOutboxStuck",
        "TicketsWebhooksDead",
    }


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_is_complete_and_names_exported_series(path: Path) -> None:
    exported = exported_series()
    for rule in rules_of(path):
        if "record" in rule:
            assert RECORD_NAME.fullmatch(rule["record"]), rule
        else:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule
            assert rule["annotations"]["summary"], rule
            assert rule["annotations"]["description"], rule
        named = set(SERIES.findall(rule["expr"]))
        assert named or "up{" in rule["expr"], rule
        assert named <= exported, (rule.get("alert") or rule.get("record"), named - exported)


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rules(path: Path) -> None:
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
@pytest.mark.parametrize(
    "path", sorted((PROMETHEUS / "tests").glob("*_test.yml")), ids=lambda p: p.name
)
def test_each_alert_fires_on_its_failure_and_stays_quiet_otherwise(path: Path) -> None:
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
