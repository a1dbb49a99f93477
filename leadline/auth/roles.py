"""What each role may do. Surfaces ask for a permission; the role answers.

API keys act for the workspace (admin, integration, marketing); people's tokens act for their
person, whose role is owner, admin or agent (the operators). A person may also be a marketing
person: they sign in to the dashboard to read their analytics pages, masked, and hold no token.
An admin key is the workspace's owner as far as permissions go, so the keys handed out before
people existed keep every power they had.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    INTEGRATION = "integration"
    MARKETING = "marketing"


# The roles an API key may have, and those a person may have.
KEY_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.INTEGRATION, Role.MARKETING)
# Operators work the inbox, are listed by the Leadiosa API and may hold tokens.
OPERATOR_ROLES: tuple[Role, ...] = (Role.OWNER, Role.ADMIN, Role.AGENT)
PERSON_ROLES: tuple[Role, ...] = (*OPERATOR_ROLES, Role.MARKETING)


class Permission(StrEnum):
    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    STATS_READ = "stats:read"
    AD_SPEND_READ = "ad_spend:read"
    AD_SPEND_WRITE = "ad_spend:write"
    AUDIT_READ = "audit:read"
    JOBS_MANAGE = "jobs:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"
    # Conversion destinations, their credentials, and what was uploaded for each lead.
    CONVERSIONS_MANAGE = "conversions:manage"
    SITES_MANAGE = "sites:manage"
    # Conversations, messages, notes and contacts.
    INBOX = "inbox"
    PEOPLE_READ = "people:read"
    PEOPLE_MANAGE = "people:manage"
    TOKENS_MANAGE = "tokens:manage"
    KNOWLEDGE_MANAGE = "knowledge:manage"
    BILLING_READ = "billing:read"
    # Privacy (docs/privacy.md): a data subject's requests (erasing a person, exporting what
    # is held about them), retention periods and the consent ledger.
    PRIVACY = "privacy"
    # Closing and restoring the workspace.
    WORKSPACE_LIFECYCLE = "workspace:lifecycle"


_EVERYTHING = frozenset(Permission)
_AGENT = frozenset({Permission.INBOX, Permission.PEOPLE_READ})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Only admins read the audit log, inspect and replay jobs, and manage webhooks, sites, forms
    # and integration keys.
    Role.ADMIN: _EVERYTHING,
    # Integrations push leads in and update them; they read nothing back.
    Role.INTEGRATION: frozenset({Permission.LEADS_WRITE}),
    # Marketing reads analytics; personal data in leads comes back masked.
    Role.MARKETING: frozenset(
        {Permission.LEADS_READ, Permission.STATS_READ, Permission.AD_SPEND_READ}
    ),
}

PERSON_ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _EVERYTHING,
    # Admins do everything but close or restore the workspace.
    Role.ADMIN: _EVERYTHING - {Permission.WORKSPACE_LIFECYCLE},
    # Agents work the inbox.
    Role.AGENT: _AGENT,
    # Marketing people read analytics in the dashboard (they hold no token).
    Role.MARKETING: frozenset({Permission.STATS_READ}),
}

# Roles whose reads of personal data (email, phone) are masked.
MASKED_ROLES: frozenset[Role] = frozenset({Role.MARKETING})
