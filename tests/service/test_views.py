from __future__ import annotations

from django.urls import reverse

from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

HOME = reverse("service:home")


def test_service_agent_sees_owners_with_full_numbers(
    client, service_agent, owner_customer, own_customer
):
    client.force_login(service_agent)
    response = client.get(HOME)
    assert response.status_code == 200
    assert response.context["owner_count"] == 1
    assert response.context["owners"] == [owner_customer]
    assert "136 0013 6000" in response.content.decode()


def test_consultants_are_refused_the_service_desk(client, consultant):
    client.force_login(consultant)
    assert client.get(HOME).status_code == 403


def test_service_home_query_count_does_not_grow(client, service_manager, consultant):
    client.force_login(service_manager)
    assert_queries_do_not_grow(
        lambda: client.get(HOME),
        lambda: CustomerFactory.create_batch(
            12, stage="owner", assigned_consultant=consultant
        ),
        at_most=12,
    )


def test_a_request_past_its_deadline_says_how_late_it_is(
    client, service_agent, complaint
):
    """Not "(0 minutes)": timeuntil gives 0 for a moment past."""
    from datetime import timedelta

    from django.utils import timezone

    from service.models import ServiceRequest

    ServiceRequest.objects.filter(pk=complaint.pk).update(
        resolution_due=timezone.now() - timedelta(days=3, hours=2)
    )
    client.force_login(service_agent)
    url = reverse("service:request-detail", args=[complaint.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已超时 3" in page and "(0" not in page
