"""Every Prometheus series the code can export, for checking the rules and dashboards
under deploy/ against it."""

from prometheus_client import REGISTRY

from contracts.sla import SlaPolicy
from infra import metrics as _process_metrics  # noqa: F401 - registers its series
from services.sla_monitor.metrics import sla_metrics
from tickets.cli import SERVICES, load_service

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_count", "_sum", "_bucket", "_created"),
    "gauge": ("",),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_series() -> set[str]:
    for name in SERVICES:
        load_service(name)  # imports the service's modules, which register their metrics
    sla_metrics(SlaPolicy())  # created on first start, with the policy's buckets
    series: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("tickets_"):
            series |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return series
