"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Strict wire model: unknown fields are refused so nothing is mass-assigned."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready dict with the customer's camelCase names."""
        return self.model_dump(mode="json", by_alias=True)


class StoredModel(BaseModel):
    """Like WireModel but tolerant of fields a newer writer added (stored documents)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
