"""The REST API's envelopes, as a client reads them: `{"success": true, "data": ...}` or
`{"success": false, "error": "<message>", "code": "<code>", "details"?}`."""

from typing import Literal

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(description="The field at fault (`body` for the whole body)")
    message: str


class ErrorEnvelope(BaseModel):
    """Every failure of every route: a readable message and a stable code."""

    success: Literal[False] = False
    error: str = Field(description="What went wrong, for a person")
    code: str = Field(
        description="Stable code: `validation`, `unauthorized`, `forbidden`, `not_found`, "
        "`invalid_transition`, `conflict`, `rate_limited`, `payload_too_large`, "
        "`unavailable`, `internal`, ...",
        examples=["not_found"],
    )
    details: list[FieldProblem] | None = Field(
        default=None, description="`validation`: each field and its problem"
    )
