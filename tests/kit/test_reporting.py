"""The date a report takes: what parse_day reads is what its JSON Schema (DAY_SCHEMA, in the
documents) says."""

from __future__ import annotations

import re
from datetime import date

import pytest

from leadline.errors import ValidationFailed
from leadline.kit.reporting import DAY_SCHEMA, MIN_YEAR, parse_day

_PATTERN = re.compile(DAY_SCHEMA["pattern"])


@pytest.mark.parametrize(
    "text",
    [f"{MIN_YEAR}-01-01", "1999-12-31", "2026-02-28", "9999-12-31"],
)
def test_a_day_the_schema_allows_is_read(text: str) -> None:
    assert DAY_SCHEMA["format"] == "date"
    assert _PATTERN.match(text)
    assert parse_day(text, "startDate") == date.fromisoformat(text)


@pytest.mark.parametrize(
    "text",
    [f"{MIN_YEAR - 1}-12-31", "0001-01-01", "", "2026-1-1", "20260101", "2026-01-01T00:00:00Z"],
)
def test_a_day_the_schema_refuses_is_refused(text: str) -> None:
    assert not _PATTERN.match(text)
    with pytest.raises(ValidationFailed):
        parse_day(text, "startDate")
