"""Country names on the Analytics page: a visit's ISO code (here from a trusted CDN header)
is shown as the country's name; a code no country has ("ZZ") is shown as it is; a visit
without a country is "Unknown"."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.web.countries import country_name
from tests.fixtures.factories import make_site
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0"


def test_country_names_fall_back_to_the_code() -> None:
    assert country_name("NL") == "Netherlands"
    assert country_name("nl") == "Netherlands"
    assert country_name("KR") == "South Korea"
    assert country_name("GB") == "United Kingdom"
    for odd in ("ZZ", "XK", "N1", "NLD", "É1", " "):
        assert country_name(odd) == odd
    assert country_name("") == ""
    assert country_name(None) == ""


def test_the_countries_section_names_countries(settings: Settings) -> None:
    trusting = settings.model_copy(update={"country_header": "CF-IPCountry"})
    site_key = make_site(settings, "acme", "shop.example")
    make_member(settings, "acme", role="owner")
    with TestClient(create_app(trusting)) as client:
        for visitor, country in (("a", "NL"), ("b", "NL"), ("c", "ZZ"), ("d", "DE"), ("e", "")):
            headers = {
                "Origin": "https://shop.example",
                "X-Visitor-ID": visitor,
                "User-Agent": f"{UA} {visitor}",
            }
            if country:
                headers["CF-IPCountry"] = country
            answer = client.post(
                "/track/session/start",
                json={"siteKey": site_key, "url": "https://shop.example/", "referrer": ""},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
        sign_in(client)
        page = client.get("/app/analytics/sections/geo", params={"range": "7"})
    assert page.status_code == 200, page.text
    section = page.text[page.text.index('id="geo-heading"') :]
    section = section[: section.index("</table>")]
    rows = re.findall(r'<th scope="row">([^<]*)</th><td class="num">([\d,]+)</td>', section)
    assert rows[0] == ("Netherlands", "2")
    assert set(rows[1:]) == {("Germany", "1"), ("ZZ", "1"), ("Unknown", "1")}
