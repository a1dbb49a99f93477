"""What each role may do. Surfaces ask for a permission; the role answers."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    INTEGRATION = "integration"
    MARKETING = "marketing"


class Permission(StrEnum):
    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    STATS_READ = "stats:read"
    AD_SPEND_READ = "ad_spend:read"
    AD_SPEND_WRITE = "ad_spend:write"
    AUDIT_READ = "audit:read"
    JOBS_MANAGE = "jobs:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"
    SITES_MANAGE = "sites:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Only admins read the audit log, inspect and replay jobs, and manage webhooks, sites, forms
    # and integration keys.
    Role.ADMIN: frozenset(Permission),
    # Integrations push leads in and update them; they read nothing back.
    Role.INTEGRATION: frozenset({Permission.LEADS_WRITE}),
    # Marketing reads analytics; personal data in leads comes back masked.
    Role.MARKETING: frozenset(
        {Permission.LEADS_READ, Permission.STATS_READ, Permission.AD_SPEND_READ}
    ),
}

# Roles whose reads of personal data (email, phone) are masked.
MASKED_ROLES: frozenset[Role] = frozenset({Role.MARKETING})
