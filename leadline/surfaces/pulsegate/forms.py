"""``GET /forms/config``: a form's definition for /form.js, only for a page on one of the
site's domains (PulseGate's forms config; see docs/api/forms.md)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.db import Database
from leadline.sites import forms
from leadline.sites import service as sites
from leadline.surfaces.pulsegate.envelope import (
    CORS,
    PREFLIGHT_MAX_AGE,
    endpoint,
    json_answer,
)


async def form_config(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(
            status_code=204, headers={**CORS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}
        )
    database: Database = request.state.db
    site_key = request.query_params.get("siteKey", "").strip()
    form_id = request.query_params.get("formId", "").strip()
    async with database.transaction() as session:
        site, form = await forms.form_for_page(
            session,
            site_key,
            form_id,
            sites.page_host(request.headers.get("origin"), request.headers.get("referer")),
        )
    return json_answer(
        {
            "site_key": site.site.site_key,
            "form_id": form.form_id,
            "name": form.name,
            "form_json": msgspec.Raw(form.form_json.encode()),
        },
        # The answer depends on the page asking.
        headers={"Cache-Control": "no-cache", "Vary": "Origin, Referer"},
    )


FORM_ROUTES = [Route("/forms/config", endpoint(form_config), methods=["GET", "OPTIONS"])]
