"""The bodies PulseGate's management routes take (``/analytics/sites``, ``/analytics/forms``,
``/analytics/integrations``), decoded with msgspec. An unknown field is refused rather than
ignored: a typo must not look like a change that was made."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Name = Annotated[str, Meta(max_length=200)]


class SiteCreate(Struct, forbid_unknown_fields=True):
    name: Name | None = None
    # A key the site's pages already carry; made when absent.
    site_key: str | None = None
    domains: list[Annotated[str, Meta(max_length=300)]] = msgspec.field(default_factory=list)
    respect_dnt: bool = False
    respect_gpc: bool = False
    fingerprinting: bool = False


class SitePatch(Struct, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    respect_dnt: bool | UnsetType = UNSET
    respect_gpc: bool | UnsetType = UNSET
    fingerprinting: bool | UnsetType = UNSET


class DomainCreate(Struct, forbid_unknown_fields=True):
    domain: Annotated[str, Meta(max_length=300)]


class FormCreate(Struct, forbid_unknown_fields=True):
    site_id: str
    form_id: str
    # The definition as a JSON object (or a string holding one), checked as docs/forms.md says.
    form_json: msgspec.Raw
    name: Name | None = None
    enabled: bool = True


class FormPatch(Struct, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    form_json: msgspec.Raw | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class IntegrationCreate(Struct, forbid_unknown_fields=True):
    name: Name | None = None
