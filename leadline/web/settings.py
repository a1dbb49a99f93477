"""The Settings pages: keys, marketing keys, tokens, people and invites, sites and their
snippets, forms, webhooks, IP lists, consent and retention.

This module has the index and the access settings: API keys, marketing keys, people's tokens,
people and their invites, and the invite link's own page (for someone not signed in yet).
Every page takes the settings area (owners and admins); the rules of who may do what are the
services', the same the APIs and the command line go through. A secret (a new key, a
regenerated one, an invite link) is in the answer to the form that made it and nowhere else.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts import service as accounts
from leadline.accounts.service import SignedIn
from leadline.auth import service as auth
from leadline.auth.pages import DEFAULT_MARKETING_PAGES, PAGES
from leadline.auth.roles import PERSON_ROLES, Role
from leadline.errors import Forbidden, ValidationFailed
from leadline.models import ApiKey
from leadline.people import service as people
from leadline.people import tokens as people_tokens
from leadline.web import access, fields
from leadline.web.access import FORM_COOKIE, SIGNIN_COOKIE, page
from leadline.web.rendering import render

AREA = "settings"
# The keys the keys page shows and makes; marketing keys have their own page.
WORKSPACE_KEY_ROLES = (Role.ADMIN, Role.INTEGRATION)
TOKENS_SHOWN = 200
LONGEST_SECONDS = int(accounts.LONGEST.total_seconds())
FORM_COOKIE_SECONDS = 24 * 3600

# Every settings page, for the index: path under /app/settings, title, what it is for.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("/keys", "API keys", "Admin and integration keys for the APIs: create, see use, revoke."),
    (
        "/marketing-keys",
        "Marketing keys",
        "Keys that read chosen analytics pages, with personal data masked.",
    ),
    ("/tokens", "Tokens", "Your own tokens for the Leadiosa API, and the workspace's."),
    ("/people", "People", "Members, their roles and pages; invite someone by link."),
    ("/sites", "Sites", "Sites and their domains, with the tracking snippet to copy."),
    ("/webhooks", "Webhooks", "Where events are sent, with the log of deliveries."),
    ("/addresses", "IP lists", "Addresses whose visits are blocked or always allowed."),
    ("/privacy", "Consent and retention", "How consent is asked for and how long data is kept."),
    ("/widget", "Chat widget", "The snippet for your pages; identity verification and its secret."),
    (
        "/assistant",
        "AI replies",
        "The assistant that answers from the knowledge base: provider, mode.",
    ),
)


def _settings(who: SignedIn) -> None:
    access.require_area(who, AREA)


def _pages_chosen(form: FormData) -> list[str]:
    chosen = [value for value in form.getlist("pages") if isinstance(value, str)]
    if any("\x00" in value or len(value) > 64 for value in chosen):
        raise ValidationFailed("a page is not one of the list", details={"field": "pages"})
    return chosen


def _to(request: Request, path: str) -> Response:
    return RedirectResponse(access.base(request) + "/settings" + path, status_code=303)


# ------------------------------------------------------------------------------ index


@page
async def index(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Every settings page, with a line on each."""
    _settings(who)
    return render(request, "settings/index.html", {"sections": SECTIONS})


# ------------------------------------------------------------------------------ API keys


def _key_role(value: str) -> Role:
    if value not in {role.value for role in WORKSPACE_KEY_ROLES}:
        raise ValidationFailed("choose an admin or an integration key", details={"field": "role"})
    return Role(value)


async def _keys_page(
    request: Request, session: AsyncSession, who: SignedIn, *, created: object = None
) -> Response:
    keys: list[ApiKey] = []
    for role in WORKSPACE_KEY_ROLES:
        keys.extend(await auth.keys_of(session, who.workspace.id, role))
    keys.sort(key=lambda key: (key.created_at, key.id), reverse=True)
    return render(
        request,
        "settings/keys.html",
        {
            "keys": keys,
            "roles": [role.value for role in WORKSPACE_KEY_ROLES],
            "created": created,
        },
        status_code=201 if created else 200,
    )


@page
async def keys(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's admin and integration keys (their prefix only)."""
    _settings(who)
    return await _keys_page(request, session, who)


@page
async def create_key(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A new key, its secret shown in this answer only."""
    _settings(who)
    form = await request.form()
    role = _key_role(fields.text(form, "role", 1000).strip())
    auth.require_powers_of_key(who.principal, role)
    issued = await auth.issue_key(
        session,
        who.workspace,
        role=role.value,
        name=fields.text(form, "name", 300).strip() or None,
        actor=who.principal.actor,
    )
    return await _keys_page(request, session, who, created=issued)


@page
async def revoke_key(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Revoke a key: refused by the APIs from the next request on."""
    _settings(who)
    form = await request.form()
    key_id = request.path_params["key_id"]
    role = _key_role(fields.text(form, "role", 1000).strip())
    key = await auth.key_of(session, who.workspace.id, key_id, role)
    auth.require_powers_of_key(who.principal, Role(key.role))
    await auth.revoke_key_of(session, who.workspace.id, key_id, role, who.principal.actor)
    return _to(request, "/keys")


# ------------------------------------------------------------------------ marketing keys


async def _marketing_page(
    request: Request, session: AsyncSession, who: SignedIn, *, shown: object = None, what: str = ""
) -> Response:
    found = await auth.keys_of(session, who.workspace.id, Role.MARKETING)
    found.sort(key=lambda key: (key.created_at, key.id), reverse=True)
    listed = [
        (key, auth.pages_of_key(key) or DEFAULT_MARKETING_PAGES, auth.pages_of_key(key) is None)
        for key in found
    ]
    return render(
        request,
        "settings/marketing_keys.html",
        {
            "listed": listed,
            "pages": PAGES,
            "default_pages": DEFAULT_MARKETING_PAGES,
            "shown": shown,
            "what": what,
        },
        status_code=201 if shown and what == "created" else 200,
    )


@page
async def marketing_keys(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Marketing keys with the analytics pages each opens."""
    _settings(who)
    return await _marketing_page(request, session, who)


@page
async def create_marketing_key(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    form = await request.form()
    issued = await auth.issue_key(
        session,
        who.workspace,
        role=Role.MARKETING.value,
        name=fields.text(form, "name", 300).strip() or None,
        actor=who.principal.actor,
        pages=_pages_chosen(form),
    )
    return await _marketing_page(request, session, who, shown=issued, what="created")


@page
async def change_marketing_key(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Set the pages a marketing key opens: effective from its next request."""
    _settings(who)
    form = await request.form()
    await auth.change_key(
        session,
        who.workspace.id,
        request.path_params["key_id"],
        Role.MARKETING,
        who.principal.actor,
        pages=_pages_chosen(form),
    )
    return _to(request, "/marketing-keys")


@page
async def regenerate_marketing_key(
    request: Request, session: AsyncSession, who: SignedIn
) -> Response:
    """A new secret for a marketing key; the old one is refused from now on."""
    _settings(who)
    issued = await auth.regenerate_key(
        session, who.workspace, request.path_params["key_id"], Role.MARKETING, who.principal.actor
    )
    return await _marketing_page(request, session, who, shown=issued, what="regenerated")


@page
async def delete_marketing_key(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    await auth.revoke_key_of(
        session,
        who.workspace.id,
        request.path_params["key_id"],
        Role.MARKETING,
        who.principal.actor,
    )
    return _to(request, "/marketing-keys")


# ------------------------------------------------------------------------------ tokens


async def _tokens_page(
    request: Request, session: AsyncSession, who: SignedIn, *, shown: object = None, what: str = ""
) -> Response:
    principal = who.principal
    mine = await people_tokens.list_tokens(
        session, principal, person_id=who.person.id, limit=TOKENS_SHOWN
    )
    members = await people.of_workspace(session, who.workspace.id)
    names = {person.id: person for person in members}
    everyone = None
    if who.role is Role.OWNER or who.role is Role.ADMIN:
        listed = await people_tokens.list_tokens(session, principal, limit=TOKENS_SHOWN)
        everyone = [key for key in listed.tokens if key.person_id != who.person.id]
    operators = [
        person
        for person in members
        if people.is_operator(person) and people.holds_every_power_of(principal, Role(person.role))
    ]
    return render(
        request,
        "settings/tokens.html",
        {
            "mine": mine.tokens,
            "everyone": everyone,
            "names": names,
            "operators": operators,
            "shown": shown,
            "what": what,
            "most": TOKENS_SHOWN,
            "viewer_person_id": who.person.id,
        },
        status_code=201 if shown and what == "created" else 200,
    )


@page
async def tokens(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The signed-in person's tokens, and the workspace's other people's."""
    _settings(who)
    return await _tokens_page(request, session, who)


@page
async def create_token(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    form = await request.form()
    person_id = fields.text(form, "person_id", 64).strip() or who.person.id
    created = await people_tokens.create(
        session,
        who.principal,
        person_id=person_id,
        name=fields.text(form, "name", 300).strip() or None,
    )
    return await _tokens_page(request, session, who, shown=created.issued, what="created")


@page
async def rotate_token(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    issued = await people_tokens.rotate(session, who.principal, request.path_params["token_id"])
    return await _tokens_page(request, session, who, shown=issued, what="rotated")


@page
async def delete_token(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    await people_tokens.revoke(session, who.principal, request.path_params["token_id"])
    return _to(request, "/tokens")


# ------------------------------------------------------------------------------ people


async def _people_page(
    request: Request, session: AsyncSession, who: SignedIn, *, invited: str = ""
) -> Response:
    members = await people.of_workspace(session, who.workspace.id)
    pending = await accounts.pending_invites(session, who.principal)
    return render(
        request,
        "settings/people.html",
        {
            "members": [(person, people.analytics_pages(person)) for person in members],
            "pending": [(link, people.own_pages(link.pages)) for link in pending],
            "roles": [role.value for role in PERSON_ROLES],
            "pages": PAGES,
            "default_pages": DEFAULT_MARKETING_PAGES,
            "invited": invited,
            "valid_days": accounts.INVITE_VALID.days,
            "viewer_person_id": who.person.id,
        },
        status_code=201 if invited else 200,
    )


@page
async def people_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Members with their role and availability, and pending invites."""
    _settings(who)
    return await _people_page(request, session, who)


def _role_and_pages(form: FormData) -> tuple[str, list[str] | None]:
    role = fields.text(form, "role", 20).strip()
    return role, _pages_chosen(form) if role == Role.MARKETING.value else None


@page
async def change_person(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Change a person's role (and a marketing person's pages)."""
    _settings(who)
    role, pages = _role_and_pages(await request.form())
    await people.update(
        session, who.principal, request.path_params["person_id"], role=role, pages=pages
    )
    return _to(request, "/people")


@page
async def remove_person(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    await people.remove(session, who.principal, request.path_params["person_id"])
    return _to(request, "/people")


@page
async def create_invite(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A one-time invite link, shown in this answer only."""
    _settings(who)
    form = await request.form()
    role, pages = _role_and_pages(form)
    invited = await accounts.invite(
        session,
        who.principal,
        email=fields.text(form, "email", 320).strip(),
        role=role,
        pages=pages,
    )
    link = f"{fields.origin(request)}{access.base(request)}/invite?token={invited.token}"
    return await _people_page(request, session, who, invited=link)


@page
async def revoke_invite(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _settings(who)
    await accounts.revoke_invite(session, who.principal, request.path_params["invite_id"])
    return _to(request, "/people")


# ------------------------------------------------------------------------------ accepting


def _invite_form(
    request: Request, context: dict[str, object], *, status_code: int = 200
) -> Response:
    """The invite's form for someone not signed in, with the CSRF token of this browser's
    form cookie (set now when it has none)."""
    secret, new = access.form_secret(request)
    request.state.csrf = access.csrf_token(secret)
    response = render(request, "settings/invite.html", context, status_code=status_code)
    if new:
        access.set_cookie(request, response, FORM_COOKIE, secret, FORM_COOKIE_SECONDS)
    return response


async def invite(request: Request) -> Response:
    """The invite link's page: the invitee sets their name and password and is signed in."""
    token = request.query_params.get("token", "")
    async with access.database(request).transaction() as session:
        link, workspace = await accounts.invite_of(session, token)
    context: dict[str, object] = {
        "token": token,
        "workspace": workspace,
        "email": link.email,
        "role": link.role,
        "error": "",
        "error_field": "",
        "name": "",
    }
    if request.method in access.SAFE_METHODS:
        return _invite_form(request, context)
    if not await access.csrf_sent_right(request, request.cookies.get(FORM_COOKIE)):
        raise Forbidden("this form has expired: reload the page and try again")
    form = await request.form()
    name = fields.text(form, "name", 200).strip()
    try:
        async with access.database(request).transaction() as session:
            started = await accounts.accept_invite(
                session,
                token,
                name=name,
                password=fields.text(form, "password"),
                password_again=fields.text(form, "password_again"),
                ip=access.client_ip(request),
                user_agent=access.user_agent(request),
            )
    except ValidationFailed as exc:
        return _invite_form(
            request,
            {
                **context,
                "name": name,
                "error": exc.message,
                "error_field": (exc.details or {}).get("field", ""),
            },
            status_code=400,
        )
    response = RedirectResponse(access.base(request) + "/", status_code=303)
    access.set_cookie(request, response, SIGNIN_COOKIE, started.secret, LONGEST_SECONDS)
    return response


ROUTES: list[BaseRoute] = [
    Route("/settings", index, methods=["GET"]),
    Route("/settings/keys", keys, methods=["GET"]),
    Route("/settings/keys", create_key, methods=["POST"]),
    Route("/settings/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route("/settings/marketing-keys", marketing_keys, methods=["GET"]),
    Route("/settings/marketing-keys", create_marketing_key, methods=["POST"]),
    Route("/settings/marketing-keys/{key_id}/pages", change_marketing_key, methods=["POST"]),
    Route(
        "/settings/marketing-keys/{key_id}/regenerate", regenerate_marketing_key, methods=["POST"]
    ),
    Route("/settings/marketing-keys/{key_id}/delete", delete_marketing_key, methods=["POST"]),
    Route("/settings/tokens", tokens, methods=["GET"]),
    Route("/settings/tokens", create_token, methods=["POST"]),
    Route("/settings/tokens/{token_id}/rotate", rotate_token, methods=["POST"]),
    Route("/settings/tokens/{token_id}/delete", delete_token, methods=["POST"]),
    Route("/settings/people", people_page, methods=["GET"]),
    Route("/settings/people/{person_id}/role", change_person, methods=["POST"]),
    Route("/settings/people/{person_id}/remove", remove_person, methods=["POST"]),
    Route("/settings/invites", create_invite, methods=["POST"]),
    Route("/settings/invites/{invite_id}/revoke", revoke_invite, methods=["POST"]),
    Route("/invite", invite, methods=["GET", "POST"]),
]
