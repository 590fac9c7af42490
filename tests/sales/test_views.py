from __future__ import annotations

from django.urls import reverse

from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

HOME = reverse("sales:home")


def test_consultant_sees_own_customers_by_stage_and_the_pool(
    client, consultant, own_customer, owner_customer, pool_customer
):
    CustomerFactory(assigned_consultant=consultant, stage="buyer")
    client.force_login(consultant)
    response = client.get(HOME)
    assert response.status_code == 200
    assert response.context["my_total"] == 2
    counts = {value: n for value, _label, n in response.context["stage_counts"]}
    assert counts == {"prospect": 1, "buyer": 1, "owner": 0}
    assert response.context["pool_size"] == 1
    assert response.context["team"] == []
    assert "138 0013 8000" in response.content.decode()


def test_sales_manager_sees_the_team_workload(
    client,
    sales_manager,
    consultant,
    other_consultant,
    own_customer,
    owner_customer,
    far_consultant,
):
    CustomerFactory(assigned_consultant=far_consultant)
    client.force_login(sales_manager)
    team = {member.username: member for member in client.get(HOME).context["team"]}
    assert set(team) == {"consultant", "consultant2"}
    assert team["consultant"].prospects == 1
    assert team["consultant2"].owners == 1


def test_service_and_marketing_are_refused_the_sales_desk(
    client, service_agent, marketer
):
    for user in (service_agent, marketer):
        client.force_login(user)
        assert client.get(HOME).status_code == 403


def test_sales_home_query_count_does_not_grow(
    client, sales_manager, consultant, other_consultant
):
    client.force_login(sales_manager)
    assert_queries_do_not_grow(
        lambda: client.get(HOME),
        lambda: CustomerFactory.create_batch(15, assigned_consultant=consultant),
        at_most=14,
    )
