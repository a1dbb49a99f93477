"""PulseGate's answers: the CORS headers every response carries and the one mapping of
LeadlineError to its error shape, ``{"error": "..."}`` with the status, used by every PulseGate
route (the tracking handler included)."""

from __future__ import annotations

from leadline.errors import LeadlineError, RateLimited, ServiceUnavailable

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, X-Fingerprint-ID, X-Visitor-ID, Authorization, X-API-Key"
    ),
}
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "86400"


def error_parts(error: LeadlineError) -> tuple[int, dict[str, str], dict[str, str]]:
    """Status, body and extra headers of the answer to ``error``."""
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited) or (
        isinstance(error, ServiceUnavailable) and error.retry_after
    ):
        headers["Retry-After"] = str(error.retry_after)
    return error.status_code, {"error": error.message}, headers
