"""``POST /api/integrations/incoming/wp/{siteKey}/``: form submissions from Octanist's
WordPress plugin (reference 1.6), taken as lead capture with source ``wordpress``.

The plugin posts, from the visitor's browser (``sendBeacon`` or ``fetch``), the form's fields
as its settings map them, plus ``cookies``, ``domain``, ``path`` and ``timestamp``. No API key:
the site key names the site and the page must be on one of its domains.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadline.forms import capture
from leadline.leads.schemas import LeadSource
from leadline.surfaces.octanist import incoming
from leadline.surfaces.octanist import schemas as s
from leadline.surfaces.octanist.router import ERROR_RESPONSES, Session

router = APIRouter()
# What the plugin adds besides the form's fields.
_PLUGIN_FIELDS = ("cookies", "domain", "path", "timestamp")


def cookie_attribution(cookies: Any) -> tuple[dict[str, str], str | None]:
    """Click IDs in the page's cookies (Google's ``_gcl_aw``, Meta's ``_fbp`` and ``_fbc``)
    and the Octanist pixel's session (``octa_sid``). ``cookies`` is an object or a
    ``document.cookie`` string."""
    if isinstance(cookies, str):
        pairs = (part.split("=", 1) for part in cookies.split(";") if "=" in part)
        jar = {name.strip(): value.strip() for name, value in pairs}
    elif isinstance(cookies, dict):
        jar = {str(name): str(value) for name, value in cookies.items() if value is not None}
    else:
        jar = {}
    found: dict[str, str] = {}
    gcl = jar.get("_gcl_aw", "")
    if gcl.count(".") >= 2:  # GCL.<time>.<gclid>
        found["gclid"] = gcl.split(".", 2)[2][:512]
    for cookie, name in (("_fbp", "fbp"), ("_fbc", "fbc")):
        if jar.get(cookie):
            found[name] = jar[cookie][:512]
    return found, (jar.get("octa_sid") or None)


@router.post(
    "/integrations/incoming/wp/{site_key}/",
    response_model=s.ReceivedSubmissionEnvelope,
    responses={**ERROR_RESPONSES, 400: {"model": s.ErrorEnvelope}},
    tags=["integrations"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": True}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
@router.post("/integrations/incoming/wp/{site_key}", include_in_schema=False)
async def wordpress_submission(request: Request, session: Session, site_key: str) -> Response:
    """A form submission from the WordPress plugin; it becomes a lead (source ``wordpress``)
    or joins its lead, as ``POST /lead.capture`` does."""
    body = await incoming.json_object(request, "the form's fields")
    attribution, visit_id = cookie_attribution(body.get("cookies"))
    attribution.update(incoming.page_attribution(body.get("domain"), body.get("path")))
    fields = capture.submission_fields(
        {name: value for name, value in body.items() if name not in _PLUGIN_FIELDS}
    )
    return await incoming.capture_from_page(
        request,
        session,
        site_key,
        fields=fields,
        attribution=attribution,
        visit_id=visit_id,
        source=LeadSource.WORDPRESS,
        actor="wordpress plugin",
    )
