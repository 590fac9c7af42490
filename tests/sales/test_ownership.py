from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import Notification
from customers import services as customer_services
from customers.models import Customer
from sales import services
from sales.models import Opportunity, OwnershipEvent, Project, Registration
from sales.services import ownership
from tests.factories import CustomerFactory, make_building, register_at
from tests.helpers import customer_page


@pytest.fixture
def project(team, other_team):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    return project


def visit(customer, user, **kw):
    return customer_services.interaction_log(
        customer=customer, kind="visit", summary="到访", actor=user, **kw
    )


def test_first_visit_registers_the_customer_for_the_visit_window(
    project, consultant, pool_customer
):
    visit(pool_customer, consultant)
    registration = Registration.objects.get()
    assert registration.consultant == consultant and registration.basis == "visit"
    assert (
        registration.protected_until.date()
        == (timezone.now() + timedelta(days=7)).date()
    )
    pool_customer.refresh_from_db()
    assert pool_customer.assigned_consultant == consultant
    event = OwnershipEvent.objects.get()
    assert event.kind == "registered" and event.rule_version == 1
    # Why: the basis and the rule, as an event shown in the reader's language.
    assert event.event == "sales.registered_under_rule" and event.reason == ""
    assert event.params == {"basis": "visit", "version": "1", "days": "7"}
    with translation.override("en"):
        assert event.text == "Visit registration under rule v1: 7 days"


def test_a_call_registers_for_the_call_window(project, consultant, pool_customer):
    customer_services.interaction_log(
        customer=pool_customer, kind="call_in", summary="来电", actor=consultant
    )
    assert Registration.objects.get().basis == "call"
    assert (
        Registration.objects.get().protected_until.date()
        == (timezone.now() + timedelta(days=15)).date()
    )


def test_only_real_follow_ups_renew_protection(project, consultant, pool_customer):
    visit(pool_customer, consultant)
    before = Registration.objects.get().protected_until
    customer_services.interaction_log(
        customer=pool_customer, kind="note", summary="改了备注", actor=consultant
    )
    customer_services.interaction_log(
        customer=pool_customer, kind="wechat", summary="微信", actor=consultant
    )
    assert Registration.objects.get().protected_until == before
    customer_services.interaction_log(
        customer=pool_customer, kind="call_out", summary="回访", actor=consultant
    )
    renewed = Registration.objects.get()
    assert (
        renewed.protected_until.date() == (timezone.now() + timedelta(days=30)).date()
    )
    renewal = OwnershipEvent.objects.get(kind="renewed")
    assert renewal.event == "sales.renewed_by_contact"
    assert renewal.params["kind"] == "call_out"


def test_registering_a_protected_customer_is_refused_with_owner_and_date(
    project, consultant, other_consultant, pool_customer
):
    visit(pool_customer, consultant)
    with pytest.raises(ownership.RegistrationRefused) as refused:
        ownership.registration_create(
            actor=other_consultant,
            customer=pool_customer,
            project=project,
            consultant=other_consultant,
            basis="visit",
        )
    assert refused.value.registration.consultant == consultant
    assert (
        OwnershipEvent.objects.filter(
            kind="refused", consultant=other_consultant
        ).count()
        == 1
    )


def test_a_colleagues_visit_on_a_protected_customer_is_logged_but_ownership_stays(
    project, consultant, other_consultant, pool_customer
):
    visit(pool_customer, consultant)
    visit(pool_customer, other_consultant)
    assert Registration.objects.get().consultant == consultant
    assert Notification.objects.filter(user=other_consultant).exists()
    assert pool_customer.interactions.count() == 2


def test_two_projects_two_owners_both_see_the_customer(
    project, consultant, far_consultant, other_team, pool_customer
):
    other = Project.objects.create(name="安居·云栖府")
    other.teams.add(other_team)
    visit(pool_customer, consultant)
    visit(pool_customer, far_consultant)
    assert Registration.objects.filter(status="protected").count() == 2
    assert (
        Customer.objects.visible_to(far_consultant).filter(pk=pool_customer.pk).exists()
    )
    assert Customer.objects.visible_to(consultant).filter(pk=pool_customer.pk).exists()


def test_sweep_returns_lapsed_customers_to_the_pool_once(
    project, consultant, pool_customer
):
    visit(pool_customer, consultant, occurred_at=timezone.now() - timedelta(days=10))
    assert ownership.registrations_sweep() == 1
    pool_customer.refresh_from_db()
    assert pool_customer.assigned_consultant is None
    assert Registration.objects.get().status == "lapsed"
    assert ownership.registrations_sweep() == 0
    lapse = OwnershipEvent.objects.get(kind="lapsed")
    assert lapse.event == "sales.no_follow_up" and lapse.reason == ""
    assert Notification.objects.filter(user=consultant).count() == 1


def test_a_subscription_protects_until_the_deal_ends(
    project, consultant, pool_customer
):
    building = make_building(project_name=project.name)
    visit(pool_customer, consultant, occurred_at=timezone.now() - timedelta(days=10))
    deal = services.opportunity_open(
        actor=consultant, customer=pool_customer, project=project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.first()
    )
    services.unit_subscribe(actor=consultant, opportunity=deal)
    assert ownership.registrations_sweep() == 0
    assert Registration.objects.get().status == "protected"


def test_warning_is_sent_once_before_lapse(project, consultant, pool_customer):
    visit(pool_customer, consultant, occurred_at=timezone.now() - timedelta(days=5))
    assert ownership.registrations_warn() == 1
    assert ownership.registrations_warn() == 0
    assert Notification.objects.filter(user=consultant).count() == 1


def test_claim_from_the_pool_starts_a_new_period_up_to_the_daily_cap(
    project, consultant
):
    rule = ownership.rule_update(actor=consultant, project=project, daily_claim_cap=2)
    customers = CustomerFactory.create_batch(3, assigned_consultant=None)
    for customer in customers[:2]:
        registration = ownership.pool_claim(
            actor=consultant, customer=customer, project=project
        )
        assert registration.rule == rule and registration.basis == "claim"
    with pytest.raises(ownership.ClaimRefused):
        ownership.pool_claim(actor=consultant, customer=customers[2], project=project)
    customers[2].refresh_from_db()
    assert customers[2].assigned_consultant is None


def test_reassignment_keeps_the_reason_and_history(
    project, consultant, other_consultant, sales_manager, pool_customer
):
    visit(pool_customer, consultant)
    registration = Registration.objects.get()
    ownership.registration_reassign(
        actor=sales_manager,
        registration=registration,
        consultant=other_consultant,
        reason="顾问离职",
    )
    pool_customer.refresh_from_db()
    assert pool_customer.assigned_consultant == other_consultant
    event = OwnershipEvent.objects.get(kind="reassigned")
    assert event.reason == "顾问离职" and event.actor == sales_manager


def test_rule_versions_are_kept(project, sales_manager):
    first = ownership.current_rule(project)
    second = ownership.rule_update(
        actor=sales_manager, project=project, follow_up_days=45
    )
    assert (first.version, second.version, second.follow_up_days, second.call_days) == (
        1,
        2,
        45,
        15,
    )


# Pages ---------------------------------------------------------------------------


def test_pool_page_masks_numbers_and_claims(client, project, consultant, pool_customer):
    client.force_login(consultant)
    page = client.get(reverse("sales:pool"))
    assert "137****7000" in page.content.decode()
    response = client.post(
        reverse("sales:pool-claim", args=[pool_customer.pk]), {"project": project.pk}
    )
    assert response.status_code == 302
    pool_customer.refresh_from_db()
    assert pool_customer.assigned_consultant == consultant
    assert (
        client.post(
            reverse("sales:pool-claim", args=[pool_customer.pk]),
            {"project": project.pk},
        ).status_code
        == 404
    )


def test_pool_pages_refuse_other_roles(client, service_agent, pool_customer, project):
    client.force_login(service_agent)
    assert client.get(reverse("sales:pool")).status_code == 403
    assert (
        client.post(
            reverse("sales:pool-claim", args=[pool_customer.pk]),
            {"project": project.pk},
        ).status_code
        == 403
    )


def test_customer_page_shows_ownership_history(
    client, project, consultant, pool_customer
):
    visit(pool_customer, consultant)
    client.force_login(consultant)
    body = customer_page(client, pool_customer)
    assert (
        'data-testid="ownership"' in body and 'data-testid="ownership-history"' in body
    )


def test_manager_reassigns_from_the_customer_page_with_a_reason(
    client, project, consultant, other_consultant, sales_manager, pool_customer
):
    visit(pool_customer, consultant)
    registration = Registration.objects.get()
    client.force_login(sales_manager)
    url = reverse("sales:registration-reassign", args=[registration.pk])
    client.post(url, {"consultant": other_consultant.pk, "reason": ""})
    assert Registration.objects.get(pk=registration.pk).status == "protected"
    client.post(url, {"consultant": other_consultant.pk, "reason": "客户要求换顾问"})
    assert Registration.objects.get(status="protected").consultant == other_consultant


def test_rules_page(client, project, sales_manager, consultant):
    url = reverse("sales:project-rules", args=[project.pk])
    client.force_login(consultant)
    assert client.get(url).status_code == 403
    client.force_login(sales_manager)
    client.post(
        url,
        {
            "call_days": 15,
            "visit_days": 7,
            "follow_up_days": 400,
            "warn_days": 3,
            "daily_claim_cap": 10,
        },
    )
    assert (
        project.protection_rules.count() == 1
    )  # current v1 only, the bad version refused
    client.post(
        url,
        {
            "call_days": 20,
            "visit_days": 7,
            "follow_up_days": 30,
            "warn_days": 3,
            "daily_claim_cap": 10,
        },
    )
    assert ownership.current_rule(project).call_days == 20


def test_a_deal_at_a_project_is_opened_by_the_consultant_protected_there(
    client, team, consultant, other_consultant, pool_customer
):
    """The other consultant reaches the customer through their own registration at
    another project: they may work with them there, not open a deal where the
    consultant holds protection."""
    here = Project.objects.create(name="安居·御景湾")
    there = Project.objects.create(name="安居·云栖")
    for project in (here, there):
        project.teams.add(team)
    register_at(pool_customer, consultant, here)
    register_at(pool_customer, other_consultant, there)
    client.force_login(other_consultant)
    url = reverse("sales:opportunity-open", args=[pool_customer.pk])
    assert client.get(url).status_code == 200  # they may change the customer

    refused = client.post(url, {"project": here.pk})
    unit = make_building(project_name=here.name).units.first()
    held = client.post(
        reverse("sales:unit-reserve", args=[unit.pk]),
        {"mobile": pool_customer.mobile},
        follow=True,
    )

    assert "该客户在此项目处于保护期内。" in refused.content.decode()
    assert not Opportunity.objects.filter(customer=pool_customer, project=here).exists()
    assert "该客户在此项目处于保护期内。" in held.content.decode()
    unit.refresh_from_db()
    assert unit.status == "available"
    # At their own project they open it.
    assert client.post(url, {"project": there.pk}).status_code == 302


@pytest.mark.parametrize("gone", ["merged", "anonymised"])
def test_a_claim_of_a_customer_merged_or_erased_meanwhile_is_refused(
    project, consultant, gone
):
    """The claimant's page was read before a merge (or a PIPL erasure) committed: the
    claim would register protection on a record nobody sees any more."""
    customer, survivor = CustomerFactory.create_batch(2, assigned_consultant=None)
    if gone == "merged":
        Customer.objects.filter(pk=customer.pk).update(merged_into=survivor)
    else:
        Customer.objects.filter(pk=customer.pk).update(anonymised_at=timezone.now())
    with pytest.raises(ownership.ClaimRefused):
        ownership.pool_claim(actor=consultant, customer=customer, project=project)
    assert not Registration.objects.filter(customer=customer).exists()
