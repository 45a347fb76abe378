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
        description="First-response and resolution targets per priority (ISO 8601 durations "
        "or seconds); priorities left out keep their defaults",
        examples=[{"urgent": {"first_response": "PT10M", "resolution": "PT2H"}}],
    )
    warning_ratio: float = Field(
        default=0.8, gt=0, lt=1, description="Warning point as a share of each target"
    )
    auto_close_after: timedelta = Field(
        default=timedelta(hours=24),
        description="Quiet period before a resolved ticket closes (ISO 8601 or seconds)",
    )
    reopen_window: timedelta = Field(
        default=timedelta(days=7),
        description="A customer message this soon after closing reopens the ticket; later "
        "opens a linked follow-up",
    )
    business_hours: BusinessCalendar | None = Field(
        default=None,
        description="Calendar the targets count in (weekly hours, holidays, time zone); "
        "unset: 24x7",
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
