"""My day (我的今日) lists only what a consultant can act on, each with its action."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site.submissions import FIELD
from customers import services as customer_services
from customers.models import Interaction
from sales.models import Project, Registration
from tests.factories import CustomerFactory

MY_DAY = reverse("sales:my-day")


@pytest.fixture
def project(team):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    return project


def _protected(consultant, name: str, ends_in: timedelta) -> Registration:
    customer = CustomerFactory(name=name, assigned_consultant=None)
    customer_services.interaction_log(
        customer=customer, kind="visit", summary="到访", actor=consultant
    )
    registration = Registration.objects.get(customer=customer)
    Registration.objects.filter(pk=registration.pk).update(
        protected_until=timezone.now() + ends_in
    )
    return registration


def test_my_day_lists_only_what_can_be_acted_on(client, consultant, project):
    today = timezone.localdate()
    CustomerFactory(
        name="逾期",
        mobile="+8613800001111",
        assigned_consultant=consultant,
        next_follow_up=today - timedelta(days=2),
    )
    CustomerFactory(
        name="下周", assigned_consultant=consultant, next_follow_up=today + timedelta(7)
    )
    _protected(consultant, "三天后到期", timedelta(days=3))
    _protected(consultant, "已过期", timedelta(hours=-2))
    _protected(consultant, "十天后到期", timedelta(days=10))
    client.force_login(consultant)
    response = client.get(MY_DAY)
    assert [c.name for c in response.context["overdue"]] == ["逾期"]
    assert [r.customer.name for r in response.context["ending"]] == ["三天后到期"]
    body = response.content.decode()
    assert "下周" not in body and "已过期" not in body and "十天后到期" not in body
    # The number to call (the consultant's own customer: in full) and a log form.
    assert 'href="tel:+8613800001111"' in body
    assert body.count('data-testid="quick-log-form"') == 2
    # Each row's form has the page's CSRF token and a one-time token of its own.
    csrf = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body))
    tokens = re.findall(rf'name="{FIELD}" value="([^"]+)"', body)
    assert len(csrf) == 1 and len(tokens) == len(set(tokens)) >= 2


def test_one_click_log_replaces_the_row_and_renews_the_protection(
    client, consultant, project
):
    registration = _protected(consultant, "三天后到期", timedelta(days=3))
    customer = registration.customer
    customer.next_follow_up = timezone.localdate() - timedelta(days=1)
    next_week = timezone.localdate() + timedelta(days=7)
    client.force_login(consultant)
    response = client.post(
        reverse("customers:interaction-create", args=[customer.pk]),
        {
            "as": "row",
            "kind": "call_out",
            "summary": "约周末看房",
            "next_follow_up": next_week.isoformat(),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="quick-log-done"' in body and "quick-log-form" not in body
    assert Interaction.objects.filter(customer=customer, kind="call_out").count() == 1
    customer.refresh_from_db()
    assert customer.next_follow_up == next_week
    registration.refresh_from_db()
    assert registration.protected_until > timezone.now() + timedelta(days=7)
    # The customer has left My day's lists.
    page = client.get(MY_DAY)
    assert page.context["overdue"] == [] and page.context["ending"] == []


def test_one_click_log_without_a_summary_keeps_the_row_with_the_error(
    client, consultant
):
    customer = CustomerFactory(
        assigned_consultant=consultant,
        next_follow_up=timezone.localdate() - timedelta(days=1),
    )
    client.force_login(consultant)
    response = client.post(
        reverse("customers:interaction-create", args=[customer.pk]),
        {"as": "row", "kind": "call_out", "summary": " "},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'data-testid="quick-log-errors"' in response.content.decode()
    assert not Interaction.objects.filter(customer=customer).exists()


def test_one_click_log_on_someone_elses_customer_is_not_found(
    client, consultant, others_customer
):
    client.force_login(consultant)
    response = client.post(
        reverse("customers:interaction-create", args=[others_customer.pk]),
        {"as": "row", "kind": "call_out", "summary": "试试"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 404


def test_my_day_queries_do_not_grow_with_rows(
    client, consultant, project, django_assert_num_queries
):
    from django.core.cache import cache

    today = timezone.localdate()

    def grow(n: int) -> None:
        for i in range(n):
            CustomerFactory(
                assigned_consultant=consultant, next_follow_up=today - timedelta(1)
            )
            _protected(consultant, f"保护{n}{i}", timedelta(days=2))

    client.force_login(consultant)
    grow(1)
    client.get(MY_DAY)
    cache.clear()
    with django_assert_num_queries(13) as first:
        client.get(MY_DAY)
    grow(3)
    cache.clear()
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(MY_DAY)


def test_a_protection_held_by_a_signed_deal_is_not_listed(client, consultant, project):
    from sales.models import Opportunity

    registration = _protected(consultant, "已签约", timedelta(days=2))
    Opportunity.objects.create(
        customer=registration.customer,
        project=project,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    _protected(consultant, "要跟进", timedelta(days=2))
    client.force_login(consultant)
    ending = client.get(MY_DAY).context["ending"]
    assert [r.customer.name for r in ending] == ["要跟进"]
