"""The statistics the demo prints at the end, from `GET /api/v2/tickets/statistics`."""

from typing import Any


def _duration(milliseconds: object) -> str:
    if not isinstance(milliseconds, int | float):
        return "-"
    seconds = milliseconds / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _percent(figure: object) -> str:
    value = figure.get("percent") if isinstance(figure, dict) else None
    return "-" if value is None else f"{value:g}%"


def statistics_lines(report: dict[str, Any]) -> list[str]:
    statuses = report.get("byStatus", {})
    counted = ", ".join(f"{status} {count}" for status, count in statuses.items() if count)
    sla = report.get("sla", {})
    return [
        f"tickets: {report.get('total', 0)} ({counted or 'none'})",
        f"average first response {_duration(report.get('avgFirstResponseTime'))}, "
        f"resolution {_duration(report.get('avgResolutionTime'))}",
        f"SLA met: first response {_percent(sla.get('firstResponse'))}, "
        f"resolution {_percent(sla.get('resolution'))}; "
        f"reopen rate {_percent(report.get('reopenRate'))}",
    ]
