"""A lead's detail: the lead, and everything known of it as one timeline, newest first.

The timeline gathers, each entry with its ``type`` and the moment ``at`` it happened: the
visits the lead's submissions came from and its own visit (``visit``), those visits' events
(``event``, the newest EVENTS of them), its submissions (``submission``), its status changes
(``status_change``), and the inbox's conversations with the contacts it was given to
(``conversation``) with their newest MESSAGES messages (``message``). A caller that sees
personal data masked gets email and phone masked and no form fields or message text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics.masking import shown_email, shown_phone
from leadline.analytics.query import ReportQuery
from leadline.analytics.submissions import suspicion_of
from leadline.clickhouse.client import ClickHouse
from leadline.errors import NotFound
from leadline.forms import service as forms
from leadline.inbox import messages as inbox_messages
from leadline.kit.time import iso_millis
from leadline.leads import service as leads
from leadline.models import (
    Conversation,
    Lead,
    LeadStatusChange,
    LeadSubmission,
    Message,
    TrackedEvent,
    Visit,
)
from leadline.tracking import visits as tracking

# How much of each kind a timeline holds at most (the newest).
SUBMISSIONS = 100
VISITS = 50
EVENTS = 200
MESSAGES = 100

# Entries at the same moment, newest first: what follows from another comes first.
_ORDER = {
    "status_change": 0,
    "message": 1,
    "conversation": 2,
    "submission": 3,
    "event": 4,
    "visit": 5,
}


def _data(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _entry(kind: str, at: datetime, **details: Any) -> dict[str, Any]:
    return {"type": kind, "at": at, **details}


def _visit(visit: Visit) -> dict[str, Any]:
    return _entry(
        "visit",
        visit.started_at,
        id=visit.id,
        site_id=visit.site_id,
        last_seen_at=iso_millis(visit.last_seen_at),
        ended_at=iso_millis(visit.ended_at) if visit.ended_at else None,
        channel=visit.channel,
        utm_source=visit.utm_source,
        utm_medium=visit.utm_medium,
        utm_campaign=visit.utm_campaign,
        landing=(visit.website or "") + (visit.path or "") or None,
        country=visit.country,
        device=visit.device,
        browser=visit.browser,
        page_views=visit.page_views,
        events=visit.events,
        engagement={"score": visit.engagement_score, "label": visit.engagement_label},
    )


def _event(event: TrackedEvent) -> dict[str, Any]:
    return _entry(
        "event",
        event.occurred_at,
        visit_id=event.visit_id,
        event=event.type,
        url=event.url,
        data=_data(event.data),
    )


def _submission(row: LeadSubmission, masked: bool) -> dict[str, Any]:
    entry = _entry(
        "submission",
        row.created_at,
        id=row.id,
        project=row.project or None,
        source=row.source or None,
        site_id=row.site_id,
        form_id=row.form_id,
        visit_id=row.visit_id,
        outcome=row.outcome,
        email=shown_email(row.email, masked),
        phone=shown_phone(row.phone_e164, masked),
        engagement={"score": row.engagement_score, "label": row.engagement_label},
        suspicion=suspicion_of(row.suspicion_score, row.suspicion_reasons),
    )
    if not masked:
        entry["fields"] = _data(row.fields)
    return entry


def _status(change: LeadStatusChange) -> dict[str, Any]:
    return _entry(
        "status_change",
        change.changed_at,
        id=change.id,
        from_status=change.from_status,
        to_status=change.to_status,
        key_id=change.api_key_id,
    )


def _conversation(conversation: Conversation) -> dict[str, Any]:
    return _entry(
        "conversation",
        conversation.created_at,
        id=conversation.id,
        status=conversation.status,
        subject=conversation.subject,
        message_count=conversation.message_count,
        last_activity_at=iso_millis(conversation.last_activity_at),
    )


def _message(message: Message, masked: bool) -> dict[str, Any]:
    entry = _entry(
        "message",
        message.created_at,
        id=message.id,
        conversation_id=message.conversation_id,
        author=message.author,
        quarantined=message.quarantined,
    )
    if not masked:
        entry["text"] = message.text
    return entry


def _lead(lead: Lead, masked: bool) -> dict[str, Any]:
    return {
        "id": lead.id,
        "name": lead.name,
        "email": shown_email(lead.email, masked),
        "phone": shown_phone(lead.phone_e164 or lead.phone, masked),
        "status": lead.status,
        "source": lead.source,
        "visit_id": lead.visit_id,
        "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign,
        "created_at": iso_millis(lead.created_at),
        "updated_at": iso_millis(lead.updated_at),
    }


async def _events(
    session: AsyncSession, found: list[Visit], clickhouse: ClickHouse | None
) -> tuple[list[TrackedEvent], bool]:
    """The visits' newest EVENTS events, and whether there were more."""
    events: list[TrackedEvent] = []
    for visit in found:
        events.extend(await tracking.events_of(session, visit, EVENTS + 1, clickhouse))
    # Events read from ClickHouse have no row id: among those of one moment, the order they
    # came in (newest first) stands.
    events.sort(key=lambda event: (event.occurred_at, event.id or 0), reverse=True)
    return events[:EVENTS], len(events) > EVENTS


async def lead_timeline(
    session: AsyncSession,
    query: ReportQuery,
    lead_id: str,
    clickhouse: ClickHouse | None = None,
) -> dict[str, Any]:
    """The workspace's lead ``lead_id`` and its timeline, newest first; NotFound for a lead
    that is not the workspace's. The visits' events are read from ``clickhouse`` when it
    keeps them."""
    workspace_id, masked = query.workspace_id, query.masked
    lead = await leads.lead_of_workspace(session, workspace_id, lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id}", resource="lead")
    submissions = await forms.submissions_of_lead(session, workspace_id, lead_id, SUBMISSIONS)
    visit_ids = [row.visit_id for row in submissions if row.visit_id]
    if lead.visit_id:
        visit_ids.append(lead.visit_id)
    found = await tracking.visits_of(session, workspace_id, visit_ids)
    visits = sorted(found.values(), key=lambda visit: visit.started_at, reverse=True)[:VISITS]
    events, more_events = await _events(session, visits, clickhouse)
    history = await leads.status_history(session, workspace_id, lead_id)
    talks = await inbox_messages.conversations_of_lead(
        session, workspace_id, lead_id, messages=MESSAGES
    )
    entries = [
        *(_visit(visit) for visit in visits),
        *(_event(event) for event in events),
        *(_submission(row, masked) for row in submissions),
        *(_status(change) for change in history),
        *(_conversation(conversation) for conversation in talks.conversations),
        *(_message(message, masked) for message in talks.messages),
    ]
    entries.sort(key=lambda entry: (-entry["at"].timestamp(), _ORDER[entry["type"]]))
    for entry in entries:
        entry["at"] = iso_millis(entry["at"])
    return {
        "lead": _lead(lead, masked),
        "timeline": entries,
        "limits": {
            "submissions": SUBMISSIONS,
            "visits": VISITS,
            "events": EVENTS,
            "messages": MESSAGES,
            "events_truncated": more_events,
        },
    }
