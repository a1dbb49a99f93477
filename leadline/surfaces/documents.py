"""What the FastAPI surfaces (Octanist, Leadiosa) change in the OpenAPI document FastAPI writes
for them, so that it says what they answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


class SurfaceAPI(FastAPI):
    """A FastAPI app of an API surface. Its document leaves out the 422 FastAPI adds for request
    validation: each surface answers those with 400, in its own envelope, already documented.
    A route's own 422 (in the envelope) stays."""

    def openapi(self) -> dict[str, Any]:
        fresh = self.openapi_schema is None
        schema = super().openapi()  # built once, then cached
        if fresh:
            _drop_default_validation_responses(schema)
        return schema


def _drop_default_validation_responses(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            default = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(default.get("content", "")):
                del operation["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
