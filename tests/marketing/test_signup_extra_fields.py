"""A landing page's sign-up carrying fields the call does not take (all five UTM
parameters, a page's own) is taken: a lead is never lost to a strict body check."""

from __future__ import annotations

import pytest

from crm_site.api.scopes import Scope
from customers.models import Customer
from tests.marketing.conftest import (  # noqa: F401  (fixtures)
    building,
    campaign,
    project,
    running,
    segment,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("extra", ["utm_term", "utm_content"])
def test_a_landing_page_sign_up_with_every_utm_parameter_is_taken(
    api_client,
    marketer,
    running,  # noqa: F811
    extra,
):
    client = api_client(marketer, Scope.CAMPAIGNS_WRITE)
    response = client.post(
        f"/api/v1/campaigns/{running.pk}/sign-ups/",
        {
            "name": "林小姐",
            "mobile": "139 1234 0000",
            "consent": True,
            "utm_source": "baidu",
            "utm_medium": "cpc",
            "utm_campaign": "spring-open-day",
            extra: "x",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Customer.objects.filter(mobile="+8613912340000").exists()
