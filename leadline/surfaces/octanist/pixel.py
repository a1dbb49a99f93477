"""``POST /api/integrations/incoming/pixel/{siteKey}/``: the forms the Octanist pixel captures
(``data-forms="true"``) or is handed (``OCT.submitLeadForm``), taken as lead capture with source
``inbound``.

``/pf.js`` posts ``{fields, formIdentifier, path, title, sessionId, domain}`` from the
visitor's browser (``sendBeacon``: text/plain). It leaves out passwords, card data, captcha
answers and CSRF tokens; so does this route, again, for any client (``forms.sensitive``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadline.errors import ValidationFailed
from leadline.forms import capture, sensitive
from leadline.leads.schemas import LeadSource
from leadline.surfaces.octanist import incoming
from leadline.surfaces.octanist import schemas as s
from leadline.surfaces.octanist.router import ERROR_RESPONSES, Session

router = APIRouter()

# The body's text members and the longest value each may have.
_TEXTS = {
    "formIdentifier": 64,
    "path": 2048,
    "title": 512,
    "sessionId": capture.MAX_VISIT_ID,
    "domain": 512,
}

_BODY_SCHEMA = {
    "type": "object",
    "required": ["fields"],
    "properties": {
        "fields": {
            "type": "object",
            "description": "The form's fields, name to value (a list for several values).",
            "additionalProperties": True,
        },
        **{
            name: {"type": ["string", "null"], "maxLength": limit} for name, limit in _TEXTS.items()
        },
    },
}


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", details={"field": name})
    if len(value) > _TEXTS[name]:
        raise ValidationFailed(
            f"{name} is {len(value)} characters; at most {_TEXTS[name]} are accepted",
            details={"field": name},
        )
    return value.strip() or None


@router.post(
    "/integrations/incoming/pixel/{site_key}/",
    response_model=s.ReceivedSubmissionEnvelope,
    responses={**ERROR_RESPONSES, 400: {"model": s.ErrorEnvelope}},
    tags=["integrations"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _BODY_SCHEMA},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
@router.post("/integrations/incoming/pixel/{site_key}", include_in_schema=False)
async def pixel_submission(request: Request, session: Session, site_key: str) -> Response:
    """A form the Octanist pixel sent from a page of the site; it becomes a lead (source
    ``inbound``) or joins its lead, as ``POST /lead.capture`` does, with the attribution of the
    pixel's visit when ``sessionId`` names one."""
    body = await incoming.json_object(request, "{fields, formIdentifier, path, title, ...}")
    raw = body.get("fields")
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "fields must be a JSON object of the form's fields", details={"field": "fields"}
        )
    texts = {name: _text(body, name) for name in _TEXTS}
    fields = sensitive.fields_to_keep(raw)
    return await incoming.capture_from_page(
        request,
        session,
        site_key,
        fields=fields,
        attribution=incoming.page_attribution(texts["domain"], texts["path"]),
        visit_id=texts["sessionId"],
        source=LeadSource.INBOUND,
        actor="octanist pixel",
        form_id=texts["formIdentifier"],
    )
