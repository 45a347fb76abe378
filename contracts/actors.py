"""Who acts: every command carries one; the ticket service decides what it may do."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from contracts.base import WireModel
from contracts.enums import Language

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _check_e164(phone: str) -> str:
    compact = re.sub(r"[\s\-()]", "", phone)
    if not _E164.fullmatch(compact):
        raise ValueError("phone must be in E.164 form, e.g. +34600000001")
    return compact


PhoneNumber = Annotated[
    str,
    Field(max_length=32, examples=["+34600000001"]),
    AfterValidator(_check_e164),
]


class AgentActor(WireModel):
    type: Literal["Agent"] = "Agent"
    id: str = Field(min_length=1, max_length=64, description="The agent's id")


class CustomerActor(WireModel):
    type: Literal["Customer"] = "Customer"
    phone: PhoneNumber
    name: str | None = Field(default=None, max_length=120)
    language: Language | None = None


class SystemActor(WireModel):
    type: Literal["System"] = "System"


Actor = Annotated[AgentActor | CustomerActor | SystemActor, Field(discriminator="type")]
