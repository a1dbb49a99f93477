"""What the dashboard's handlers read from a request, checked the same way on every page: a
form's text fields (a NUL character or an over-long value is refused, naming the field), an
id from the path, the app's settings, and the origin the snippets point at."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from leadline.config import Settings
from leadline.errors import NotFound, ValidationFailed

# Ids are short: a longer one (or one with a NUL) names nothing, whatever the table.
LONGEST_ID = 64


def text(form: FormData, name: str, longest: int | None = None) -> str:
    """The field as typed (an absent or non-text field is empty)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise ValidationFailed(f"{name} holds a NUL character", details={"field": name})
    if longest is not None and len(value) > longest:
        raise ValidationFailed(
            f"{name} is longer than {longest:,} characters", details={"field": name}
        )
    return value


def path_id(request: Request, name: str) -> str:
    """An id from the path; one no row can have is simply not found."""
    value: str = request.path_params[name]
    if "\x00" in value or len(value) > LONGEST_ID:
        raise NotFound("there is nothing at this address")
    return value


def app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def origin(request: Request) -> str:
    """Where this app is reached, as the browser asked for it."""
    return f"{request.url.scheme}://{request.url.netloc}"
