"""What the routes a site's own pages post to (``/integrations/incoming/...``: the WordPress
plugin's and the pixel's form capture) share: reading the body, the page's website and path,
and taking the submission as lead capture from a page of the site.

No API key: the site key in the path names the site, and the page (``Origin``, or ``Referer``)
must be on one of its domains. Every answer under the prefix carries the CORS headers of
:class:`leadline.http.PageCorsMiddleware`, so the page can read it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from leadline.db import Database
from leadline.errors import ValidationFailed
from leadline.forms import capture
from leadline.http import json_object_body
from leadline.kit.urls import parse_url
from leadline.leads.schemas import LeadSource
from leadline.sites import service as sites
from leadline.sites.cache import CaptureSites
from leadline.surfaces.octanist.envelope import success

PREFIX = "/integrations/incoming/"
# Any page may read the answers (they carry nothing the page did not send); JSON bodies need
# Content-Type, which takes a preflight, while sendBeacon's text/plain does not.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}
PREFLIGHT_MAX_AGE = "86400"


async def json_object(request: Request, what: str) -> dict[str, Any]:
    """The body as a JSON object, whatever Content-Type it came with (``sendBeacon`` sends
    text/plain); ``what`` says what the object should hold, for the error."""
    return await json_object_body(request, f"{what} as a JSON object")


def page_attribution(domain: Any, path: Any) -> dict[str, str]:
    """The lead's ``website`` and ``path`` from the page's domain (a host, or an origin) and
    path, when given. A tracked visit's own attribution wins over them; one that does not
    parse is refused, whether or not the lead it joins keeps it."""
    found: dict[str, str] = {}
    if isinstance(domain, str) and domain.strip():
        host = domain.strip()
        found["website"] = (host if "://" in host else f"https://{host}")[:512]
    if isinstance(path, str) and path.strip():
        found["path"] = path.strip()[:2048]
    for name, value in found.items():
        if parse_url(value) is None:
            field = "domain" if name == "website" else name
            raise ValidationFailed(f"{field} does not parse as a URL", details={"field": field})
    return found


async def capture_from_page(
    request: Request,
    session: AsyncSession,
    site_key: str,
    *,
    fields: dict[str, str],
    attribution: dict[str, str],
    visit_id: str | None,
    source: LeadSource,
    actor: str,
    form_id: str | None = None,
) -> Response:
    """Check that the request comes from a page of the site, keep the submission and make or
    join its lead; answer in the Octanist envelope."""
    checks: CaptureSites = request.state.capture_sites
    database: Database = request.state.db
    sender = await capture.sender_from_page(
        checks,
        database,
        site_key,
        sites.page_host(request.headers.get("origin"), request.headers.get("referer")),
        form_id=None,
        actor=actor,
    )
    captured = await capture.capture(
        session,
        sender,
        capture.Submission(
            fields=fields,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            visit_id=visit_id,
            site_id=sender.site_id,
            form_id=form_id,
            attribution=attribution,
            source=source,
        ),
        request.state.settings,
    )
    return success(request, {"message": "Lead received", "submissionId": captured.submission_id})
