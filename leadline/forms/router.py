"""``GET /forms/config``: a form's definition for /form.js, only for a page on one of the
site's domains (PulseGate's forms config; see docs/api/forms.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.db import Database
from leadline.errors import LeadlineError
from leadline.forms import service as forms
from leadline.surfaces.pulsegate.envelope import CORS, PREFLIGHT_MAX_AGE, error_parts

_encoder = msgspec.json.Encoder()


def _page_host(request: Request) -> str | None:
    page = request.headers.get("origin") or request.headers.get("referer") or ""
    return urlsplit(page).hostname if page and page != "null" else None


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(payload),
        status_code=status,
        media_type="application/json",
        headers={**CORS, **(headers or {})},
    )


async def form_config(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(
            status_code=204, headers={**CORS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}
        )
    database: Database = request.state.db
    site_key = request.query_params.get("siteKey", "").strip()
    form_id = request.query_params.get("formId", "").strip()
    try:
        async with database.transaction() as session:
            site, form = await forms.form_for_page(session, site_key, form_id, _page_host(request))
    except LeadlineError as exc:
        status, body, headers = error_parts(exc)
        return _json(body, status, headers)
    return _json(
        {
            "site_key": site.site.site_key,
            "form_id": form.form_id,
            "name": form.name,
            "form_json": msgspec.Raw(form.form_json.encode()),
        },
        # The answer depends on the page asking.
        headers={"Cache-Control": "no-cache", "Vary": "Origin, Referer"},
    )


FORM_ROUTES = [Route("/forms/config", form_config, methods=["GET", "OPTIONS"])]
