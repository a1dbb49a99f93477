"""Signing in to the dashboard, through the ASGI app: the first owner's setup link, passwords,
the limits on failed attempts, the cookie, CSRF, signing out, and who may open what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from leadline.accounts import attempts
from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.web.router import ROUTES
from tests.fixtures.factories import execute_sql, fetch_rows, make_site
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    csrf_of,
    make_member,
    make_setup_token,
    sign_in,
)

OWNER = "owner@example.com"
# Argon2 with its real cost takes up to a second a hash on a busy machine; these tests check
# what is done with passwords, tests/accounts/test_passwords.py how they are hashed.
pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def browser_client(settings: Settings) -> Iterator[TestClient]:
    """A second client on the same app and database: another browser."""
    with TestClient(create_app(settings)) as other:
        yield other


def _setup_form(client: TestClient, token: str) -> str:
    page = client.get(f"/app/setup?token={token}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _setup(client: TestClient, token: str, csrf: str, **fields: str) -> httpx.Response:
    data = {
        "csrf_token": csrf,
        "name": "Ada Lovelace",
        "email": "Ada@Example.com",
        "password": "a long enough secret",
        "password_again": "a long enough secret",
        **fields,
    }
    return client.post(f"/app/setup?token={token}", data=data, follow_redirects=False)


# ------------------------------------------------------------------------------ setup


def test_the_setup_link_makes_the_first_owner_once(client: TestClient, settings: Settings) -> None:
    token = make_setup_token(settings)
    assert token is not None
    csrf = _setup_form(client, token)
    answer = _setup(client, token, csrf)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/"
    home = client.get("/app/")
    assert home.status_code == 200
    assert "Welcome, Ada Lovelace" in home.text
    assert "<dd>owner</dd>" in home.text
    [person] = fetch_rows(settings, "SELECT email, role FROM people")
    assert person == {"email": "ada@example.com", "role": "owner"}
    # Only a hash of the token is kept, and it works once.
    [link] = fetch_rows(settings, "SELECT token_hash, used_at FROM one_time_links")
    assert token not in link["token_hash"]
    assert link["used_at"] is not None
    assert client.get(f"/app/setup?token={token}").status_code == 404
    again = _setup(client, token, csrf, email="eve@example.com")
    assert again.status_code == 404
    assert len(fetch_rows(settings, "SELECT id FROM people")) == 1
    # Once someone exists, no new link is made.
    assert make_setup_token(settings) is None


def test_a_new_setup_link_retires_the_older_one(client: TestClient, settings: Settings) -> None:
    first = make_setup_token(settings)
    second = make_setup_token(settings)
    assert first
    assert second
    assert first != second
    assert client.get(f"/app/setup?token={first}").status_code == 404
    assert client.get(f"/app/setup?token={second}").status_code == 200


@pytest.mark.parametrize("token", ["", "nope", "x" * 200])
def test_an_unknown_setup_token_is_refused(client: TestClient, token: str) -> None:
    page = client.get(f"/app/setup?token={token}")
    assert page.status_code == 404
    assert "used or has expired" in page.text


def test_setup_says_what_is_wrong_and_makes_no_one(client: TestClient, settings: Settings) -> None:
    token = make_setup_token(settings)
    assert token is not None
    csrf = _setup_form(client, token)
    different = _setup(client, token, csrf, password_again="another long secret")
    assert different.status_code == 400
    assert "not the same" in different.text
    short = _setup(client, token, csrf, password="short", password_again="short")
    assert "at least 10 characters" in short.text
    assert 'aria-invalid="true"' in short.text
    bad_email = _setup(client, token, csrf, email="not an address")
    assert bad_email.status_code == 400
    assert fetch_rows(settings, "SELECT id FROM people") == []
    # The link still works after refusals.
    assert _setup(client, token, csrf).status_code == 303


def test_setup_without_the_forms_csrf_token_is_refused(
    client: TestClient, settings: Settings
) -> None:
    token = make_setup_token(settings)
    assert token is not None
    _setup_form(client, token)
    answer = _setup(client, token, "0" * 64)
    assert answer.status_code == 403
    assert fetch_rows(settings, "SELECT id FROM people") == []


# ------------------------------------------------------------------------------ signing in


def _try(client: TestClient, email: str, password: str) -> httpx.Response:
    csrf = csrf_of(client.get("/app/signin").text)
    return client.post(
        "/app/signin",
        data={"csrf_token": csrf, "email": email, "password": password},
        follow_redirects=False,
    )


def test_signing_in_with_the_right_password(client: TestClient, settings: Settings) -> None:
    make_member(settings, "acme", OWNER, role="owner", name="Grace")
    answer = _try(client, "  OWNER@example.com ", PASSWORD)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("leadline_signin=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/app" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    secret = cookie.split(";")[0].split("=", 1)[1]
    [row] = fetch_rows(settings, "SELECT id FROM signins")
    assert secret not in row["id"]  # only its digest is kept
    home = client.get("/app/")
    assert home.status_code == 200
    assert "Welcome, Grace" in home.text
    assert "acme" in home.text
    # Signed in, the sign-in page sends them on.
    assert client.get("/app/signin", follow_redirects=False).status_code == 303


def test_the_cookie_is_secure_over_https(settings: Settings) -> None:
    make_member(settings, "acme", OWNER)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        answer = _try(client, OWNER, PASSWORD)
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (OWNER, "not the password"),
        ("nobody@example.com", PASSWORD),
        ("not an address", PASSWORD),
        (OWNER, ""),
        (OWNER, "x" * 5000),
    ],
)
def test_a_wrong_password_or_address_is_refused_alike(
    client: TestClient, settings: Settings, email: str, password: str
) -> None:
    make_member(settings, "acme", OWNER)
    answer = _try(client, email, password)
    assert answer.status_code == 401
    assert "do not match an account" in answer.text
    assert "leadline_signin" not in answer.headers.get("set-cookie", "")
    assert fetch_rows(settings, "SELECT id FROM signins") == []


def test_a_person_without_a_password_cannot_sign_in(client: TestClient, settings: Settings) -> None:
    from tests.fixtures.people import make_person

    make_person(settings, "acme", "nopass@example.com")
    assert _try(client, "nopass@example.com", "").status_code == 401


@pytest.mark.parametrize(
    ("wanted", "lands"),
    [
        ("/app/signins", "/app/signins"),
        ("//evil.example/app/", "/app/"),
        ("https://evil.example/app/", "/app/"),
        ("/app//evil.example", "/app/"),
        ("/app/\\evil", "/app/"),
        ("/api/leads", "/app/"),
    ],
)
def test_after_signing_in_only_a_dashboard_path_is_followed(
    client: TestClient, settings: Settings, wanted: str, lands: str
) -> None:
    make_member(settings, "acme", OWNER)
    csrf = csrf_of(client.get("/app/signin").text)
    answer = client.post(
        "/app/signin",
        data={"csrf_token": csrf, "email": OWNER, "password": PASSWORD, "next": wanted},
        follow_redirects=False,
    )
    assert answer.headers["location"] == lands


def test_an_anonymous_page_request_goes_to_the_sign_in_page_and_back(
    client: TestClient, settings: Settings
) -> None:
    answer = client.get("/app/signins?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/signin?next=/app/signins%3Fx%3D1"
    form = client.get(answer.headers["location"])
    assert 'name="next" value="/app/signins?x=1"' in form.text


def test_sign_in_without_the_forms_csrf_token_is_refused(
    client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER)
    # No form cookie at all (a page on another site posting the form).
    fresh = client.post("/app/signin", data={"email": OWNER, "password": PASSWORD})
    assert fresh.status_code == 403
    client.get("/app/signin")
    wrong = client.post(
        "/app/signin", data={"csrf_token": "0" * 64, "email": OWNER, "password": PASSWORD}
    )
    assert wrong.status_code == 403
    assert fetch_rows(settings, "SELECT id FROM signins") == []


def test_an_expired_setup_link_is_refused(client: TestClient, settings: Settings) -> None:
    token = make_setup_token(settings)
    execute_sql(settings, "UPDATE one_time_links SET expires_at = :t", t=utcnow())
    assert client.get(f"/app/setup?token={token}").status_code == 404


def _near(stored: object, expected: datetime) -> bool:
    """Whether a stored time (text on SQLite) is within a minute of ``expected``."""
    when = stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return abs(when - expected) < timedelta(minutes=1)


def test_a_sign_in_ends_when_unused_or_too_old_and_moves_on_while_used(
    client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER)
    sign_in(client)
    # Used after a while: it ends a full idle period from now.
    long_ago = utcnow() - timedelta(days=3)
    execute_sql(settings, "UPDATE signins SET last_seen_at = :t, created_at = :t", t=long_ago)
    assert client.get("/app/").status_code == 200
    [row] = fetch_rows(settings, "SELECT expires_at FROM signins")
    assert _near(row["expires_at"], utcnow() + timedelta(days=7))
    # Never past the longest a sign-in lives.
    old = utcnow() - timedelta(days=29)
    execute_sql(settings, "UPDATE signins SET last_seen_at = :t, created_at = :t", t=old)
    assert client.get("/app/").status_code == 200
    [row] = fetch_rows(settings, "SELECT expires_at FROM signins")
    assert _near(row["expires_at"], old + timedelta(days=30))
    # Past its end it is no one's, and goes.
    execute_sql(settings, "UPDATE signins SET expires_at = :t", t=utcnow())
    assert client.get("/app/", follow_redirects=False).status_code == 303
    assert fetch_rows(settings, "SELECT id FROM signins") == []


def test_a_deleted_person_is_signed_out(client: TestClient, settings: Settings) -> None:
    person = make_member(settings, "acme", OWNER)
    sign_in(client)
    execute_sql(settings, "DELETE FROM audit_events WHERE target_id = :p", p=person)
    execute_sql(settings, "DELETE FROM people WHERE id = :p", p=person)
    assert client.get("/app/", follow_redirects=False).status_code == 303
    assert fetch_rows(settings, "SELECT id FROM signins") == []


# ------------------------------------------------------------------------------ limits


def test_failures_for_one_account_are_limited(client: TestClient, settings: Settings) -> None:
    make_member(settings, "acme", OWNER)
    make_member(settings, "acme", "other@example.com")
    for _ in range(attempts.PER_ACCOUNT):
        assert _try(client, OWNER, "wrong password").status_code == 401
    # Now even the right password is refused, with when to come back.
    limited = _try(client, OWNER, PASSWORD)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "too many failed sign-ins" in limited.text.lower()
    # The same address typed differently is the same account.
    assert _try(client, " Owner@Example.com", PASSWORD).status_code == 429
    # Another account from the same address is not limited yet.
    assert _try(client, "other@example.com", PASSWORD).status_code == 303


def test_failures_from_one_ip_are_limited(client: TestClient, settings: Settings) -> None:
    make_member(settings, "acme", OWNER)
    for n in range(attempts.PER_IP):
        assert _try(client, f"guess{n}@example.com", "wrong").status_code == 401
    assert _try(client, OWNER, PASSWORD).status_code == 429


# ------------------------------------------------------------------------------ CSRF


def test_a_change_without_the_csrf_token_is_refused(client: TestClient, settings: Settings) -> None:
    make_member(settings, "acme", OWNER)
    csrf = sign_in(client)
    for refused in (
        client.post("/app/signout", follow_redirects=False),
        client.post("/app/signout", data={"csrf_token": "0" * 64}, follow_redirects=False),
        client.post(
            "/app/signout",
            # The last character changed (to one it is not).
            headers={"X-CSRF-Token": csrf[:-1] + ("1" if csrf[-1] == "0" else "0")},
            follow_redirects=False,
        ),
        # Another browser's token is not this one's.
        client.post(
            "/app/signout-everywhere",
            data={"csrf_token": csrf_of_other_browser(settings)},
            follow_redirects=False,
        ),
    ):
        assert refused.status_code == 403
        assert "form has expired" in refused.text
    assert client.get("/app/").status_code == 200  # still signed in
    # htmx sends it in a header.
    done = client.post("/app/signout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert done.status_code == 303


def csrf_of_other_browser(settings: Settings) -> str:
    with TestClient(create_app(settings)) as other:
        return sign_in(other)


# ------------------------------------------------------------------------------ signing out


def test_signing_out_ends_this_browsers_sign_in_only(
    client: TestClient, browser_client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER)
    csrf = sign_in(client)
    sign_in(browser_client)
    answer = client.post("/app/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/signin"
    assert 'leadline_signin=""' in answer.headers["set-cookie"]
    assert client.get("/app/", follow_redirects=False).status_code == 303
    assert browser_client.get("/app/").status_code == 200
    assert len(fetch_rows(settings, "SELECT id FROM signins")) == 1


def test_signing_out_everywhere_ends_every_sign_in_of_the_person(
    client: TestClient, browser_client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER)
    make_member(settings, "acme", "colleague@example.com")
    csrf = sign_in(client)
    sign_in(browser_client)
    with TestClient(create_app(settings)) as colleague:
        sign_in(colleague, "colleague@example.com")
        answer = client.post(
            "/app/signout-everywhere", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert answer.status_code == 303
        assert client.get("/app/", follow_redirects=False).status_code == 303
        assert browser_client.get("/app/", follow_redirects=False).status_code == 303
        # A colleague stays signed in.
        assert colleague.get("/app/").status_code == 200


def test_another_browser_is_signed_out_from_the_list(
    client: TestClient, browser_client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER)
    csrf = sign_in(client)
    sign_in(browser_client)
    ids = {row["id"] for row in fetch_rows(settings, "SELECT id FROM signins")}
    fragment = client.get("/app/signins", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    [other] = [signin for signin in ids if f"/app/signins/{signin}/end" in fragment.text]
    ended = client.post(
        f"/app/signins/{other}/end",
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert ended.status_code == 200
    assert "This browser" in ended.text
    assert browser_client.get("/app/", follow_redirects=False).status_code == 303
    assert client.get("/app/").status_code == 200


# ------------------------------------------------------------------------------ who may open what


# Pages anyone may open: signing in, the setup and invite links (their token is their key),
# static files.
PUBLIC = {"/signin", "/setup", "/invite"}
PROTECTED = [
    (method, "/app" + route.path.replace("{signin_id}", "0" * 64))
    for route in ROUTES
    if isinstance(route, Route) and route.path not in PUBLIC
    for method in sorted(route.methods or ())
    if method != "HEAD"
]


def test_every_dashboard_route_is_known_to_these_tests() -> None:
    assert {path for _, path in PROTECTED} >= {"/app/", "/app/signout", "/app/signins"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_page_and_htmx_endpoint_refuses_an_anonymous_request(
    client: TestClient, settings: Settings, method: str, path: str
) -> None:
    plain = client.request(method, path, follow_redirects=False)
    if method == "GET":
        assert plain.status_code == 303
        assert plain.headers["location"].startswith("/app/signin?next=")
    else:
        assert plain.status_code == 401
    htmx = client.request(method, path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"] == "/app/signin"
    # A cookie that is no sign-in's is no one.
    client.cookies.set("leadline_signin", "made-up", path="/app")
    assert client.request(method, path, follow_redirects=False).status_code in (303, 401)


@pytest.mark.parametrize(("method", "path"), [p for p in PROTECTED if p[0] != "GET"])
def test_every_change_refuses_a_request_without_the_csrf_token(
    client: TestClient, settings: Settings, method: str, path: str
) -> None:
    make_member(settings, "acme", OWNER)
    sign_in(client)
    assert client.request(method, path, follow_redirects=False).status_code == 403
    assert client.get("/app/").status_code == 200


def test_a_person_sees_and_changes_only_their_own_workspace(
    client: TestClient, browser_client: TestClient, settings: Settings
) -> None:
    make_site(settings, "acme", "acme.example")
    make_member(settings, "acme", OWNER, name="Ann")
    make_member(settings, "beta", "bob@example.com", name="Bob")
    sign_in(client)
    [acme_signin] = fetch_rows(settings, "SELECT id FROM signins")
    bob = sign_in(browser_client, "bob@example.com")
    home = browser_client.get("/app/")
    assert "Welcome, Bob" in home.text
    assert "beta" in home.text
    assert "acme" not in home.text
    assert "Ann" not in home.text
    # acme's site key is acme's only.
    [site] = fetch_rows(settings, "SELECT site_key FROM sites")
    assert site["site_key"] in client.get("/app/").text
    assert site["site_key"] not in home.text
    assert acme_signin["id"] not in browser_client.get("/app/signins").text
    # Ending acme's sign-in from beta: no such sign-in of theirs.
    refused = browser_client.post(
        f"/app/signins/{acme_signin['id']}/end",
        headers={"X-CSRF-Token": bob},
        follow_redirects=False,
    )
    assert refused.status_code == 404
    assert client.get("/app/").status_code == 200


def test_the_same_address_in_two_workspaces_signs_in_where_the_password_fits(
    client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER, password="the acme password")
    make_member(settings, "beta", OWNER, password="the beta password")
    sign_in(client, OWNER, "the beta password")
    assert "beta" in client.get("/app/").text


# ------------------------------------------------------------------------------ the root


def test_a_browser_at_the_root_goes_to_the_dashboard(client: TestClient) -> None:
    answer = client.get(
        "/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/"
    # Anything else at / is what it was: POST only, PulseGate's capture.
    for accept in ("application/json", "*/*"):
        refused = client.get("/", headers={"Accept": accept})
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST"
    assert client.put("/").headers["allow"] == "POST"
    assert client.post("/", json={}).status_code != 405


def test_pages_carry_security_headers_and_are_not_cached(client: TestClient) -> None:
    page = client.get("/app/signin")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/app/static/vendor/htmx.min.js")
    assert script.status_code == 200
    assert "cache-control" not in script.headers
    assert client.get("/app/static/../router.py").status_code == 404
    assert client.get("/app/nowhere").status_code == 404


def test_input_no_database_keeps_is_refused_with_a_page(
    client: TestClient, settings: Settings
) -> None:
    token = make_setup_token(settings)
    assert token is not None
    csrf = _setup_form(client, token)
    nul = _setup(client, token, csrf, name="Ada\x00")
    assert nul.status_code == 400
    assert "NUL" in nul.text
    assert fetch_rows(settings, "SELECT id FROM people") == []
    huge = client.post("/app/signin", data={"csrf_token": csrf, "email": "x" * 70_000})
    assert huge.status_code == 413
    assert "<html" in huge.text
    assert client.get("/app/signin?next=%00").status_code == 400
