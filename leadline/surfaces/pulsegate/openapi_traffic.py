"""The OpenAPI paths and schemas of the traffic analytics routes (see openapi.py). The answers'
schemas come from the structs leadline.analytics.traffic answers with, named ``Traffic...``."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from leadline.analytics import traffic
from leadline.kit.periods import DEFAULT_DAYS, MAX_DAYS

Schema = dict[str, Any]

_PREFIX = "Traffic"
_ANSWERS = (
    traffic.Overview,
    traffic.DailyVisits,
    traffic.TopPages,
    traffic.Geo,
    traffic.Engagement,
    traffic.Sources,
    traffic.Realtime,
    traffic.Storage,
)


def _parameter(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_SITE = _parameter(
    "site", "A site's id or key; without it, every site of the key's workspace.", {"type": "string"}
)
_PERIOD = [
    _parameter(
        "from",
        f"The first day (YYYY-MM-DD), included; by default {DEFAULT_DAYS} days before `to`."
        f" At most {MAX_DAYS} days in all. A date-time is read as its date; empty is the"
        " default.",
        {"type": "string"},
    ),
    _parameter(
        "to",
        "The last day (YYYY-MM-DD), included; today (in `tz`) by default. A date-time is"
        " read as its date; empty is the default.",
        {"type": "string"},
    ),
    _parameter(
        "tz",
        "An IANA zone name (Europe/Amsterdam): days are that zone's days. UTC by default.",
        {"type": "string"},
    ),
]
_LIMIT = _parameter(
    "limit",
    f"How many rows each list has, 1-{traffic.MAX_LIMIT} ({traffic.DEFAULT_LIMIT} by default).",
    {"type": "integer", "minimum": 1, "maximum": traffic.MAX_LIMIT},
)


def _get(
    summary: str, description: str, answer: str, *, limit: bool = False, period: bool = True
) -> Schema:
    from leadline.surfaces.pulsegate.openapi import _errors, _json, _preflight, _ref

    parameters = [_SITE, *(_PERIOD if period else []), *([_LIMIT] if limit else [])]
    return {
        "get": {
            "summary": summary,
            "description": description,
            "tags": ["Analytics"],
            "parameters": parameters,
            "responses": {
                "200": _json(_ref(_PREFIX + answer), summary),
                **_errors(400, 401, 403, 404),
            },
        },
        "options": _preflight(summary),
    }


def paths() -> dict[str, Schema]:
    return {
        "/analytics/overview": _get(
            "Visits, visitors, page views, events, leads, bounce rate and engagement",
            "Each number beside the previous period's. Also the caller's role and, for a"
            " marketing key, the pages it may open.",
            "Overview",
        ),
        "/analytics/sessions/daily": _get(
            "Visits, visitors, page views and events per day",
            "One entry per day of the period in its zone, beside the day as far back in the"
            " previous period.",
            "DailyVisits",
        ),
        "/analytics/pages/top": _get(
            "The most viewed pages", "Page views per path, most first.", "TopPages", limit=True
        ),
        "/analytics/geo": _get(
            "Visits per country",
            "Most first; visits from no known country last, with a null name.",
            "Geo",
            limit=True,
        ),
        "/analytics/engagement": _get(
            "Visits per engagement score bucket and label",
            "Ten-point buckets of the 0-100 score and the four labels, as the visits' scores"
            " stand now.",
            "Engagement",
        ),
        "/analytics/sources": _get(
            "Referrer domains, channels, sources and ad platforms",
            "Visits per referring domain, channel (paid, search, social, referral, direct),"
            " source (utm_source or the referring domain) and ad platform of the click ID.",
            "Sources",
            limit=True,
        ),
        "/analytics/realtime": _get(
            "Visits active in the last 5 minutes, events in the last 30",
            "Counted back from now (from, to and tz are not read); each beside the minutes before.",
            "Realtime",
            period=False,
        ),
        "/analytics/storage": _get(
            "Rows and bytes of the tracking tables, the oldest rows, the retention",
            "A snapshot: nothing is compared. Bytes are the tables' in the whole database.",
            "Storage",
            period=False,
        ),
    }


@functools.cache
def _components() -> dict[str, Schema]:
    _, found = msgspec.json.schema_components(
        _ANSWERS, ref_template="#/components/schemas/" + _PREFIX + "{name}"
    )
    return {_PREFIX + name: schema for name, schema in found.items()}


def components() -> dict[str, Schema]:
    return _components()
