"""Google Ads' offline-conversion file: the CSV template Google documents for importing
conversions from ad clicks, made without any credentials.

The file is a ``Parameters:TimeZone=<zone>`` row, then the header row (the row that begins
with ``Google Click ID``; Google refuses a file without it), then one row per conversion:

    Parameters:TimeZone=Europe/Amsterdam
    Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency
    Cj0KCQ...,qualified_lead,2026-12-01 14:05:00,250.00,EUR

Conversion Time is written as ``yyyy-mm-dd hh:mm:ss`` in that zone. Google's file template
attributes by ``gclid`` only (gbraid and wbraid conversions need the API), so a conversion
without a ``gclid`` is left out of the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC
from zoneinfo import ZoneInfo

from leadline.conversions.platforms.base import Conversion

HEADER = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)


def _line(fields: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(list(fields))
    return out.getvalue()


def offline_csv(rows: Iterable[Conversion], timezone: str) -> Iterator[str]:
    """The file's lines, each ending in a newline. ``timezone`` is an IANA zone name
    (``Europe/Amsterdam``, ``UTC``); a name Python does not know raises
    ``zoneinfo.ZoneInfoNotFoundError`` (a ``KeyError``) here, before any line is made."""
    return _lines(rows, timezone, ZoneInfo(timezone))


def _lines(rows: Iterable[Conversion], timezone: str, zone: ZoneInfo) -> Iterator[str]:
    yield f"Parameters:TimeZone={timezone}\n"
    yield _line(HEADER)
    for conversion in rows:
        gclid = conversion.click_ids.get("gclid")
        if not gclid:
            continue
        moment = conversion.occurred_at
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = "" if conversion.value is None else f"{conversion.value:f}"
        currency = (conversion.currency or "").upper() if value else ""
        yield _line(
            (
                gclid,
                conversion.event_name,
                moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                value,
                currency,
            )
        )
