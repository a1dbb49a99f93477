"""Replay the first answer to a request retried with the same Idempotency-Key."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from leadline.auth.service import Principal
from leadline.errors import Conflict, ValidationFailed
from leadline.idempotency.repository import IdempotencyRepository
from leadline.kit.time import utcnow
from leadline.models import IdempotencyRecord


async def replay_or_run(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    request: Request,
    run: Callable[[], Awaitable[tuple[int, Any]]],
    *,
    ttl: timedelta,
) -> tuple[int, Any]:
    """Run ``run`` once per key; a retry with the same key and body within ``ttl`` gets the
    stored answer (the purge job deletes answers older than that).

    The answer is stored in the request's own transaction, so it exists exactly when the
    change it describes does.
    """
    if key is None:
        return await run()
    key = key.strip()
    if not key:
        raise ValidationFailed(
            "Idempotency-Key must not be empty", details={"header": "Idempotency-Key"}
        )
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + await request.body()
    ).hexdigest()
    repo = IdempotencyRepository(session)
    stored = await repo.get(principal.workspace_id, key)
    if stored is not None and stored.created_at > utcnow() - ttl:
        if stored.request_hash != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request",
                details={"header": "Idempotency-Key"},
            )
        return stored.status_code, msgspec.json.decode(stored.response_body)
    status_code, data = await run()
    try:
        if stored is not None:  # expired: the key may be used afresh
            stored.request_hash = fingerprint
            stored.status_code = status_code
            stored.response_body = msgspec.json.encode(data).decode()
            stored.created_at = utcnow()
            await session.flush()
        else:
            await repo.claim(
                IdempotencyRecord(
                    workspace_id=principal.workspace_id,
                    key=key,
                    request_hash=fingerprint,
                    status_code=status_code,
                    response_body=msgspec.json.encode(data).decode(),
                )
            )
    except IntegrityError:
        raise Conflict(
            "a request with this Idempotency-Key is being processed; retry shortly",
            details={"header": "Idempotency-Key"},
        ) from None
    return status_code, data
