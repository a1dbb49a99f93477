"""Knowledge: the workspace's articles (list, search, create, edit, delete), through the same
knowledge service as ``/api/v1/knowledge``. Owners, admins and agents open it (the API's
``inbox`` permission reads articles and searches); writing takes ``knowledge:manage`` (owners
and admins), as over the API. Search shows what the assistant would find: each matched chunk,
its article and its score, with the query's words marked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.auth.roles import Permission
from leadline.errors import NotFound
from leadline.kit import cursors
from leadline.knowledge import service as knowledge
from leadline.knowledge.embeddings import provider_of
from leadline.models import KnowledgeArticle
from leadline.web import access, fields
from leadline.web.access import page
from leadline.web.rendering import render

AREA = "knowledge"
PAGE_SIZE = 25
SHOWN = {"all": None, "published": True, "drafts": False}
DONE = {
    "created": "The article was created.",
    "saved": "The article was saved.",
    "deleted": "The article was deleted.",
}


def _allowed(who: SignedIn) -> None:
    access.require_area(who, AREA)
    who.principal.require(Permission.INBOX)


def _may_write(who: SignedIn) -> bool:
    return Permission.KNOWLEDGE_MANAGE in who.principal.permissions


def _writer(who: SignedIn) -> None:
    _allowed(who)
    who.principal.require(Permission.KNOWLEDGE_MANAGE)


def _article_id(request: Request) -> str:
    value: str = request.path_params["article_id"]
    if not knowledge.usable_id(value):
        raise NotFound("there is nothing at this address")
    return value


def _tags(text: str) -> list[str]:
    """Tags typed as a comma-separated list."""
    return [tag for tag in (part.strip() for part in text.split(",")) if tag]


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["updated_at"]), cursors.identifier(key["id"])


def _key(article: KnowledgeArticle) -> dict[str, Any]:
    return {"updated_at": cursors.time_key(article.updated_at), "id": article.id}


def marked(text: str, terms: list[str]) -> Markup:
    """``text`` escaped, with each whole word of ``terms`` in <mark>."""
    if not terms:
        return escape(text)
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(term) for term in terms) + r")(?!\w)", re.IGNORECASE
    )
    out = Markup("")
    last = 0
    for found in pattern.finditer(text):
        out += escape(text[last : found.start()])
        out += Markup("<mark>") + escape(found.group(0)) + Markup("</mark>")
        last = found.end()
    return out + escape(text[last:])


# ------------------------------------------------------------------------------ pages


async def _search(request: Request, session: AsyncSession, who: SignedIn, query: str) -> Any:
    settings = fields.app_settings(request)
    provider = provider_of(settings)
    if provider is None:
        return await knowledge.search(session, who.workspace.id, query), "lexical"
    async with httpx.AsyncClient() as http:
        found = await knowledge.search(
            session, who.workspace.id, query, provider=provider, http=http
        )
    return found, "hybrid"


@page
async def articles_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The articles, most recently changed first, or what a search finds (``q``)."""
    _allowed(who)
    params = request.query_params
    query = params.get("q", "")
    shown = params.get("shown", "all")
    if shown not in SHOWN:
        shown = "all"
    context: dict[str, Any] = {
        "query": query,
        "shown": shown,
        "choices": list(SHOWN),
        "may_write": _may_write(who),
        "announcement": DONE.get(params.get("done", ""), ""),
        "found": None,
        "mode": "",
        "articles": [],
        "next_link": None,
        "first_link": None,
    }
    if query.strip():
        found, mode = await _search(request, session, who, query)
        terms = knowledge.terms_of(query)
        context["found"] = [
            {
                "article_id": hit.chunk.article_id,
                "title": hit.title,
                "position": hit.chunk.position,
                "score": hit.score,
                "text": marked(hit.chunk.text, terms),
            }
            for hit in found
        ]
        context["mode"] = mode
        return render(request, "knowledge/list.html", context)
    after = params.get("after") or None
    listed_page = await knowledge.list_articles(
        session,
        who.principal,
        published=SHOWN[shown],
        limit=PAGE_SIZE,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(listed_page.articles, has_more=listed_page.has_more, key=_key)

    def link(**changes: str | None) -> str:
        values = {"shown": shown if shown != "all" else None, **changes}
        query_string = urlencode({key: value for key, value in values.items() if value})
        return f"{access.base(request)}/knowledge" + (f"?{query_string}" if query_string else "")

    context["articles"] = [
        {"article": article, "tags": knowledge.tags_of(article)} for article in listed.items
    ]
    context["next_link"] = link(after=listed.next_cursor) if listed.next_cursor else None
    context["first_link"] = link() if after else None
    context["link"] = link
    return render(request, "knowledge/list.html", context)


def _values(form: FormData) -> dict[str, Any]:
    return {
        "title": fields.text(form, "title", knowledge.TITLE_LENGTH),
        "body": fields.text(form, "body", knowledge.BODY_LENGTH),
        "tags": _tags(fields.text(form, "tags", 2000)),
        "published": fields.text(form, "published", 10) == "on",
    }


@page
async def new_article(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The form for a new article (GET); making it (POST)."""
    _writer(who)
    if request.method == "POST":
        values = _values(await request.form())
        article = await knowledge.create_article(
            session, who.principal, **values, provider=provider_of(fields.app_settings(request))
        )
        return RedirectResponse(
            f"{access.base(request)}/knowledge/{article.id}?done=created", status_code=303
        )
    return render(
        request,
        "knowledge/article.html",
        {"article": None, "tags": [], "chunks": [], "may_write": True, "announcement": ""},
    )


@page
async def article_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """An article with its chunks; its form for those who may change it (GET); saving it
    (POST): a new body is chunked again."""
    _allowed(who)
    article_id = _article_id(request)
    if request.method == "POST":
        _writer(who)
        values = _values(await request.form())
        await knowledge.update_article(
            session,
            who.principal,
            article_id,
            **values,
            provider=provider_of(fields.app_settings(request)),
        )
        return RedirectResponse(
            f"{access.base(request)}/knowledge/{article_id}?done=saved", status_code=303
        )
    article = await knowledge.get_article(session, who.workspace.id, article_id)
    return render(
        request,
        "knowledge/article.html",
        {
            "article": article,
            "tags": knowledge.tags_of(article),
            "chunks": await knowledge.chunks_of(session, who.principal, article.id),
            "may_write": _may_write(who),
            "announcement": DONE.get(request.query_params.get("done", ""), ""),
        },
    )


@page
async def delete_article(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Delete an article and its chunks."""
    _writer(who)
    await knowledge.delete_article(session, who.principal, _article_id(request))
    return RedirectResponse(f"{access.base(request)}/knowledge?done=deleted", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/knowledge", articles_page, methods=["GET"]),
    Route("/knowledge/new", new_article, methods=["GET", "POST"]),
    Route("/knowledge/{article_id}", article_page, methods=["GET", "POST"]),
    Route("/knowledge/{article_id}/delete", delete_article, methods=["POST"]),
]
