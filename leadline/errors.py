"""The one error hierarchy. Services raise these; each surface maps them to its envelope once."""

from __future__ import annotations

from typing import Any


class LeadlineError(Exception):
    """Base of every error a caller may see. ``code`` is stable; ``message`` is for people."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class ValidationFailed(LeadlineError):
    status_code = 400
    code = "validation_error"


class InvalidFilter(ValidationFailed):
    code = "invalid_filter"


class InvalidDate(ValidationFailed):
    code = "invalid_date"


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


class Unauthorized(LeadlineError):
    status_code = 401
    code = "unauthorized"


class Forbidden(LeadlineError):
    status_code = 403
    code = "forbidden"


class NotFound(LeadlineError):
    """``resource`` names what was not found (``"job"``), for surfaces whose codes say it."""

    status_code = 404
    code = "not_found"

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.resource = resource


class MethodNotAllowed(LeadlineError):
    """``allowed`` lists the methods the resource answers (the ``Allow`` header)."""

    status_code = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(
            f"{method} is not allowed here; use {', '.join(allowed)}",
            details={"allowed": allowed},
        )
        self.allowed = allowed


class Conflict(LeadlineError):
    status_code = 409
    code = "conflict"


class ErasedPerson(Conflict):
    """A lead from someone the workspace erased, which it chose to refuse."""

    code = "erased_person"


class LastOwner(Conflict):
    """Demoting the workspace's only owner, which would leave it without one."""

    code = "last_owner"


class WorkspaceClosed(Conflict):
    """The caller's workspace is closed: it keeps its data for reading until it is purged, and
    takes no change until its owner restores it."""

    code = "workspace_closed"


class WorkspaceNotClosed(Conflict):
    """Restoring a workspace that is not closed."""

    code = "workspace_not_closed"


class RestorePeriodOver(Conflict):
    """Restoring a closed workspace after its retention period: it is being purged."""

    code = "restore_period_over"


class Unprocessable(LeadlineError):
    """The request is well-formed but cannot be carried out as it stands."""

    status_code = 422
    code = "unprocessable"


class InvalidTransition(Unprocessable):
    """A status change the resource's current status does not allow (a spam conversation
    closed without being reopened first)."""

    code = "invalid_transition"


class ConversationClosed(Conflict):
    """A closed conversation cannot take this change (an assignee) until it is reopened."""

    code = "conversation_closed"


class PayloadTooLarge(ValidationFailed):
    status_code = 413
    code = "payload_too_large"


class HeadersTooLarge(ValidationFailed):
    status_code = 431
    code = "request_header_fields_too_large"


class UnsupportedMediaType(ValidationFailed):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(LeadlineError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(LeadlineError):
    status_code = 503
    code = "service_unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after
