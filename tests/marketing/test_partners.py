from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from crm_site.models import Notification, User
from customers.models import Customer
from marketing.models import ChannelPartner, Commission, PartnerRegistration
from marketing.models.payouts import Payout
from marketing.services.partners import (
    PartnerRegistrationRefused,
    commission_on_contract,
    partner_registration_create,
)
from marketing.services.payouts import payout_move
from sales.models import OwnershipEvent, Registration
from sales.services.ownership import registration_create, registration_reassign
from tests.helpers import assert_queries_do_not_grow

PORTAL = reverse("marketing:portal")
REGISTER = reverse("marketing:portal-register")
COMMISSIONS = reverse("marketing:commission-list")


def register(broker, partner, project, mobile="+8613911112222", name="冯一"):
    return partner_registration_create(
        broker=broker, partner=partner, project=project, name=name, mobile=mobile
    )


def _signed_through(broker, partner, project, consultant, sales_manager, sign):
    """The broker registers a customer, a manager hands them to the consultant on
    their visit, and the deal is signed: (the partner's registration, the deal)."""
    link = register(broker, partner, project)
    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason="到访后转给置业顾问",
    )
    return link, sign(link.customer, consultant)


def test_a_broker_registers_a_new_customer_under_the_projects_rule(
    broker, partner, project
):
    link = register(broker, partner, project)
    customer = link.customer
    assert customer.source == Customer.Source.BROKER
    registration = link.registration
    assert registration.consultant == broker
    assert registration.status == Registration.Status.PROTECTED
    assert (registration.protected_until - registration.registered_at).days == (
        registration.rule.call_days
    )
    assert OwnershipEvent.objects.filter(customer=customer, kind="registered").exists()


def test_registering_the_same_customer_twice_returns_the_registration(
    broker, partner, project
):
    first = register(broker, partner, project)
    assert register(broker, partner, project) == first
    assert PartnerRegistration.objects.count() == 1


def test_registration_is_refused_when_a_consultant_protects_the_customer(
    broker, partner, project, consultant, own_customer
):
    registration_create(
        actor=consultant,
        customer=own_customer,
        project=project,
        consultant=consultant,
        basis=Registration.Basis.VISIT,
    )
    with pytest.raises(PartnerRegistrationRefused) as refused:
        register(broker, partner, project, mobile=own_customer.mobile)
    assert not PartnerRegistration.objects.exists()
    # The refusal is on record with the owner, for the sales managers; the broker's
    # message names nobody and no date.
    event = OwnershipEvent.objects.get(
        customer=own_customer, kind="refused", consultant_id=broker.pk
    )
    assert event.event == "sales.protected_by" and event.reason == ""
    assert event.params["owner"] == consultant.display_name
    assert consultant.display_name in event.text
    message = refused.value.message
    assert consultant.display_name not in message
    assert consultant.last_name not in message and own_customer.name not in message
    assert not re.search(r"\d{4}-\d{2}-\d{2}", message)


def test_a_consultant_is_refused_a_customer_the_partner_protects(
    broker, partner, project, consultant
):
    from sales.services.ownership import RegistrationRefused

    link = register(broker, partner, project)
    with pytest.raises(RegistrationRefused):
        registration_create(
            actor=consultant,
            customer=link.customer,
            project=project,
            consultant=consultant,
            basis=Registration.Basis.CALL,
        )


def test_percent_commission_is_due_on_contract_to_the_fen(
    broker, partner, project, consultant, sales_manager, sign
):
    _link, deal = _signed_through(
        broker, partner, project, consultant, sales_manager, sign
    )
    commission = Commission.objects.get()
    assert commission.partner == partner and commission.opportunity == deal
    assert commission.base_price == deal.agreed_price
    expected = (deal.agreed_price * Decimal("0.015")).quantize(Decimal("0.01"))
    assert commission.amount == expected
    assert commission.status == Payout.Status.DUE
    # Once per deal.
    assert commission_on_contract(opportunity=deal, actor=consultant) is None
    assert Commission.objects.count() == 1


def test_fixed_commission_ignores_the_price(
    other_broker, other_partner, project, consultant, sign
):
    link = register(other_broker, other_partner, project)
    sign(link.customer, consultant)
    assert Commission.objects.get().amount == Decimal("8000.00")


def test_commission_arithmetic_rounds_half_up():
    partner = ChannelPartner(
        commission_kind="percent", commission_value=Decimal("1.25")
    )
    assert partner.commission_for(Decimal("1000.20")) == Decimal("12.50")
    assert partner.commission_for(Decimal("1000.40")) == Decimal("12.51")
    assert partner.commission_for(None) == Decimal("0.00")


def test_no_commission_when_the_registration_lapsed_before_the_deal(
    broker, partner, project, consultant, sign
):
    link = register(broker, partner, project)
    Registration.objects.filter(pk=link.registration_id).update(
        status=Registration.Status.LAPSED,
        ended_at=link.registration.registered_at,
    )
    sign(link.customer, consultant)
    assert not Commission.objects.exists()


def test_no_commission_for_customers_of_no_partner(consultant, own_customer, sign):
    sign(own_customer, consultant)
    assert not Commission.objects.exists()


def test_commission_is_paid_once_and_needs_no_approval(
    broker, partner, project, consultant, sign, marketer
):
    link = register(broker, partner, project)
    sign(link.customer, consultant)
    commission = Commission.objects.get()
    assert payout_move(actor=marketer, payout=commission, status=Payout.Status.PAID)
    assert not payout_move(actor=marketer, payout=commission, status=Payout.Status.PAID)
    with pytest.raises(ValidationError):
        payout_move(actor=marketer, payout=commission, status=Payout.Status.APPROVED)
    commission.refresh_from_db()
    assert commission.paid_by == marketer


# The portal ---------------------------------------------------------------------------


def test_the_broker_registers_through_the_portal(client, broker, project):
    client.force_login(broker)
    response = client.post(
        REGISTER, {"name": "冯一", "mobile": "139 1111 2222", "project": project.pk}
    )
    assert response.status_code == 302
    assert PartnerRegistration.objects.get().customer.mobile == "+8613911112222"


def test_the_portal_shows_the_refusal_and_saves_nothing(
    client, broker, project, consultant, own_customer
):
    registration_create(
        actor=consultant,
        customer=own_customer,
        project=project,
        consultant=consultant,
        basis=Registration.Basis.VISIT,
    )
    client.force_login(broker)
    response = client.post(
        REGISTER, {"name": "张三", "mobile": own_customer.mobile, "project": project.pk}
    )
    assert response.status_code == 400
    errors = " ".join(response.context["form"].non_field_errors())
    assert errors
    body = response.content.decode()
    # Nothing on the page tells the broker who protects the customer or until when.
    assert consultant.display_name not in body and consultant.username not in body
    assert not re.search(r"\d{4}-\d{2}-\d{2}", errors)
    assert not PartnerRegistration.objects.exists()


def test_a_successful_registration_repeats_the_name_the_broker_typed(
    client, broker, project, own_customer
):
    client.force_login(broker)
    response = client.post(
        REGISTER,
        {"name": "冯一", "mobile": own_customer.mobile, "project": project.pk},
        follow=True,
    )
    body = response.content.decode()
    assert "冯一" in body
    # The number belongs to a customer stored as 张三: the broker does not learn it.
    assert own_customer.name not in body


def test_a_broker_whose_customer_is_handed_to_sales_is_not_told_to_whom(
    broker, partner, project, sales_manager, consultant
):
    link = register(broker, partner, project)
    registration_reassign(
        actor=sales_manager,
        registration=link.registration,
        consultant=consultant,
        reason=f"到访后转给{consultant.display_name}",
    )
    note = Notification.objects.filter(user=broker).latest("pk")
    assert note.event == "sales.handed_to_sales_office" and note.message == ""
    assert consultant.display_name not in note.text
    assert consultant.last_name not in note.text


def test_a_consultant_whose_customer_is_reassigned_is_told_to_whom(
    sales_manager, consultant, other_consultant, own_customer, project
):
    registration = registration_create(
        actor=consultant,
        customer=own_customer,
        project=project,
        consultant=consultant,
        basis=Registration.Basis.VISIT,
    )
    registration_reassign(
        actor=sales_manager,
        registration=registration,
        consultant=other_consultant,
        reason="调岗",
    )
    note = Notification.objects.filter(user=consultant).latest("pk")
    assert note.event == "sales.reassigned" and note.message == "调岗"
    with translation.override("en"):
        assert note.text == (
            f"{own_customer.name} was reassigned to {other_consultant.display_name}"
            " · 调岗"
        )


def test_the_portal_refuses_a_bad_number_next_to_the_field(client, broker, project):
    client.force_login(broker)
    response = client.post(
        REGISTER, {"name": "冯一", "mobile": "123", "project": project.pk}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["mobile"]
    assert not Customer.objects.exists()


def test_a_partner_sees_only_their_own_registrations_with_masked_numbers(
    client, broker, partner, other_broker, other_partner, project
):
    register(broker, partner, project, mobile="+8613911112222", name="冯一")
    register(other_broker, other_partner, project, mobile="+8613922223333", name="陈二")
    client.force_login(broker)
    response = client.get(PORTAL)
    rows = response.context["page"].items
    assert [r.customer.name for r in rows] == ["冯一"]
    body = response.content.decode()
    assert "139****2222" in body
    assert "13911112222" not in body and "陈二" not in body


def test_a_partner_sees_only_their_own_commissions(
    client, broker, partner, other_broker, other_partner, project, consultant, sign
):
    sign(register(broker, partner, project).customer, consultant)
    sign(
        register(
            other_broker, other_partner, project, mobile="+8613922223333"
        ).customer,
        consultant,
    )
    client.force_login(broker)
    rows = client.get(reverse("marketing:portal-commissions")).context["page"].items
    assert [c.partner for c in rows] == [partner]


def test_a_broker_has_no_customer_list_and_no_customer_page(
    client, broker, partner, project
):
    link = register(broker, partner, project)
    client.force_login(broker)
    assert client.get(reverse("customers:customer-list")).status_code == 403
    assert client.get(link.customer.get_absolute_url()).status_code in (403, 404)
    assert client.get(reverse("sales:home")).status_code == 403
    assert client.get(COMMISSIONS).status_code == 403
    # Home takes the broker to the portal.
    assert client.get("/").url == PORTAL


def test_a_broker_without_an_active_partner_is_refused_the_portal(
    client, broker, partner
):
    partner.is_active = False
    partner.save()
    client.force_login(broker)
    assert client.get(PORTAL).status_code == 403


@pytest.mark.parametrize(
    ("persona", "portal", "partners", "commissions"),
    [
        ("consultant", 403, 403, 403),
        ("sales_manager", 403, 200, 200),
        ("service_agent", 403, 403, 403),
        ("service_manager", 403, 403, 403),
        ("marketer", 403, 200, 200),
        ("executive", 403, 200, 200),
        ("administrator", 403, 200, 200),
        ("outsider", 403, 403, 403),
        ("broker", 200, 403, 403),
    ],
    indirect=["persona"],
)
def test_permissions_of_every_role(client, persona, portal, partners, commissions):
    client.force_login(persona)
    assert client.get(PORTAL).status_code == portal
    assert client.get(reverse("marketing:partner-list")).status_code == partners
    assert client.get(COMMISSIONS).status_code == commissions


def test_marketing_creates_a_partner_and_a_broker_login(client, marketer):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:partner-create"),
        {
            "name": "安家渠道",
            "contact_name": "钱经理",
            "contact_phone": "135 0000 1111",
            "commission_kind": "percent",
            "commission_value": "2",
            "is_active": "on",
        },
    )
    partner = ChannelPartner.objects.get()
    assert response.url == partner.get_absolute_url()
    response = client.post(
        reverse("marketing:broker-add", args=[partner.pk]),
        {
            "username": "anjia1",
            "family_name": "钱",
            "given_name": "多多",
            "password": "Anjia-broker-2026",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="anjia1")
    assert user.has_perm("marketing.partner_portal")
    assert not user.has_perm("customers.view_customer")
    assert user.broker.partner == partner


def test_a_percentage_above_100_is_refused(client, marketer):
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:partner-create"),
        {
            "name": "安家渠道",
            "contact_name": "钱经理",
            "contact_phone": "13500001111",
            "commission_kind": "percent",
            "commission_value": "150",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["commission_value"]
    assert not ChannelPartner.objects.exists()


def test_only_those_who_pay_may_mark_a_commission_paid(
    client, broker, partner, project, consultant, sign, sales_manager, marketer
):
    sign(register(broker, partner, project).customer, consultant)
    commission = Commission.objects.get()
    url = reverse("marketing:commission-pay", args=[commission.pk])
    client.force_login(sales_manager)
    assert client.post(url).status_code == 403
    client.force_login(marketer)
    assert client.post(url).status_code == 302
    commission.refresh_from_db()
    assert commission.status == "paid"


def test_portal_and_commission_list_queries_do_not_grow(
    client, broker, partner, project, consultant, marketer, sign
):
    counter = iter(range(100))

    def grow():
        for _ in range(3):
            link = register(
                broker, partner, project, mobile=f"+861391111{next(counter):04d}"
            )
            sign(link.customer, consultant)

    grow()
    client.force_login(broker)
    assert_queries_do_not_grow(lambda: client.get(PORTAL), grow, at_most=10)
    client.force_login(marketer)
    assert_queries_do_not_grow(lambda: client.get(COMMISSIONS), grow, at_most=12)
    partner_page = reverse("marketing:partner-detail", args=[partner.pk])
    assert_queries_do_not_grow(lambda: client.get(partner_page), grow, at_most=14)
    # The contact's number reads as every number does, not in its stored form.
    assert "135 1234 5678" in client.get(partner_page).content.decode()


def test_the_projects_sales_manager_sees_the_partners_customer_and_hands_it_over(
    client, broker, partner, project, team, sales_manager, consultant
):
    project.teams.add(team)
    link = register(broker, partner, project)
    client.force_login(sales_manager)
    assert client.get(link.customer.get_absolute_url()).status_code == 200
    response = client.post(
        reverse("sales:registration-reassign", args=[link.registration_id]),
        {"consultant": consultant.pk, "reason": "到访后转置业顾问"},
    )
    assert response.status_code == 302
    link.customer.refresh_from_db()
    assert link.customer.assigned_consultant == consultant


def test_a_cancelled_deal_withdraws_the_unpaid_commission_and_a_re_sign_earns_one(
    broker, partner, project, consultant, sales_manager, sign
):
    from crm_site.models import AuditEntry
    from sales import services as sales_services

    link, deal = _signed_through(
        broker, partner, project, consultant, sales_manager, sign
    )
    first = Commission.objects.get()
    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)

    assert not Commission.objects.exists()  # withdrawn, not payable
    withdrawn = AuditEntry.objects.get(object_id=first.pk, action="delete")
    assert withdrawn.changes["status"]["old"] == "due"

    again = sign(link.customer, consultant)  # the customer signs again: earned once
    assert list(Commission.objects.values_list("opportunity_id", flat=True)) == [
        again.pk
    ]


def test_a_broker_registering_a_number_found_just_before_a_merge_links_the_survivor(
    broker, partner, project, sales_manager, monkeypatch
):
    """The number was looked up, then a merge committed: the partner's link names
    the record the registration protects, not the merged-away one."""
    from customers.services.merge import customer_merge
    from marketing.services import partners as partner_services
    from tests.factories import CustomerFactory

    absorbed = CustomerFactory(mobile="+8613911112222")
    survivor = CustomerFactory()
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    monkeypatch.setattr(
        partner_services, "customer_find_by_phone", lambda mobile: absorbed
    )
    link = register(broker, partner, project)
    assert link.registration.customer_id == survivor.pk
    assert link.customer_id == survivor.pk
