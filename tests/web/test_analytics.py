"""The Analytics page over HTTP: who may open it, the question in its address (bad values are
a 400 page, another workspace's site a 404, on the page and on each section's fragment), the
placeholders the page answers with at once and the fragments that fill them (the same numbers
as the report routes for the same range, and as the page with every section in it), the
realtime fragment, the empty states, and which sections a list of pages shows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.testclient import TestClient

from leadline.accounts import service as accounts
from leadline.audit.service import Actor
from leadline.auth.pages import DEFAULT_MARKETING_PAGES, PAGES
from leadline.config import Settings
from leadline.errors import Forbidden, ValidationFailed
from leadline.kit.ids import new_id
from leadline.models import Anomaly
from leadline.people import service as people
from leadline.sites import service as sites
from leadline.web import analytics
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import make_key, make_site, run_in_transaction
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)
_LOAD = re.compile(
    r'<section id="section-([a-z]+)"[^>]* aria-busy="true" data-section="\1" '
    r'hx-get="([^"]+)" hx-trigger="load" hx-swap="outerHTML">'
)
_METRIC = re.compile(
    r'data-metric="([a-z_]+)">\s*<span class="metric-label">[^<]*</span>\s*'
    r'<span class="metric-value">([^<]*)</span>'
)


def track(client: httpx.Client, site_key: str, domain: str = "shop.example") -> None:
    """Three visits through the tracking routes: a Google Ads click on /offer viewing two
    pages, a search visit that bounces, and a direct one that ends after two minutes."""
    origin = {"Origin": f"https://{domain}"}
    visits = []
    for url, referrer, visitor in (
        (f"https://{domain}/offer?gclid=abc", "", "a"),
        (f"https://{domain}/", "https://www.google.com/search?q=x", "b"),
        (f"https://{domain}/contact", "", "c"),
    ):
        answer = client.post(
            "/track/session/start",
            json={"siteKey": site_key, "url": url, "referrer": referrer},
            headers={**origin, "X-Visitor-ID": visitor, "User-Agent": f"{UA} {visitor}"},
        )
        assert answer.status_code == 200, answer.text
        visits.append(answer.json()["session_id"])
    for visit_id, paths in zip(visits, (["/offer", "/pricing"], ["/"], ["/contact"]), strict=True):
        events: list[dict[str, Any]] = [
            {"type": "page_view", "url": f"https://{domain}{path}", "id": f"{visit_id}-{n}"}
            for n, path in enumerate(paths)
        ]
        answer = client.post(
            "/track/events/batch",
            json={"siteKey": site_key, "sessionId": visit_id, "events": events},
            headers={**origin, "User-Agent": UA},
        )
        assert answer.status_code == 200, answer.text
    answer = client.post(
        "/track/session/end",
        json={"siteKey": site_key, "sessionId": visits[2], "durationMs": 120_000, "clicks": 4},
        headers={**origin, "User-Agent": UA},
    )
    assert answer.status_code == 200, answer.text


def site_id_of(settings: Settings, site_key: str) -> str:
    async def work(session: AsyncSession) -> str:
        found = await sites.site_by_key(session, site_key)
        assert found is not None
        return found.site_id

    return run_in_transaction(settings, work)


def add_anomaly(settings: Settings, site_key: str, status: str, sentence: str) -> None:
    async def work(session: AsyncSession) -> None:
        found = await sites.site_by_key(session, site_key)
        assert found is not None
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        session.add(
            Anomaly(
                id=new_id("anm"),
                workspace_id=found.workspace_id,
                site_id=found.site_id,
                kind="traffic_drop",
                status=status,
                severity="warning",
                first_seen_hour=hour,
                last_seen_hour=hour,
                window_hours=1,
                observed=1,
                expected_low=40,
                expected_high=60,
                score=7.5,
                sentence=sentence,
                resolved_at=hour if status == "resolved" else None,
            )
        )

    run_in_transaction(settings, work)


def metrics_of(html: str) -> dict[str, str]:
    return dict(_METRIC.findall(html))


def placeholders(html: str) -> dict[str, str]:
    """Section name to the address its placeholder asks htmx to load, in page order."""
    return {name: unescape(url) for name, url in _LOAD.findall(html)}


def sections_of(client: TestClient, params: dict[str, str] | None = None) -> dict[str, str]:
    """The page for ``params``, then each of its sections as htmx loads it: section name to
    the fragment's HTML, in page order."""
    page = client.get("/app/analytics", params=params or {})
    assert page.status_code == 200, page.text
    found = {}
    for name, url in placeholders(page.text).items():
        fragment = client.get(url, headers={"HX-Request": "true", "HX-Trigger": f"section-{name}"})
        assert fragment.status_code == 200, (name, fragment.text)
        found[name] = fragment.text
    return found


def loaded(client: TestClient, params: dict[str, str] | None = None) -> str:
    """The page's sections as htmx fills them in, one after the other."""
    return "\n".join(sections_of(client, params).values())


def make_marketer(settings: Settings, pages: list[str], email: str = "ads@example.com") -> None:
    """A marketing person of acme (after its owner) who opens only ``pages``."""

    async def work(session: AsyncSession) -> None:
        workspace = await workspaces.require(session, "acme")
        person = await people.add(
            session,
            workspace.id,
            email=email,
            name="Ads",
            role="marketing",
            actor=Actor.system("test"),
            pages=pages,
        )
        await accounts.set_password(session, person, PASSWORD, actor=Actor.system("test"))

    run_in_transaction(settings, work)


@pytest.fixture
def owner(client: TestClient, settings: Settings) -> TestClient:
    """``client`` signed in as the owner of acme."""
    make_member(settings, "acme", role="owner")
    sign_in(client)
    return client


@pytest.fixture
def site_key(settings: Settings) -> str:
    return make_site(settings, "acme", "shop.example")


# ------------------------------------------------------------------------------ who


def test_someone_not_signed_in_is_sent_to_sign_in_and_htmx_gets_401(client: TestClient) -> None:
    page = client.get("/app/analytics?range=7", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/app/signin?next=/app/analytics%3Frange%3D7"
    for path in ("/app/analytics/realtime", "/app/analytics/sections/overview?range=7"):
        fragment = client.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 401, path
        assert fragment.headers["HX-Redirect"] == "/app/signin"
        assert "metric-value" not in fragment.text
    # Asked for in the address bar, a section goes to the sign-in page as the page does.
    plain = client.get("/app/analytics/sections/sources", follow_redirects=False)
    assert plain.status_code == 303
    assert plain.headers["location"] == "/app/signin?next=/app/analytics/sections/sources"


def test_an_agent_opens_analytics_too(
    client: TestClient, settings: Settings, site_key: str
) -> None:
    make_member(settings, "acme", "owner@example.com", role="owner")
    make_member(settings, "acme", "agent@example.com", role="agent")
    sign_in(client, "agent@example.com")
    page = client.get("/app/analytics")
    assert page.status_code == 200
    assert '<h2 id="overview-heading">Overview</h2>' in page.text
    assert 'aria-current="page">Analytics' in page.text.replace("\n", "")


# ------------------------------------------------------------------------------ the question


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "custom", "from": "2026-03-10", "to": "2026-03-01"}, "is after to"),
        ({"range": "custom", "from": "2026-02-30"}, "from must be a date"),
        ({"range": "custom", "to": "yesterday"}, "to must be a date"),
        ({"site": "shop.example"}, "Unknown site"),
        ({"site": "site_1"}, "Unknown site"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"tz": "../../etc/passwd"}, "unknown time zone"),
        ({"range": "365"}, "range must be 7, 30, 90 or custom"),
        ({"range": "custom", "from": "2020-01-01", "to": "2026-01-01"}, "at most 731 days"),
        ({"range": "custom", "from": "0001-01-01", "to": "0001-01-02"}, "out of range"),
        ({"tz": "Europe/" + "A" * 100}, "not a valid value"),
    ],
)
def test_a_bad_question_is_a_400_page_with_the_form_as_sent(
    owner: TestClient, site_key: str, params: dict[str, str], message: str
) -> None:
    page = owner.get("/app/analytics", params=params)
    assert page.status_code == 400, page.text
    assert message.lower() in page.text.lower()
    assert 'role="alert"' in page.text
    assert 'aria-invalid="true"' in page.text
    # The form is there again, to correct; no section is, nor any placeholder.
    assert 'id="filters-heading"' in page.text
    assert "overview-heading" not in page.text
    assert "hx-get" not in page.text
    # Each section's fragment refuses the same question the same way.
    for section in analytics.SECTIONS:
        fragment = owner.get(f"/app/analytics/sections/{section}", params=params)
        assert fragment.status_code == 400, (section, fragment.text)
        assert message.lower() in fragment.text.lower(), section
        assert "metric-value" not in fragment.text


@pytest.mark.parametrize(
    "params",
    [
        {"tz": " "},
        {"tz": "utc"},
        {"tz": "Etc/GMT+14"},
        {"from": "\uff12\uff10\uff12\uff16-01-01"},  # full-width digits
        {"from": "2026-01-01T25:00:00Z"},
        {"to": "9999-12-31"},
        {"range": ""},
        {"range": "\uff17"},
        {"site": ""},
        {"site": "site_" + "Z" * 26},
        {"site": "x" * 5000},
        {"from": "-1"},
    ],
)
def test_odd_values_are_answered_never_with_a_500(
    owner: TestClient, site_key: str, params: dict[str, str]
) -> None:
    page = owner.get("/app/analytics", params=params)
    assert page.status_code in (200, 400, 404), page.text
    for section in ("overview", "sessions", "anomalies"):
        fragment = owner.get(f"/app/analytics/sections/{section}", params=params)
        assert fragment.status_code == page.status_code, (section, fragment.text)


def test_a_section_the_page_has_not_is_not_found(owner: TestClient, site_key: str) -> None:
    for name in ("storage", "Overview", "x" * 300, "realtime.html", "..%2Fpage"):
        answer = owner.get(f"/app/analytics/sections/{name}")
        assert answer.status_code == 404, name
    assert owner.get("/app/analytics/sections/overview").status_code == 200


def test_the_fragment_refuses_a_bad_site_too(owner: TestClient, site_key: str) -> None:
    assert owner.get("/app/analytics/realtime", params={"site": "nope"}).status_code == 400
    # A NUL character is refused before any page sees it.
    assert owner.get("/app/analytics", params={"tz": "UTC\x00"}).status_code == 400


def test_another_workspaces_site_is_not_found(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    theirs = site_id_of(settings, make_site(settings, "globex", "globex.example"))
    page = owner.get("/app/analytics", params={"site": theirs})
    assert page.status_code == 404
    assert "No site" in page.text
    assert owner.get("/app/analytics/realtime", params={"site": theirs}).status_code == 404
    for section in analytics.SECTIONS:
        fragment = owner.get(f"/app/analytics/sections/{section}", params={"site": theirs})
        assert fragment.status_code == 404, section
    # As for a site that does not exist at all.
    missing = "site_" + "0" * 26
    assert owner.get("/app/analytics", params={"site": missing}).status_code == 404


def test_every_site_means_the_workspaces_own(
    client: TestClient, settings: Settings, site_key: str
) -> None:
    track(client, site_key)
    make_site(settings, "globex", "globex.example")
    make_member(settings, "globex", "boss@globex.example", role="owner")
    sign_in(client, "boss@globex.example")
    html = loaded(client)
    assert metrics_of(html)["visits"] == "0"
    assert "shop.example" not in html
    assert re.search(r'data-realtime="active">0<', html)


def test_parse_choice_reads_presets_and_custom_dates() -> None:
    today = date(2026, 12, 7)
    seven = analytics.parse_choice(QueryParams({"range": "7", "tz": "Asia/Tokyo"}), today)
    assert (seven.period.first, seven.period.last) == (date(2026, 12, 1), today)
    assert seven.period.tz.key == "Asia/Tokyo"
    # Dates sent with a preset (the form always sends them) are not used.
    preset = analytics.parse_choice(QueryParams({"range": "90", "from": "2026-01-01"}), today)
    assert preset.period.first == date(2026, 9, 9)
    # Dates without a range are a custom range.
    custom = analytics.parse_choice(QueryParams({"from": "2026-11-01", "to": "2026-11-30"}))
    assert custom.range == "custom"
    assert (custom.period.first, custom.period.last) == (date(2026, 11, 1), date(2026, 11, 30))
    default = analytics.parse_choice(QueryParams(), today)
    assert (default.range, default.period.days, default.site) == ("30", 30, None)
    with pytest.raises(ValidationFailed):
        analytics.parse_choice(QueryParams({"range": "custom", "from": "2026-12-08"}), today)


# ------------------------------------------------------------------------------ the numbers


def test_the_cards_show_what_the_overview_route_answers(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    track(owner, site_key)
    today = datetime.now(UTC).date()
    span = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    key = make_key(settings, "acme", "admin")
    site_id = site_id_of(settings, site_key)
    in_utc: dict[str, str] = {}
    for site in ("", site_id):
        for tz in ("UTC", "Pacific/Kiritimati"):
            params = {**span, "tz": tz, **({"site": site} if site else {})}
            api = owner.get(
                "/analytics/overview", params=params, headers={"Authorization": f"Bearer {key}"}
            ).json()
            shown = metrics_of(loaded(owner, {"range": "custom", **params}))
            assert shown == {
                "visits": f"{api['visits']['value']:,}",
                "visitors": f"{api['visitors']['value']:,}",
                "events": f"{api['events']['value']:,}",
                "leads": f"{api['leads']['value']:,}",
                "bounce_rate": f"{api['bounce_rate']['value']:.1f}%",
                "average_engagement": f"{api['average_engagement']['value']:.1f}",
            }
            if tz == "UTC" and not site:
                in_utc = shown
    # What was tracked: three visits, four page views, two of three visits bounced. (Only in
    # UTC: from 10:00 UTC on, Kiritimati (UTC+14) is a day ahead, so the visits fall after
    # the range there.)
    assert in_utc["visits"] == "3"
    assert in_utc["bounce_rate"] == "66.7%"


def test_the_sections_show_what_was_tracked(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    track(owner, site_key)
    add_anomaly(settings, site_key, "resolved", "Visits fell to 3 on shop.example.")
    add_anomaly(settings, site_key, "open", "Visits fell to 1 on shop.example.")
    html = loaded(owner, {"range": "7"})
    for heading in (
        "Overview",
        "Visits per day",
        "Sources",
        "Top pages",
        "Countries",
        "Engagement",
        "Right now",
        "Anomalies",
    ):
        assert f">{heading}</h2>" in html
    assert re.search(r'id="daily-chart" data-series=\'\{"kind": "days", [^\']*\' aria-hidden', html)
    assert '<th scope="row">/offer</th>' in html
    assert '<th scope="row">www.google.com</th>' in html
    assert '<th scope="row">googleads</th>' in html
    # Realtime: the three visits are active; it polls every 15 seconds.
    assert re.search(r'data-realtime="active">3<', html)
    assert 'hx-get="/app/analytics/realtime" hx-trigger="every 15s"' in html
    # Open anomalies first.
    assert html.index("Visits fell to 1") < html.index("Visits fell to 3")
    assert "No visits or events were tracked" not in html
    # Loaded, no section is busy any more.
    assert "aria-busy" not in html
    assert "Loading" not in html


def test_the_page_answers_with_a_placeholder_per_section_carrying_the_question(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    track(owner, site_key)
    site_id = site_id_of(settings, site_key)
    page = owner.get("/app/analytics", params={"range": "7", "tz": "Asia/Tokyo", "site": site_id})
    assert page.status_code == 200, page.text
    asked = placeholders(page.text)
    assert tuple(asked) == analytics.SECTIONS
    for name, url in asked.items():
        assert url == (f"/app/analytics/sections/{name}?site={site_id}&range=7&tz=Asia%2FTokyo"), (
            name
        )
        # Each placeholder has its heading already, and is busy until filled in.
        title = analytics.TITLES[name]
        assert f'<h2 id="{name}-heading">{title}</h2>' in page.text
    # No figure is in the page itself: they come with the fragments.
    assert metrics_of(page.text) == {}
    assert "data-realtime" not in page.text
    assert '<th scope="row">/offer</th>' not in page.text
    # Without JavaScript, a link to the page with every section in it.
    noscript = page.text[page.text.index("<noscript>") : page.text.index("</noscript>")]
    assert (
        f'href="/app/analytics?site={site_id}&amp;range=7&amp;tz=Asia%2FTokyo&amp;full=1"'
        in noscript
    )
    # A custom range sends its dates.
    custom = owner.get("/app/analytics", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert placeholders(custom.text)["sources"] == (
        "/app/analytics/sections/sources?range=custom&from=2026-11-01&to=2026-11-30&tz=UTC"
    )


def test_each_fragment_shows_what_the_whole_page_shows(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    track(owner, site_key)
    add_anomaly(settings, site_key, "open", "Visits fell to 1 on shop.example.")
    for params in ({"range": "7"}, {"range": "30", "site": site_id_of(settings, site_key)}):
        fragments = sections_of(owner, params)
        whole = owner.get("/app/analytics", params={**params, "full": "1"})
        assert whole.status_code == 200, whole.text
        # The page with every section holds each fragment as it is, and nothing to load.
        assert 'hx-trigger="load"' not in whole.text
        assert "<noscript>" not in whole.text
        for name, fragment in fragments.items():
            assert "<h1>" not in fragment, name
            assert fragment.count("<h2 ") == 1, name
            assert fragment.lstrip().startswith(f'<section id="section-{name}"'), name
            # The realtime figures hold the time of asking; all else is the same.
            if name == "realtime":
                assert re.search(r'data-realtime="active">3<', whole.text)
                continue
            assert fragment.strip() in whole.text, name
    assert metrics_of(whole.text)["visits"] == "3"
    # Its form asks for the whole page again; the usual page's form does not.
    assert '<input type="hidden" name="full" value="1">' in whole.text
    assert 'name="full"' not in owner.get("/app/analytics").text


def test_a_marketing_person_loads_only_their_sections(
    client: TestClient, settings: Settings, site_key: str
) -> None:
    make_member(settings, "acme", role="owner")
    make_marketer(settings, ["overview", "sources"])
    track(client, site_key)
    sign_in(client, "ads@example.com")
    page = client.get("/app/analytics")
    assert page.status_code == 200, page.text
    assert tuple(placeholders(page.text)) == ("overview", "sources")
    assert metrics_of(loaded(client))["visits"] == "3"
    for section in ("sessions", "pages", "geo", "engagement", "realtime", "anomalies"):
        refused = client.get(f"/app/analytics/sections/{section}", headers={"HX-Request": "true"})
        assert refused.status_code == 403, section
        assert "data-section" not in refused.text
    whole = client.get("/app/analytics", params={"full": "1"})
    assert re.findall(r'<section id="section-([a-z]+)"', whole.text) == ["overview", "sources"]


def test_the_realtime_fragment_counts_the_last_minutes(
    owner: TestClient, settings: Settings, site_key: str
) -> None:
    other = make_site(settings, "acme", "blog.example")
    track(owner, site_key)
    track(owner, other, "blog.example")
    every = owner.get("/app/analytics/realtime", headers={"HX-Request": "true"})
    assert every.status_code == 200
    assert re.search(r'data-realtime="active">6<', every.text)
    assert 'id="realtime-figures" hx-swap-oob="innerHTML"' in every.text
    assert "<h1>" not in every.text
    one = owner.get("/app/analytics/realtime", params={"site": site_id_of(settings, other)})
    assert re.search(r'data-realtime="active">3<', one.text)
    assert re.search(r'data-realtime="events">4<', one.text)


# ------------------------------------------------------------------------------ empty states


def test_without_a_site_the_page_says_how_to_add_one(owner: TestClient) -> None:
    page = owner.get("/app/analytics")
    assert page.status_code == 200
    assert "overview-heading" not in page.text
    # The fragment, asked for anyway, counts nothing.
    fragment = owner.get("/app/analytics/realtime")
    assert fragment.status_code == 200
    assert re.search(r'data-realtime="active">0<', fragment.text)
    assert "No site yet" in page.text
    assert "leadline sites create --workspace acme" in page.text
    assert "tracker.js" in page.text


def test_a_range_without_data_says_so(owner: TestClient, settings: Settings, site_key: str) -> None:
    track(owner, site_key)
    html = loaded(owner, {"from": "2025-01-01", "to": "2025-01-31"})
    assert html.count("No visits or events were tracked in this range") == 1
    assert 'id="no-data"' in html
    assert metrics_of(html)["visits"] == "0"
    assert "daily-chart" not in html
    assert "engagement-chart" not in html
    # Someone who does not see the overview is told by the visits per day.
    make_marketer(settings, ["sessions", "geo"])
    sign_in(owner, "ads@example.com")
    html = loaded(owner, {"from": "2025-01-01", "to": "2025-01-31"})
    assert html.count("No visits or events were tracked in this range") == 1
    assert "daily-chart" not in html


# ------------------------------------------------------------------------------ sections


def test_sections_follow_the_pages_a_person_opens() -> None:
    assert analytics.sections_for(PAGES) == analytics.SECTIONS
    # The default marketing list leaves out storage, which is no section here.
    assert analytics.sections_for(DEFAULT_MARKETING_PAGES) == analytics.SECTIONS
    assert analytics.sections_for(("realtime", "overview", "storage")) == ("overview", "realtime")
    assert analytics.sections_for(("geo",)) == ("geo",)
    assert analytics.sections_for(("storage", "engine", "options")) == ()
    assert "realtime" not in analytics.sections_for(("overview", "sessions"))


def test_the_realtime_fragment_needs_the_realtime_page() -> None:
    analytics.require_section(DEFAULT_MARKETING_PAGES, "realtime")
    analytics.require_section(("realtime",), "realtime")
    with pytest.raises(Forbidden) as refused:
        analytics.require_section(("overview", "sessions", "geo"), "realtime")
    assert refused.value.status_code == 403
    with pytest.raises(Forbidden):
        analytics.require_section(("storage",), "storage")


def test_every_section_is_an_analytics_page() -> None:
    assert set(analytics.SECTIONS) <= set(PAGES)


def test_cards_say_how_each_number_changed() -> None:
    from leadline.analytics.traffic import Metric

    assert analytics.card("visits", "Visits", Metric(1500, 1000)).change == "+50%"
    assert analytics.card("visits", "Visits", Metric(1500, 1000)).value == "1,500"
    assert analytics.card("visits", "Visits", Metric(5, 0)).change == "new"
    assert analytics.card("visits", "Visits", Metric(0, 4)).direction == "down"
    assert analytics.card("visits", "Visits", Metric(3, 3)).change == "no change"
    rate = analytics.card("bounce_rate", "Bounce rate", Metric(40.0, 52.5), "%")
    assert (rate.value, rate.change) == ("40.0%", "-12.5 points")
