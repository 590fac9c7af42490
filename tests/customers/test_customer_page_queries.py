"""The customer page costs a fixed, small number of queries, whatever the customer
has: a long timeline, deals, registrations, referrals, service requests, campaigns,
co-buyers, contacts, consents, tags and a change history (issue 13, item 2)."""

from __future__ import annotations

import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import services
from customers.models import ContactPoint, Tag
from marketing import services as marketing_services
from marketing.models import CampaignMember
from marketing.services.referrals import referral_create
from sales.models import Project
from sales.services import opportunity_open
from service import services as service_services
from tests.factories import CustomerFactory, random_mobile
from tests.helpers import assert_queries_do_not_grow, customer_page

# The page: session user, the customer (with tags and the edit right), the timeline
# page, the further contacts, the co-buyers, the notification badge.
PAGE_QUERIES = 6
# The panels, loaded right after it: session user, the customer, then sales'
# protection, its history and the deals, marketing's referrals (and whether the
# customer may refer) and campaigns.
PANEL_QUERIES = 8

_n = itertools.count()


@pytest.fixture
def rich_customer(consultant, team, marketer):
    """An owner of the consultant's (so a service agent sees them too) with a row of
    everything every app puts on the page."""
    customer = CustomerFactory(stage="owner", assigned_consultant=consultant)
    grow(customer, consultant, team, marketer)
    return customer


def grow(customer, consultant, team, marketer, times: int = 1) -> None:
    """One more of each thing the page or its panels show."""
    for _ in range(times):
        n = next(_n)
        project = Project.objects.create(name=f"项目{n}")
        project.teams.add(team)
        # A visit registers the customer at the consultant's projects.
        for kind in ("visit", "call_out", "note"):
            services.interaction_log(
                customer=customer, kind=kind, summary=f"{kind} {n}", actor=consultant
            )
        opportunity_open(actor=consultant, customer=customer, project=project)
        referral_create(
            actor=consultant,
            referrer=customer,
            project=project,
            friend_name=f"朋友{n}",
            friend_mobile=random_mobile(),
        )
        service_services.request_create(
            actor=consultant,
            customer=customer,
            kind="repair",
            category="plumbing",
            severity="normal",
            channel="phone",
            description=f"漏水{n}",
        )
        campaign = marketing_services.campaign_create(
            actor=marketer,
            name=f"活动{n}",
            kind="event",
            project=project,
            segment=None,
            starts_on=timezone.localdate(),
            ends_on=timezone.localdate(),
            invite_email=False,
            invite_sms=False,
            email_subject="",
            message="",
        )
        CampaignMember.objects.create(campaign=campaign, customer=customer)
        ContactPoint.objects.create(
            customer=customer, kind="landline", value=f"+86216{n:07d}"
        )
        services.household_link(
            actor=consultant,
            customer=customer,
            other=CustomerFactory(stage="owner", assigned_consultant=consultant),
            role="spouse",
        )
        services.consent_set(
            actor=consultant,
            customer=customer,
            purpose="sms",
            granted=bool(n % 2),
            method="verbal",
            note="",
        )
        services.customer_update(
            actor=consultant,
            customer=customer,
            notes=f"备注{n}",
            tags=[*customer.tags.all(), Tag.objects.create(name=f"标签{n}")],
        )


@pytest.mark.parametrize("persona", ["consultant", "service_agent"], indirect=True)
def test_the_customer_page_takes_a_fixed_number_of_queries(
    client, persona, rich_customer, consultant, team, marketer
):
    client.force_login(persona)
    page = rich_customer.get_absolute_url()
    assert_queries_do_not_grow(
        lambda: client.get(page),
        lambda: grow(rich_customer, consultant, team, marketer, times=3),
        at_most=PAGE_QUERIES,
    )


@pytest.mark.parametrize("persona", ["consultant", "service_agent"], indirect=True)
def test_the_panels_and_the_records_below_the_fold_take_a_fixed_number_of_queries(
    client, persona, rich_customer, consultant, team, marketer
):
    client.force_login(persona)
    for name, at_most in [
        ("customers:customer-panels", PANEL_QUERIES),
        ("customers:customer-history", 6),
        ("customers:customer-consents", 4),
    ]:
        url = reverse(name, args=[rich_customer.pk])
        assert_queries_do_not_grow(
            lambda url=url: client.get(url, HTTP_HX_REQUEST="true"),
            lambda: grow(rich_customer, consultant, team, marketer),
            at_most=at_most,
        )


def test_the_customer_page_shows_what_every_app_adds(client, consultant, rich_customer):
    client.force_login(consultant)
    body = customer_page(client, rich_customer)
    for testid in (
        "timeline",
        "ownership",
        "referrals",
        "customer-campaigns",
        "household",
        "consent-history",
        "audit-trail",
    ):
        assert f'data-testid="{testid}"' in body, testid
    assert "漏水" in body  # the service request on the timeline


PERSONAS = (
    "consultant",
    "other_consultant",
    "far_consultant",
    "sales_manager",
    "service_manager",
    "service_agent",
    "marketer",
    "executive",
    "outsider",
)


def test_the_one_customer_scope_is_the_lists_for_every_persona(
    request, consultant, other_consultant, far_consultant
):
    """A customer's page asks the scope for one customer (``one=True``): the team
    as a subquery instead of an array of ids. It must open exactly the customers the
    list shows, and allow changes to exactly those the list's edit scope holds."""
    from customers.models import Customer, CustomerAccess

    CustomerFactory(assigned_consultant=consultant)
    CustomerFactory(assigned_consultant=other_consultant, consent_sms=True)
    CustomerFactory(assigned_consultant=far_consultant, stage="owner")
    CustomerFactory(assigned_consultant=far_consultant)
    CustomerFactory(assigned_consultant=None)  # the public pool
    shared = CustomerFactory(assigned_consultant=far_consultant)
    CustomerAccess.objects.create(customer=shared, user=other_consultant)
    merged = CustomerFactory(assigned_consultant=consultant)
    Customer.objects.filter(pk=merged.pk).update(merged_into=shared)
    everyone = list(Customer.objects.values_list("pk", flat=True))
    personas = [request.getfixturevalue(name) for name in PERSONAS]
    for user in personas:
        for scope in ("visible_to", "editable_by"):
            listed = set(
                getattr(Customer.objects, scope)(user).values_list("pk", flat=True)
            )
            one_by_one = {
                pk
                for pk in everyone
                if getattr(Customer.objects, scope)(user, one=True)
                .filter(pk=pk)
                .exists()
            }
            assert one_by_one == listed, (user.username, scope)
