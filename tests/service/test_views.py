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
