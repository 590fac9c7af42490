"""Partner pages show the CRM's name of a partner's customer only to readers whose
customer scope holds the customer; to others the name the broker typed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm_site.roles import Role
from customers.models import Customer
from marketing.services.partners import partner_registration_create
from tests.factories import UserFactory
from tests.helpers import assert_queries_do_not_grow

COMMISSIONS = reverse("marketing:commission-list")
SECRET = "欧阳秘密"


@pytest.fixture
def far_manager(other_team):
    """The sales manager of a team that does not sell the project: sees channel
    partners, not the project team's customers."""
    return UserFactory(username="far_manager", team=other_team, role=Role.SALES_MANAGER)


def far_customer_of(broker, partner, project, mobile="+8613911112222"):
    """A customer the broker registered as 冯一, held in the CRM under another name
    (a number that matched an existing customer)."""
    link = partner_registration_create(
        broker=broker, partner=partner, project=project, name="冯一", mobile=mobile
    )
    Customer.objects.filter(pk=link.customer_id).update(name=SECRET)
    return link


def test_partner_page_hides_the_crm_name_of_a_customer_outside_the_readers_scope(
    client, broker, partner, project, far_manager
):
    link = far_customer_of(broker, partner, project)
    assert not Customer.objects.visible_to(far_manager).filter(pk=link.customer_id)
    client.force_login(far_manager)
    body = client.get(reverse("marketing:partner-detail", args=[partner.pk]))
    body = body.content.decode()
    assert SECRET not in body
    assert "冯一" in body


def test_partner_page_shows_the_crm_name_to_a_reader_who_sees_the_customer(
    client, broker, partner, project, sales_manager
):
    far_customer_of(broker, partner, project)
    client.force_login(sales_manager)
    body = client.get(reverse("marketing:partner-detail", args=[partner.pk]))
    assert SECRET in body.content.decode()


def test_commission_list_hides_the_crm_name_of_a_customer_outside_the_readers_scope(
    client, broker, partner, project, consultant, far_manager, sign
):
    link = far_customer_of(broker, partner, project)
    sign(link.customer, consultant)
    assert not Customer.objects.visible_to(far_manager).filter(pk=link.customer_id)
    client.force_login(far_manager)
    body = client.get(COMMISSIONS).content.decode()
    assert "冯一" in body
    assert SECRET not in body


def test_commission_list_shows_the_crm_name_to_a_reader_who_sees_the_customer(
    client, broker, partner, project, consultant, sales_manager, sign
):
    link = far_customer_of(broker, partner, project)
    sign(link.customer, consultant)
    client.force_login(sales_manager)
    assert SECRET in client.get(COMMISSIONS).content.decode()


def test_partner_pages_with_names_in_and_out_of_scope_do_not_grow_queries(
    client, broker, partner, project, consultant, far_manager, sign
):
    counter = iter(range(100))

    def grow():
        for _ in range(2):
            link = far_customer_of(
                broker, partner, project, mobile=f"+861391111{next(counter):04d}"
            )
            sign(link.customer, consultant)

    grow()
    client.force_login(far_manager)
    assert_queries_do_not_grow(lambda: client.get(COMMISSIONS), grow, at_most=13)
    page = reverse("marketing:partner-detail", args=[partner.pk])
    assert_queries_do_not_grow(lambda: client.get(page), grow, at_most=15)
