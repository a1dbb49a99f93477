"""Every table, re-exported so Alembic and the features import from one place. Each module
is named for the feature that owns its tables."""

from leadline.models.accounts import OneTimeLink, PersonPassword, SignIn
from leadline.models.adspend import AdSpend
from leadline.models.analytics import Anomaly
from leadline.models.assistant import (
    AssistantConversation,
    AssistantDraft,
    AssistantSettings,
    AssistantUsage,
)
from leadline.models.attribution import (
    CLICK_ID_FIELDS,
    CLICK_PLATFORMS,
    CONSENT_FIELDS,
    UTM_FIELDS,
)
from leadline.models.audit import AuditEvent, AuditHead
from leadline.models.auth import ApiKey
from leadline.models.base import Base
from leadline.models.conversions import ConversionDestination, ConversionUpload
from leadline.models.forms import (
    CrmActivity,
    CrmSend,
    LeadSubmission,
    SubmissionDay,
    SubmissionRollup,
)
from leadline.models.idempotency import IdempotencyRecord
from leadline.models.inbox import Contact, Conversation, Message, Note
from leadline.models.jobs import Job, JobSchedule
from leadline.models.knowledge import (
    KNOWLEDGE_SEARCH_INDEX,
    KNOWLEDGE_SEARCH_TABLE,
    KNOWLEDGE_TEXT_CONFIG,
    KNOWLEDGE_UNMODELLED_TABLES,
    KnowledgeArticle,
    KnowledgeChunk,
    KnowledgeSettings,
)
from leadline.models.leads import (
    PARTIALLY_INDEXED_FIELDS,
    SEARCH_INDEX,
    SEARCH_TABLE,
    SORT_INDEXES,
    UNMODELLED_INDEXES,
    UNMODELLED_TABLES,
    Label,
    Lead,
    LeadFacet,
    LeadStatusChange,
    Tombstone,
)
from leadline.models.people import Person
from leadline.models.privacy import Erasure, RetentionPolicy, RetentionRun
from leadline.models.sites import IpRule, Site, SiteDomain, SiteForm
from leadline.models.tracking import (
    ConsentChange,
    IngestErrorsHourly,
    TrackedEvent,
    TrackingDaily,
    TrackingHourly,
    Visit,
    VisitCounts,
    Visitor,
    VisitorDay,
)
from leadline.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from leadline.models.workspace import InstanceSetting, Workspace

__all__ = [
    "CLICK_ID_FIELDS",
    "CLICK_PLATFORMS",
    "CONSENT_FIELDS",
    "KNOWLEDGE_SEARCH_INDEX",
    "KNOWLEDGE_SEARCH_TABLE",
    "KNOWLEDGE_TEXT_CONFIG",
    "KNOWLEDGE_UNMODELLED_TABLES",
    "PARTIALLY_INDEXED_FIELDS",
    "SEARCH_INDEX",
    "SEARCH_TABLE",
    "SORT_INDEXES",
    "UNMODELLED_INDEXES",
    "UNMODELLED_TABLES",
    "UTM_FIELDS",
    "AdSpend",
    "Anomaly",
    "ApiKey",
    "AssistantConversation",
    "AssistantDraft",
    "AssistantSettings",
    "AssistantUsage",
    "AuditEvent",
    "AuditHead",
    "Base",
    "ConsentChange",
    "Contact",
    "Conversation",
    "ConversionDestination",
    "ConversionUpload",
    "CrmActivity",
    "CrmSend",
    "Erasure",
    "IdempotencyRecord",
    "IngestErrorsHourly",
    "InstanceSetting",
    "IpRule",
    "Job",
    "JobSchedule",
    "KnowledgeArticle",
    "KnowledgeChunk",
    "KnowledgeSettings",
    "Label",
    "Lead",
    "LeadFacet",
    "LeadStatusChange",
    "LeadSubmission",
    "Message",
    "Note",
    "OneTimeLink",
    "Person",
    "PersonPassword",
    "RetentionPolicy",
    "RetentionRun",
    "SignIn",
    "Site",
    "SiteDomain",
    "SiteForm",
    "SubmissionDay",
    "SubmissionRollup",
    "Tombstone",
    "TrackedEvent",
    "TrackingDaily",
    "TrackingHourly",
    "Visit",
    "VisitCounts",
    "Visitor",
    "VisitorDay",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "Workspace",
]
