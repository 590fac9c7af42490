"""The top customers list (customers:value-list), the tier on the customer page,
and the explorer's customers.value source drilling into the customer list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from crm_site import insight
from customers.models import CustomerValue, ValueTier
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tiers(db):
    # The migration's defaults, again after a transactional test emptied the tables.
    from customers.value import default_tiers_create

    default_tiers_create()


URL = reverse("customers:value-list")


def put(customer, score: str, *, cost: str = "0", project_id=None) -> CustomerValue:
    """A value row as the refresh would write it (the rows are derived data)."""
    from customers.value import tier_for

    score_d = Decimal(score)
    return CustomerValue.objects.create(
        customer=customer,
        contracted=score_d + Decimal(cost),
        referred=Decimal("0"),
        cost=Decimal(cost),
        score=score_d,
        tier=tier_for(score_d, ValueTier.objects.all()),
        channel=customer.source,
        project_id=project_id,
        consultant_id=customer.assigned_consultant_id,
        consented=customer.consent_sms
        or customer.consent_email
        or customer.consent_phone,
        service=customer.stage in ("buyer", "owner"),
    )


def names(response) -> list[str]:
    return [row.name for row in response.context["rows"]]


@pytest.fixture
def ranked(consultant, far_consultant):
    """Three customers of the first team with values, one of another team's."""
    top = CustomerFactory(
        name="王大", mobile="+8613800000001", assigned_consultant=consultant
    )
    mid = CustomerFactory(
        name="王二", mobile="+8613800000002", assigned_consultant=consultant
    )
    low = CustomerFactory(
        name="王三", mobile="+8613800000003", assigned_consultant=consultant
    )
    far = CustomerFactory(name="远客", assigned_consultant=far_consultant)
    put(top, "12000000")
    put(mid, "3000000", project_id=7)
    put(low, "-5000", cost="5000")
    put(far, "99000000")
    return {"top": top, "mid": mid, "low": low, "far": far}


# Who sees the list ----------------------------------------------------------------------


def test_a_sales_manager_sees_the_teams_customers_highest_value_first(
    client, sales_manager, ranked
):
    client.force_login(sales_manager)
    response = client.get(URL)
    assert response.status_code == 200
    # The other team's customer is outside the customer list's scope.
    assert names(response) == ["王大", "王二", "王三"]
    rows = response.context["rows"]
    assert [r.tier for r in rows] == ["钻石", "白银", "普通"]
    assert rows[0].rank == 1 and rows[2].score == Decimal("-5000")
    html = response.content.decode()
    assert "钻石" in html and "¥12,000,000" in html
    # The sales manager sees full numbers on the customer list too.
    assert "138 0000 0001" in html or "13800000001" in html.replace(" ", "")


def test_marketing_sees_consented_customers_with_numbers_masked_as_on_the_list(
    client, marketer, ranked
):
    from customers.models import Customer

    Customer.objects.filter(pk=ranked["mid"].pk).update(consent_sms=False)
    client.force_login(marketer)
    response = client.get(URL)
    assert response.status_code == 200
    assert names(response) == ["远客", "王大", "王三"]
    top = next(r for r in response.context["rows"] if r.name == "王大")
    listed = client.get(reverse("customers:customer-list"))
    masked = {r.name: r.mobile for r in listed.context["rows"]}
    assert top.mobile == masked["王大"] and "*" in top.mobile


def test_the_service_manager_sees_buyers_and_owners_only(
    client, service_manager, ranked
):
    from customers.models import Customer

    Customer.objects.filter(pk=ranked["low"].pk).update(stage="owner")
    client.force_login(service_manager)
    assert names(client.get(URL)) == ["王三"]


@pytest.mark.parametrize("persona", ["consultant", "service_agent"], indirect=True)
def test_desk_roles_may_not_open_the_list(client, persona, ranked):
    client.force_login(persona)
    assert client.get(URL).status_code == 403


def test_an_outsider_may_not_open_the_list(client, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def test_the_list_is_read_only(client, sales_manager):
    client.force_login(sales_manager)
    assert client.post(URL).status_code == 405


# Filters ----------------------------------------------------------------------------------


def test_filter_by_tier_and_by_project(client, sales_manager, ranked):
    client.force_login(sales_manager)
    from sales.models import Project

    diamond = ValueTier.objects.get(name="钻石")
    assert names(client.get(URL, {"tier": diamond.pk})) == ["王大"]
    project = Project.objects.create(name="安居·云栖", city="杭州")
    CustomerValue.objects.filter(customer=ranked["mid"]).update(project_id=project.pk)
    assert names(client.get(URL, {"project": project.pk})) == ["王二"]


def test_a_bad_filter_is_refused_next_to_the_field_and_the_list_stays_whole(
    client, sales_manager, ranked
):
    client.force_login(sales_manager)
    response = client.get(URL, {"tier": "abc"})
    assert response.status_code == 200
    assert response.context["form"].errors["tier"]
    assert 'data-testid="tier-error"' in response.content.decode()
    assert names(response) == ["王大", "王二", "王三"]


def test_the_list_reads_a_fixed_number_of_queries(
    client, sales_manager, consultant, django_assert_max_num_queries
):
    client.force_login(sales_manager)
    for n in range(3):
        put(CustomerFactory(assigned_consultant=consultant), f"{n}000")
    client.get(URL)  # warm the caches of the session and permissions
    with django_assert_max_num_queries(12) as few:
        client.get(URL)
    for n in range(30):
        put(CustomerFactory(assigned_consultant=consultant), f"{n}00")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(response.context["rows"]) == 33


# The customer page ------------------------------------------------------------------------


def test_the_customer_page_shows_the_tier_to_all_and_the_figures_to_managers(
    client, consultant, sales_manager, ranked
):
    url = ranked["top"].get_absolute_url()
    client.force_login(consultant)
    html = client.get(url).content.decode()
    assert 'data-testid="customer-value-tier"' in html and "钻石" in html
    assert 'data-testid="customer-value"' not in html
    client.force_login(sales_manager)
    html = client.get(url).content.decode()
    assert 'data-testid="customer-value"' in html and "¥12,000,000" in html


def test_a_customer_without_a_value_row_shows_no_tier(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.get(own_customer.get_absolute_url())
    assert response.status_code == 200
    assert 'data-testid="customer-value-tier"' not in response.content.decode()


def test_the_list_links_to_the_top_customers_for_managers_only(
    client, consultant, sales_manager
):
    list_url = reverse("customers:customer-list")
    client.force_login(consultant)
    assert 'data-testid="value-list-link"' not in client.get(list_url).content.decode()
    client.force_login(sales_manager)
    assert 'data-testid="value-list-link"' in client.get(list_url).content.decode()


# The explorer's source --------------------------------------------------------------------


def test_every_cell_equals_the_customers_its_drill_opens(client, executive, ranked):
    source = insight.source_named("customers.value")
    pivot = insight.pivot(
        executive, source, source.measure("customers"), [source.dimension("tier")]
    )
    client.force_login(executive)
    assert pivot.total == 4
    for tier_id, _label in pivot.rows:
        url = insight.drill_url(source, pivot.cell_filters(tier_id))
        response = client.get(url)
        assert response.context["drill"] is not None
        assert 'data-testid="drill-banner"' in response.content.decode()
        assert len(response.context["rows"]) == pivot.cells[(tier_id, None)]
    score = insight.pivot(executive, source, source.measure("score"))
    assert score.total == Decimal("113995000")


def test_the_source_counts_nothing_for_roles_without_value(consultant, ranked):
    source = insight.source_named("customers.value")
    assert insight.pivot(consultant, source, source.measure("customers")).total == 0


def test_a_sales_managers_pivot_keeps_to_the_customer_lists_scope(
    sales_manager, ranked
):
    source = insight.source_named("customers.value")
    assert insight.pivot(sales_manager, source, source.measure("customers")).total == 3


def test_the_value_row_costs_the_customer_page_no_query(
    client, sales_manager, consultant, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plain = CustomerFactory(assigned_consultant=consultant)
    valued = CustomerFactory(assigned_consultant=consultant)
    put(valued, "6000000")
    client.force_login(sales_manager)
    client.get(plain.get_absolute_url())
    client.get(valued.get_absolute_url())
    with CaptureQueriesContext(connection) as base:
        client.get(plain.get_absolute_url())
    with django_assert_num_queries(len(base.captured_queries)):
        response = client.get(valued.get_absolute_url())
    assert "黄金" in response.content.decode()


def test_saving_a_tier_in_the_admin_re_tiers_customers(client, consultant):
    from tests.factories import UserFactory

    customer = CustomerFactory(assigned_consultant=consultant)
    put(customer, "2500000")
    silver = ValueTier.objects.get(name="白银")
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:customers_valuetier_change", args=[silver.pk]),
        {"name": "白银", "min_score": "3000000", "style": "secondary"},
    )
    assert response.status_code == 302
    assert CustomerValue.objects.get(customer=customer).tier.name == "普通"
