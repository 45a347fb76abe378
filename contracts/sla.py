"""SLA targets per priority (configurable) and the business-hours calendar they use."""

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from contracts.calendar import BusinessCalendar
from contracts.enums import Priority


class SlaTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    first_response: timedelta
    resolution: timedelta


def _default_targets() -> dict[Priority, SlaTarget]:
    return {
        Priority.URGENT: SlaTarget(
            first_response=timedelta(minutes=15), resolution=timedelta(hours=4)
        ),
        Priority.HIGH: SlaTarget(first_response=timedelta(hours=1), resolution=timedelta(hours=24)),
        Priority.MEDIUM: SlaTarget(first_response=timedelta(hours=4), resolution=timedelta(days=3)),
        Priority.LOW: SlaTarget(first_response=timedelta(hours=24), resolution=timedelta(days=7)),
    }


class SlaPolicy(BaseModel):
    """Targets, warning point, quiet periods and calendar: everything the due times depend on.

    Loaded from `TICKETS_SLA__...` settings; the defaults are the customer's plan.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: dict[Priority, SlaTarget] = Field(
        default_factory=_default_targets,
        examples=[{"urgent": {"first_response": "PT10M", "resolution": "PT2H"}}],
    )
    warning_ratio: float = Field(default=0.8, gt=0, lt=1)
    auto_close_after: timedelta = timedelta(hours=24)
    reopen_window: timedelta = timedelta(days=7)
    business_hours: BusinessCalendar | None = Field(
        default=None,
        examples=[
            {
                "timezone": "Europe/Madrid",
                "weekly_hours": {"0": [{"start": "09:00", "end": "18:00"}]},
                "holidays": ["2026-12-25"],
            }
        ],
    )

    def target(self, priority: Priority) -> SlaTarget:
        return self.targets.get(priority) or _default_targets()[priority]
