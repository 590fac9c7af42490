from __future__ import annotations

from django.urls import reverse

from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

HOME = reverse("marketing:home")


def test_marketer_sees_the_customer_base_by_source_and_stage(
    client, marketer, consultant
):
    CustomerFactory.create_batch(3, source="wechat", assigned_consultant=consultant)
    CustomerFactory(source="event", stage="owner")
    client.force_login(marketer)
    response = client.get(HOME)
    assert response.status_code == 200
    assert response.context["total"] == 4
    by_source = {
        value: (n, pct) for value, _label, n, pct in response.context["by_source"]
    }
    assert by_source["wechat"] == (3, 75)
    assert by_source["event"] == (1, 25)
    assert by_source["web"] == (0, 0)


def test_sales_and_service_are_refused_marketing(client, consultant, service_agent):
    for user in (consultant, service_agent):
        client.force_login(user)
        assert client.get(HOME).status_code == 403


def test_marketing_home_query_count_does_not_grow(client, marketer):
    client.force_login(marketer)
    assert_queries_do_not_grow(
        lambda: client.get(HOME),
        lambda: CustomerFactory.create_batch(10, source="web"),
        at_most=8,
    )
