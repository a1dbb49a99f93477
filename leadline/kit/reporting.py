"""What the reports share: a date range given as days, and ratios rounded as reports show them."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from leadline.errors import InvalidDate, ValidationFailed

# Dates before this are refused: no lead or ad spend predates it, and it keeps ISO years 4-digit.
MIN_YEAR = 1970

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# What parse_day takes, as JSON Schema for the documents that name such a parameter: a full
# date, of MIN_YEAR or later (a parameter that is empty or anything else is refused with 400).
DAY_SCHEMA: dict[str, Any] = {
    "format": "date",
    "pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$",
}


def parse_day(raw: str | None, name: str) -> date:
    """A ``YYYY-MM-DD`` date given as parameter ``name``; anything else is INVALID_DATE."""
    if raw is None or not raw.strip():
        raise ValidationFailed(f"{name} is required (YYYY-MM-DD)", details={"field": name})
    text = raw.strip()
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(
            f"{name} must be a date written YYYY-MM-DD, not '{text}'",
            details={"field": name, "value": text},
        ) from None
    if day.year < MIN_YEAR:
        raise InvalidDate(
            f"{name} must be {MIN_YEAR}-01-01 or later", details={"field": name, "value": text}
        )
    return day


def day_range(
    start_date: str | None, end_date: str | None, *, start_name: str, end_name: str
) -> tuple[date, date]:
    """Both ends of an inclusive date range; the end may not come before the start."""
    start = parse_day(start_date, start_name)
    end = parse_day(end_date, end_name)
    if end < start:
        raise ValidationFailed(
            f"{end_name} ({end.isoformat()}) is before {start_name} ({start.isoformat()})",
            details={"field": end_name},
        )
    return start, end


def ratio(numerator: Decimal | int, denominator: Decimal | int, places: Decimal) -> Decimal:
    """numerator / denominator rounded half-up to ``places``; a zero denominator gives 0."""
    if denominator == 0:
        return Decimal(0)
    return (Decimal(numerator) / Decimal(denominator)).quantize(places, rounding=ROUND_HALF_UP)
