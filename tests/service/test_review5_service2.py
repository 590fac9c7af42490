"""Review of the service app (second pass): a work order only on a request the user may
see, the owner's "not solved" and rating kept on their form when refused, and an
article's edit audited with what changed, in the save's transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from crm_site.roles import Role
from service import portal_requests, services
from service.models import Article, ServiceRequest, SurveyResponse, WorkOrder
from tests.factories import UserFactory

# A work order is created only on a request the user may see ---------------------------


@pytest.fixture
def caller_who_may_work(db):
    """A consultant (sees only the requests they received) who was also given the
    desk's action right: no role has this combination today."""
    user = UserFactory(username="caller_who_may_work", role=Role.CONSULTANT)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="service", codename="use_service"
        )
    )
    return type(user).objects.get(pk=user.pk)  # a fresh permission cache


def test_a_work_order_on_a_request_outside_the_users_scope_is_404(
    client, leak, caller_who_may_work
):
    assert caller_who_may_work.has_perm("service.use_service")
    assert not ServiceRequest.objects.visible_to(caller_who_may_work).filter(pk=leak.pk)
    client.force_login(caller_who_may_work)
    response = client.post(
        reverse("service:work-order-create", args=[leak.pk]),
        {"task": "重做防水", "assignee_kind": "crew", "crew": "一班"},
    )
    assert response.status_code == 404
    assert not WorkOrder.objects.exists()


# The owner's "not solved" and rating, refused, come back on their form ---------------


@pytest.fixture
def resolved(owner_household, service_agent) -> ServiceRequest:
    request = portal_requests.portal_request_submit(
        owner=owner_household.buyer,
        household_ids=frozenset(
            {owner_household.buyer.pk, owner_household.co_buyer.pk}
        ),
        unit=owner_household.unit,
        kind="repair",
        category="plumbing",
        description="卫生间漏水",
    )
    portal_requests.request_accept(actor=service_agent, request=request)
    services.request_start(actor=service_agent, request=request)
    services.request_resolve(actor=service_agent, request=request, note="已修好")
    request.refresh_from_db()
    return request


NOTE = "卫生间地面还是渗水，楼下邻居天花板又湿了一片，请再派师傅来看看。"


def test_a_not_solved_refused_from_a_stale_page_keeps_what_the_owner_wrote(
    owner_client, resolved, service_agent
):
    # The desk heard the owner by phone first: the page the owner has open is stale.
    services.request_callback(
        actor=service_agent, request=resolved, satisfied=True, note="电话回访满意"
    )
    response = owner_client.post(
        reverse("service_portal:request-reject", args=[resolved.pk]), {"note": NOTE}
    )
    assert response.status_code == 400
    form = response.context["reject_form"]
    assert form.data["note"] == NOTE and form.non_field_errors()
    page = response.content.decode()
    assert NOTE in page and 'data-testid="portal-reject"' in page
    assert form.non_field_errors()[0] in page  # above the form, not in a message
    assert 'data-testid="portal-confirm"' not in page  # nothing left to confirm
    resolved.refresh_from_db()
    assert resolved.status == "called_back" and resolved.reopen_count == 0


def test_a_not_solved_too_long_is_shown_on_its_field_with_the_text_kept(
    owner_client, resolved
):
    note = "漏" * 301
    response = owner_client.post(
        reverse("service_portal:request-reject", args=[resolved.pk]), {"note": note}
    )
    assert response.status_code == 400
    form = response.context["reject_form"]
    assert form.errors["note"] and note in response.content.decode()
    resolved.refresh_from_db()
    assert resolved.status == "resolved"


def test_a_solved_with_a_note_too_long_is_not_closed_without_the_owners_words(
    owner_client, resolved
):
    """The note was dropped and the request closed anyway: the owner's words are
    said to be too long next to them, and the request stays resolved."""
    note = "好" * 301
    response = owner_client.post(
        reverse("service_portal:request-confirm", args=[resolved.pk]), {"note": note}
    )
    assert response.status_code == 400
    assert response.context["confirm_form"].errors["note"]
    assert note in response.content.decode()
    resolved.refresh_from_db()
    assert resolved.status == "resolved"


@pytest.fixture
def closed(owner_client, resolved) -> ServiceRequest:
    owner_client.post(
        reverse("service_portal:request-confirm", args=[resolved.pk]), {"note": ""}
    )
    resolved.refresh_from_db()
    assert resolved.status == "closed"
    return resolved


def _scores(owner_client, request) -> dict[str, str]:
    page = owner_client.get(reverse("service_portal:request-detail", args=[request.pk]))
    form = page.context["rating_form"]
    return {name: "4" for name in form.fields if name != "comment"}


def test_a_rating_missing_a_score_keeps_the_comment_and_the_scores_given(
    owner_client, closed
):
    scores = _scores(owner_client, closed)
    missing, *given = sorted(scores)
    response = owner_client.post(
        reverse("service_portal:request-rate", args=[closed.pk]),
        {**{name: scores[name] for name in given}, "comment": "师傅很专业，就是来晚了"},
    )
    assert response.status_code == 400
    form = response.context["rating_form"]
    assert form.errors[missing]
    page = response.content.decode()
    assert "师傅很专业，就是来晚了" in page
    for name in given:
        assert (
            f'name="{name}" id="id_{name}_3" value="4" autocomplete="off" checked'
            in (page)
        )
    assert not SurveyResponse.objects.exists()


def test_a_rating_the_service_refuses_comes_back_on_its_form(
    owner_client, closed, monkeypatch
):
    scores = _scores(owner_client, closed)

    def refuse(**kwargs):
        raise ValidationError("A request is rated once it is closed.")

    monkeypatch.setattr(portal_requests, "portal_request_rate", refuse)
    response = owner_client.post(
        reverse("service_portal:request-rate", args=[closed.pk]),
        {**scores, "comment": "满意"},
    )
    assert response.status_code == 400
    form = response.context["rating_form"]
    assert form.non_field_errors() and form.data["comment"] == "满意"
    assert "A request is rated once it is closed." in response.content.decode()


# An article's edit: audited with what changed, in one transaction with the save -------


@pytest.fixture
def article(service_manager) -> Article:
    return Article.objects.create(
        title="卫生间楼板渗水",
        category="plumbing",
        problem="楼下天花板渗水",
        cause="防水层破损",
        fix="重做防水",
        created_by=service_manager,
    )


def _edit(client, article, **changes):
    data = {
        "title": article.title,
        "category": article.category,
        "keywords": article.keywords,
        "problem": article.problem,
        "cause": article.cause,
        "fix": article.fix,
    }
    return client.post(
        reverse("service:article-edit", args=[article.pk]), data | changes
    )


def test_an_article_edit_is_audited_with_what_changed(client, article, service_agent):
    client.force_login(service_agent)
    assert _edit(client, article, fix="重做防水，闭水试验 48 小时").status_code == 302
    entry = audit_entries_for(article).get(action=AuditEntry.Action.UPDATE)
    assert entry.actor == service_agent
    assert entry.changes == {
        "fix": {"old": "重做防水", "new": "重做防水，闭水试验 48 小时"}
    }
    # Saved without a change: nothing to audit.
    article.refresh_from_db()
    _edit(client, article)
    assert audit_entries_for(article).filter(action="update").count() == 1


def test_an_article_edit_whose_audit_fails_is_not_saved(
    client, article, service_agent, monkeypatch
):
    def fail(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(AuditEntry.objects, "create", fail)
    client.force_login(service_agent)
    with pytest.raises(RuntimeError):
        _edit(client, article, fix="改过的办法")
    article.refresh_from_db()
    assert article.fix == "重做防水"
