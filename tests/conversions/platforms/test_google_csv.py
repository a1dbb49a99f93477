"""Google's offline-conversion file, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest

from leadline.conversions.platforms.base import Conversion
from leadline.conversions.platforms.google_csv import offline_csv


def conversion(key: str, **fields: Any) -> Conversion:
    values: dict[str, Any] = {
        "key": key,
        "lead_id": f"lead-{key}",
        "event_name": "qualified_lead",
        "occurred_at": datetime(2026, 12, 1, 13, 5, 9, tzinfo=UTC),
    }
    values.update(fields)
    return Conversion(**values)


def test_file_in_googles_template() -> None:
    rows = [
        conversion(
            "a",
            click_ids={"gclid": "Cj0KCQiA-abc_DEF"},
            value=Decimal("250.50"),
            currency="eur",
            event_name="Won deal",
        ),
        conversion("b", click_ids={"gclid": "EAIaIQob"}),
        # No gclid: Google's file cannot take it.
        conversion("c", click_ids={"gbraid": "GB"}, value=Decimal("10")),
        conversion(
            "d",
            click_ids={"gclid": "X1"},
            event_name='Lead, "hot"',
            occurred_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
            value=Decimal("0"),
            currency="USD",
        ),
    ]
    assert "".join(offline_csv(rows, "Europe/Amsterdam")) == (
        "Parameters:TimeZone=Europe/Amsterdam\n"
        "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n"
        "Cj0KCQiA-abc_DEF,Won deal,2026-12-01 14:05:09,250.50,EUR\n"
        "EAIaIQob,qualified_lead,2026-12-01 14:05:09,,\n"
        'X1,"Lead, ""hot""",2026-07-01 01:30:00,0,USD\n'
    )


def test_lines_are_yielded_one_by_one() -> None:
    lines = list(offline_csv([conversion("a", click_ids={"gclid": "G"})], "UTC"))
    assert lines == [
        "Parameters:TimeZone=UTC\n",
        "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n",
        "G,qualified_lead,2026-12-01 13:05:09,,\n",
    ]


def test_empty_file_keeps_its_header() -> None:
    assert list(offline_csv([], "America/New_York")) == [
        "Parameters:TimeZone=America/New_York\n",
        "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n",
    ]


def test_unknown_zone_is_refused_before_any_line() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        offline_csv([], "Mars/Olympus")
