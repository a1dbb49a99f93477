"""Country names for the ISO 3166-1 alpha-2 codes that visits are counted by (pycountry's
data, inside its wheel). A code it does not know ("ZZ", "XK", an empty value) reads as
itself, so nothing counted is hidden."""

from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=512)
def country_name(code: str | None) -> str:
    """The common English name of the country ``code`` names, else ``code`` as it is."""
    if not code:
        return code or ""
    text = code.strip()
    if len(text) != 2 or not text.isascii() or not text.isalpha():
        return code
    found = pycountry.countries.get(alpha_2=text.upper())
    if found is None:
        return code
    name: str = getattr(found, "common_name", None) or found.name
    return name
