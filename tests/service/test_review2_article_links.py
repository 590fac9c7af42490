"""Linking a knowledge-base article to a request, or unlinking it, leaves a step on
the request and an audit entry: the desk can tell who said a request was handled
with which article."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from service.models import Article, ArticleUse


@pytest.fixture
def article(service_manager):
    return Article.objects.create(
        title="卫生间楼板渗水",
        category="plumbing",
        problem="楼下天花板渗水",
        cause="防水层破损",
        fix="重做防水",
        created_by=service_manager,
    )


def article_steps(leak):
    return list(leak.steps.filter(event__startswith="service.article_").order_by("pk"))


def test_linking_an_article_leaves_one_step_and_one_audit_entry(
    client, leak, article, service_agent
):
    client.force_login(service_agent)
    url = reverse("service:article-use", args=[leak.pk, article.pk])

    client.post(url)
    client.post(url)

    assert ArticleUse.objects.count() == 1
    (step,) = article_steps(leak)
    assert step.actor == service_agent
    assert step.event == "service.article_linked"
    assert step.from_status == step.to_status == leak.status
    with translation.override("en"):
        assert "卫生间楼板渗水" in step.text
    (entry,) = audit_entries_for(leak).filter(changes__has_key="articles")
    assert entry.actor == service_agent
    assert entry.action == AuditEntry.Action.UPDATE
    assert entry.changes == {"articles": {"old": "", "new": "卫生间楼板渗水"}}


def test_unlinking_an_article_leaves_a_step_and_an_audit_entry(
    client, leak, article, service_agent
):
    client.force_login(service_agent)
    url = reverse("service:article-use", args=[leak.pk, article.pk])
    client.post(url)

    client.post(url, {"remove": "1"})
    client.post(url, {"remove": "1"})

    assert not ArticleUse.objects.exists()
    assert [s.event for s in article_steps(leak)] == [
        "service.article_linked",
        "service.article_unlinked",
    ]
    entries = audit_entries_for(leak).filter(changes__has_key="articles")
    assert [e.changes["articles"] for e in entries.order_by("pk")] == [
        {"old": "", "new": "卫生间楼板渗水"},
        {"old": "卫生间楼板渗水", "new": ""},
    ]
    assert all(e.actor == service_agent for e in entries)
