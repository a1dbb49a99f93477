"""Leadiosa request and response shapes, as the OpenAPI document describes them.

Empty optional fields are left out of answers rather than sent as null, so optional fields are
typed ``X | SkipJsonSchema[None]``: the document says "a string, when present", not "string or
null".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

# ------------------------------------------------------------------------------ envelope


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, snake_case: `validation_error`, `job_not_found`, ...")
    message: str = Field(description="For people; names the field or parameter at fault.")
    request_id: str = Field(description="Also sent as X-Request-ID; quote it when reporting.")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class Pagination(BaseModel):
    has_more: bool
    next_cursor: str | SkipJsonSchema[None] = Field(
        default=None, description="Pass as `after` for the next page; absent on the last page."
    )


_INTEGER: dict[str, Any] = {"schema": {"type": "integer"}}
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {"description": "Requests the key may make per minute.", **_INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in the window.", **_INTEGER},
    "X-RateLimit-Reset": {
        "description": "When the oldest request counted leaves the window (epoch seconds).",
        **_INTEGER,
    },
}
_ERRORS = {
    400: "Validation error; the message names the field or parameter.",
    401: "Missing or invalid Authorization header.",
    403: "The token's role does not allow this.",
    404: "Not found, or not in this workspace.",
    409: "Conflict with the resource's current state.",
    413: "Request body too large.",
    422: "Well-formed, but cannot be processed.",
    429: "Rate limited; see Retry-After.",
    431: "The request's headers are too many (over 100) or too long (over 16 KB).",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: the rate-limit headers on its success, and these
    error statuses in the error envelope (400, 401, 403, 431 among them, and 429 with
    Retry-After): any request may be refused for its query string or its headers."""
    out: dict[int | str, dict[str, Any]] = {200: {"headers": RATE_LIMIT_HEADERS}}
    for status in sorted({*statuses, 400, 401, 403, 429, 431}):
        headers = {} if status == 401 else dict(RATE_LIMIT_HEADERS)
        if status == 429:
            headers["Retry-After"] = {"description": "Seconds to wait.", **_INTEGER}
        out[status] = {"model": ErrorEnvelope, "description": _ERRORS[status], "headers": headers}
    return out


# --------------------------------------------------------------------------------- audit


class AuditActor(BaseModel):
    type: Literal["key", "user", "cli", "system"]
    id: str | SkipJsonSchema[None] = None


class AuditTarget(BaseModel):
    type: str
    id: str | SkipJsonSchema[None] = None


class AuditChange(BaseModel):
    before: Any = Field(default=None, description="Absent when the field was not set.")
    after: Any = Field(default=None, description="Absent when the field is no longer set.")


class AuditEvent(BaseModel):
    id: str
    seq: int = Field(description="Place in the workspace's hash chain: 1, 2, 3, ...")
    occurred_at: datetime
    actor: AuditActor
    action: str = Field(examples=["job.replayed"])
    target: AuditTarget
    changes: dict[str, AuditChange] | SkipJsonSchema[None] = None
    ip: str | SkipJsonSchema[None] = None
    user_agent: str | SkipJsonSchema[None] = None
    request_id: str | SkipJsonSchema[None] = None
    hash: str
    prev_hash: str


class AuditList(BaseModel):
    data: list[AuditEvent]
    pagination: Pagination


# ---------------------------------------------------------------------------------- jobs

# The states of leadline.jobs.repository.STATES (a test holds them equal).
JobState = Literal["queued", "running", "succeeded", "dead"]


class Job(BaseModel):
    id: str
    kind: str
    state: JobState
    attempts: int
    max_attempts: int
    payload: dict[str, Any] | SkipJsonSchema[None] = None
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | SkipJsonSchema[None] = None
    last_error: str | SkipJsonSchema[None] = None


class JobList(BaseModel):
    data: list[Job]
    pagination: Pagination


class JobEnvelope(BaseModel):
    data: Job


class ReplayAll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = Field(
        default=None, min_length=1, max_length=64, description="Only dead jobs of this kind."
    )


class Replayed(BaseModel):
    replayed: int = Field(description="How many dead jobs were queued again.")


class ReplayedEnvelope(BaseModel):
    data: Replayed
