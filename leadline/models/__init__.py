"""Every table, re-exported so Alembic and the features import from one place."""

from leadline.models.audit import AuditEvent, AuditHead
from leadline.models.base import Base
from leadline.models.jobs import Job, JobSchedule
from leadline.models.lead import (
    CLICK_ID_FIELDS,
    CONSENT_FIELDS,
    PARTIALLY_INDEXED_FIELDS,
    SEARCH_INDEX,
    SORT_INDEXES,
    UNMODELLED_INDEXES,
    UTM_FIELDS,
    AdSpend,
    CrmActivity,
    CrmSend,
    IpRule,
    Label,
    Lead,
    LeadFacet,
    LeadStatusChange,
    LeadSubmission,
    VisitSession,
)
from leadline.models.tracking import (
    Site,
    SiteDomain,
    SiteForm,
    TrackedEvent,
    TrackingDaily,
    Visitor,
)
from leadline.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from leadline.models.workspace import ApiKey, IdempotencyRecord, InstanceSetting, Workspace

__all__ = [
    "CLICK_ID_FIELDS",
    "CONSENT_FIELDS",
    "PARTIALLY_INDEXED_FIELDS",
    "SEARCH_INDEX",
    "SORT_INDEXES",
    "UNMODELLED_INDEXES",
    "UTM_FIELDS",
    "AdSpend",
    "ApiKey",
    "AuditEvent",
    "AuditHead",
    "Base",
    "CrmActivity",
    "CrmSend",
    "IdempotencyRecord",
    "InstanceSetting",
    "IpRule",
    "Job",
    "JobSchedule",
    "Label",
    "Lead",
    "LeadFacet",
    "LeadStatusChange",
    "LeadSubmission",
    "Site",
    "SiteDomain",
    "SiteForm",
    "TrackedEvent",
    "TrackingDaily",
    "VisitSession",
    "Visitor",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "Workspace",
]
