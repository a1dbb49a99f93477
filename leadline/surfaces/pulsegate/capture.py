"""``POST /lead.capture`` (and the deprecated ``POST /lead`` and ``POST /``): PulseGate's lead
capture, translated for ``leadline.forms.capture``.

It reads every way a form posts (JSON, urlencoded, multipart, and text/plain from
``sendBeacon``), tells the scripts' own fields from the form's, checks who may send (an
integration key in ``X-API-Key``, or ``siteKey`` + ``formId`` from a page of the site), and
answers a browser's form post with a redirect where the form's rules allow one, and anything
else with JSON.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from leadline.db import Database
from leadline.errors import (
    UnsupportedMediaType,
    ValidationFailed,
)
from leadline.forms import capture, crm
from leadline.forms.writer import CaptureOrder, CaptureWriter
from leadline.http import (
    authenticated,
    json_object_body,
    limited_body,
    refuse_declared_length,
    refuse_nul,
)
from leadline.kit.jsondepth import check_json_depth
from leadline.sites import service as sites
from leadline.sites.cache import CaptureSites
from leadline.surfaces.pulsegate.envelope import (
    CORS,
    PREFLIGHT_MAX_AGE,
    endpoint,
    json_answer,
)
from leadline.surfaces.pulsegate.tracking import COUNTED, note_refusal

SUNSET = "Mon, 01 Jun 2026 00:00:00 GMT"
# The scripts' own fields: read here, never stored as the form's.
_SITE_KEY, _FORM_ID = "siteKey", "formId"
# Where a capture leaves the site key it was sent, for counting its refusal.
_NAMED_SITE = "leadline.capture_site_key"
# The wire names of the visit: the tracker's, and the Octanist pixel's.
_VISITOR, _VISIT, _OCTA_VISIT = "__visitor_id", "__session_id", "octa_sid"
_HONEYPOT, _TTS, _CONSENT = "__pg_hp", "__pg_tts", "__pg_consent"


async def _fields(request: Request) -> tuple[dict[str, Any], bool]:
    """The submitted fields and whether a browser's form sent them (urlencoded or
    multipart, not a script asking for JSON)."""
    refuse_declared_length(request)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=0, max_fields=capture.MAX_FIELDS + 20)
        except Exception as exc:  # python-multipart's and Starlette's parse errors
            raise ValidationFailed(f"the form data cannot be read: {exc}") from None
        values: dict[str, Any] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                continue
            values[name] = [*values[name], value] if name in values else value
        # A script posting form data asks for JSON; a browser's own form post does not.
        wants_json = "application/json" in request.headers.get("accept", "")
        return values, not wants_json
    body = await limited_body(request)
    if kind in ("application/json", "text/plain", ""):
        text = body.decode("utf-8", "replace").strip()
        if kind == "text/plain" and text and not text.startswith("{"):
            return dict(parse_qsl(text, keep_blank_values=True)), False
        check_json_depth(body)
        try:
            # JSON must be UTF-8; only a beacon's urlencoded text is read leniently (above).
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("the body is not UTF-8") from None
        try:
            data = msgspec.json.decode(text) if text else None
        except msgspec.DecodeError:
            raise ValidationFailed("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ValidationFailed("send the fields as a JSON object")
        return data, False
    raise UnsupportedMediaType(
        f"{kind} is not a form body: send JSON, urlencoded, multipart or text/plain"
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _script_field(raw: dict[str, Any], field: str, *, number: bool = False) -> Any:
    """One of the scripts' own fields, taken out of the form's: text, or absent (or, with
    ``number``, a number too). A list (the field sent twice) or any other JSON is refused,
    never read as its Python text."""
    value = raw.pop(field, None)
    if value is None or isinstance(value, str) or (number and _is_number(value)):
        return value
    what = "a string or a number" if number else "a string"
    raise ValidationFailed(f"{field} must be {what}", details={"field": field})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name(raw: dict[str, Any], field: str) -> str:
    """A site key, a form id, a visitor or visit id: text."""
    return _text(_script_field(raw, field))


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(_text(value))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 10**7 else None


async def lead_capture(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(
            status_code=204, headers={**CORS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE}
        )
    deprecated = request.url.path != "/lead.capture"
    extra = (
        {
            "Deprecation": "true",
            "Sunset": SUNSET,
            "Link": '</lead.capture>; rel="successor-version"',
        }
        if deprecated
        else {}
    )
    response = await _answer_capture(request)
    if response.status_code in COUNTED:
        note_refusal(request.scope.get("state", {}), request.scope.get(_NAMED_SITE))
    response.headers.update(extra)
    return response


async def _capture(request: Request) -> Response:
    """The submission answered: the thank-you page for a browser's own post, else JSON."""
    raw, browser_post = await _fields(request)
    # Every kind of body, the scripts' fields too: on PostgreSQL a NUL failed the insert (500).
    refuse_nul(raw)
    site_key = _name(raw, _SITE_KEY)
    # For counting the site's refused captures (see lead_capture).
    request.scope[_NAMED_SITE] = site_key
    form_id = _name(raw, _FORM_ID)
    visitor = _name(raw, _VISITOR)[:64] or None
    named = (_name(raw, _VISIT), _name(raw, _OCTA_VISIT))
    visit = named[0] or named[1] or None
    honeypot = bool(_text(raw.pop(_HONEYPOT, "")))
    # form.js sends the seconds as a number; a form's own post, as text.
    tts = _seconds(_script_field(raw, _TTS, number=True))
    consent = raw.pop(_CONSENT, None)
    if consent is not None and not isinstance(consent, str | bool):
        raise ValidationFailed(f"{_CONSENT} must be true, false or a string")
    contact_consent = (
        None if consent is None else _text(consent).lower() in ("true", "1", "on", "yes")
    )
    fields = capture.submission_fields(
        {name: value for name, value in raw.items() if not str(name).startswith("__")}
    )
    key = request.headers.get("x-api-key")
    client = request.client
    # Who sends, from memory: the key, the site and its form.
    checks: CaptureSites = request.state.capture_sites
    database: Database = request.state.db
    if key:
        sender = await capture.sender_with_key(
            checks, database, await authenticated(request, key), site_key, form_id or None
        )
    else:
        page_host = sites.page_host(request.headers.get("origin"), request.headers.get("referer"))
        sender = await capture.sender_from_page(
            checks, database, site_key, page_host, form_id=form_id, actor=f"form {form_id}"
        )
    writer: CaptureWriter = request.state.capture_writer
    captured = await writer.capture(
        CaptureOrder(
            submission=capture.Submission(
                fields=fields,
                ip=client.host if client else None,
                user_agent=request.headers.get("user-agent"),
                visitor_id=visitor,
                visit_id=visit,
                honeypot=honeypot,
                time_to_submit=tts,
                site_id=sender.site_id,
                contact_consent=contact_consent,
                form_id=form_id or None,
            ),
            settings=request.state.settings,
            sender=sender,
        )
    )
    if browser_post:
        target = capture.redirect_after_post(sender, request.headers.get("referer"))
        if target is not None:
            return RedirectResponse(target, status_code=303, headers=CORS)
    # The same answer whatever became of it: a bot learns nothing from it.
    return json_answer({"success": True, "submission_id": captured.submission_id})


def _secret(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return request.headers.get("x-api-key")


def _crm_endpoint(webhook: bool, work: Any) -> Any:
    """A route the CRM (or Make.com) calls with its secret and a JSON body."""

    async def callback(request: Request) -> Response:
        crm.check_secret(request.state.settings, _secret(request), webhook=webhook)
        body = await json_object_body(request)
        database: Database = request.state.db
        async with database.transaction() as session:
            answer = await work(session, body)
        return json_answer(answer)

    return endpoint(callback)


async def _crm_callback(session: Any, body: dict[str, Any]) -> dict[str, Any]:
    submission = await crm.crm_callback(session, body)
    return {"ok": True, "submission_id": submission.id, "lead_id": submission.lead_id}


async def _make_callback(session: Any, body: dict[str, Any]) -> dict[str, Any]:
    submission = await crm.make_callback(session, body)
    return {"ok": True, "submission_id": submission.id, "lead_id": submission.lead_id}


# The capture with its errors answered: the deprecation headers go on errors too.
_answer_capture = endpoint(_capture)

CAPTURE_ROUTES = [
    Route("/lead.capture/crm-callback", _crm_endpoint(False, _crm_callback), methods=["POST"]),
    Route("/lead.capture/make-callback", _crm_endpoint(False, _make_callback), methods=["POST"]),
    Route("/webhooks/crm/lead", _crm_endpoint(True, crm.crm_webhook), methods=["POST"]),
    Route("/lead.capture", lead_capture, methods=["POST", "OPTIONS"]),
    Route("/lead", lead_capture, methods=["POST"]),
    Route("/", lead_capture, methods=["POST"]),
]
