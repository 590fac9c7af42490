"""Consultants' commission by the project's rule: accrual once at the earning stage,
payable when paid in full, clawed back by an approved cancellation; its screens."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from crm_site.audit import audit_entries_for
from crm_site.roles import Role
from customers.models import Interaction
from sales import services
from sales.models import ChangeRule, Commission, CommissionRule, DealRefund
from sales.services.commission import (
    commission_accrue,
    commission_claw_back,
    commission_mark_paid,
)
from tests.factories import CustomerFactory, UserFactory, make_building
from tests.helpers import assert_queries_do_not_grow
from tests.sales.test_changes_after_contract import _pay, signed_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


def percent_rule(project, rate="1.5", earned_at="contracted") -> CommissionRule:
    return CommissionRule.objects.create(
        project=project, basis="percent", rate=Decimal(rate), earned_at=earned_at
    )


def _unit(building, n=0):
    return building.units.order_by("pk")[n]


def test_a_percent_commission_accrues_at_contract_and_becomes_payable_when_paid(
    building, consultant, own_customer
):
    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    commission = Commission.objects.get(opportunity=deal)
    expected = (deal.agreed_price * Decimal("1.5") / 100).quantize(Decimal("0.01"))
    assert (commission.amount, commission.status, commission.consultant) == (
        expected,
        "accrued",
        consultant,
    )
    _pay(consultant, deal, deal.agreed_price)
    commission.refresh_from_db()
    assert commission.status == "payable"
    assert Commission.objects.count() == 1


def test_a_fixed_commission_earned_when_paid_waits_for_the_last_payment(
    building, consultant, own_customer
):
    CommissionRule.objects.create(
        project=building.project, basis="fixed", rate=Decimal("8000"), earned_at="paid"
    )
    deal = signed_deal(consultant, own_customer, _unit(building))
    assert not Commission.objects.exists()
    _pay(consultant, deal, deal.agreed_price)
    commission = Commission.objects.get(opportunity=deal)
    assert (commission.amount, commission.status) == (Decimal("8000.00"), "payable")


def test_no_rule_no_commission_and_accruing_again_changes_nothing(
    building, consultant, own_customer
):
    deal = signed_deal(consultant, own_customer, _unit(building))
    assert commission_accrue(deal=deal) is None
    percent_rule(building.project)
    first = commission_accrue(deal=deal)
    second = commission_accrue(deal=deal)
    assert first.pk == second.pk and Commission.objects.count() == 1
    assert audit_entries_for(first).filter(action="create").count() == 1


def _cancel(deal, consultant, sales_manager) -> None:
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)


def test_an_approved_cancellation_voids_an_unpaid_commission(
    building, consultant, own_customer, sales_manager
):
    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    _cancel(deal, consultant, sales_manager)
    commission = Commission.objects.get(opportunity=deal)
    assert commission.status == "voided" and commission.clawed_back_at
    assert audit_entries_for(commission).first().changes["status"] == {
        "old": "accrued",
        "new": "voided",
    }
    assert Interaction.objects.filter(
        customer=own_customer, event="sales.commission_voided"
    ).exists()


def test_a_paid_commission_of_a_cancelled_deal_is_taken_back_in_the_next_settlement(
    client, building, consultant, own_customer, sales_manager
):
    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    _pay(consultant, deal, deal.agreed_price)
    paid = Commission.objects.get(opportunity=deal)
    commission_mark_paid(actor=sales_manager, commission=paid)
    _cancel(deal, consultant, sales_manager)
    paid.refresh_from_db()
    # The money went out: the row stays paid, marked as taken back.
    assert paid.status == "paid" and paid.clawed_back_at
    line = Commission.objects.get(opportunity=deal, kind="clawback")
    assert (line.amount, line.status, line.consultant) == (
        -paid.amount,
        "payable",
        consultant,
    )
    assert audit_entries_for(line).filter(action="create").exists()
    assert Interaction.objects.filter(
        customer=own_customer, event="sales.commission_clawback_due"
    ).exists()
    # Cancelling is final; clawing back again makes no second line.
    commission_claw_back(deal=deal, actor=sales_manager)
    assert Commission.objects.filter(opportunity=deal).count() == 2
    # The consultant's next settlement nets it: payable is the negative line.
    client.force_login(sales_manager)
    page = client.get(reverse("sales:commission-list")).content.decode()
    assert 'data-testid="clawback"' in page
    assert commission_mark_paid(actor=sales_manager, commission=line)
    line.refresh_from_db()
    assert line.status == "clawed_back" and line.paid_by == sales_manager
    assert not commission_mark_paid(actor=sales_manager, commission=line)


def test_the_deal_page_names_a_clawback_line_and_writes_its_amount_negative(
    client, building, consultant, own_customer, sales_manager
):
    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    _pay(consultant, deal, deal.agreed_price)
    commission_mark_paid(
        actor=sales_manager, commission=Commission.objects.get(opportunity=deal)
    )
    _cancel(deal, consultant, sales_manager)
    line = Commission.objects.get(opportunity=deal, kind="clawback")
    client.force_login(sales_manager)

    page = client.get(deal.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")

    rows = page.content.decode().split('data-testid="deal-commission"')[1:]
    clawback = next(row for row in rows if 'data-testid="clawback"' in row)
    assert "Clawback" in clawback
    assert f"-¥{-line.amount:,.2f}" in clawback
    assert "¥-" not in page.content.decode()


def test_a_unit_change_reprices_a_percent_commission(
    building, consultant, own_customer, sales_manager
):
    percent_rule(building.project, rate="1")
    units = list(building.units.order_by("list_price", "pk"))
    deal = signed_deal(consultant, own_customer, units[-1])
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="x",
        new_unit=units[0],
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    commission = Commission.objects.get(opportunity=deal)
    assert commission.amount == (deal.agreed_price / 100).quantize(Decimal("0.01"))


def test_only_a_payable_commission_is_paid_once_and_audited(
    building, consultant, own_customer, sales_manager
):
    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    commission = Commission.objects.get(opportunity=deal)
    with pytest.raises(ValidationError):
        commission_mark_paid(actor=sales_manager, commission=commission)
    _pay(consultant, deal, deal.agreed_price)
    assert commission_mark_paid(actor=sales_manager, commission=commission)
    assert not commission_mark_paid(actor=sales_manager, commission=commission)
    commission.refresh_from_db()
    assert commission.status == "paid" and commission.paid_by == sales_manager
    assert audit_entries_for(commission).filter(action="update").exists()


@pytest.mark.django_db(transaction=True)
def test_two_accruals_at_once_make_one_row(team):
    consultant = UserFactory(username="c1", team=team, role=Role.CONSULTANT)
    building = make_building()
    deal = signed_deal(
        consultant, CustomerFactory(assigned_consultant=consultant), _unit(building)
    )
    percent_rule(building.project)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def accrue():
        try:
            barrier.wait()
            commission_accrue(deal=deal)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=accrue) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and Commission.objects.filter(opportunity=deal).count() == 1


# Screens ------------------------------------------------------------------------


@pytest.fixture
def commissions(building, consultant, other_consultant, far_consultant):
    """One commission each for two consultants of the team and one of another team."""
    percent_rule(building.project)
    rows = []
    for n, who in enumerate((consultant, other_consultant, far_consultant)):
        deal = signed_deal(
            who, CustomerFactory(assigned_consultant=who), _unit(building, n)
        )
        rows.append(Commission.objects.get(opportunity=deal))
    return rows


def test_a_consultant_sees_only_their_own_commission(client, consultant, commissions):
    client.force_login(consultant)
    response = client.get(reverse("sales:commission-list"))
    assert response.status_code == 200
    assert [c.pk for c in response.context["page"].items] == [commissions[0].pk]
    assert b"pay-commission" not in response.content


def test_a_sales_manager_sees_the_team_with_totals_and_filters(
    client, sales_manager, commissions
):
    client.force_login(sales_manager)
    response = client.get(reverse("sales:commission-list"))
    shown = {c.pk for c in response.context["page"].items}
    assert shown == {commissions[0].pk, commissions[1].pk}
    totals = {value: amount for value, _label, amount in response.context["totals"]}
    assert totals["accrued"] == commissions[0].amount + commissions[1].amount
    month = commissions[0].accrued_at.strftime("%Y-%m")
    response = client.get(
        reverse("sales:commission-list"),
        {"month": month, "status": "accrued", "project": commissions[0].project_id},
    )
    assert len(response.context["page"].items) == 2
    response = client.get(reverse("sales:commission-list"), {"month": "2001-01"})
    assert response.context["page"].items == []
    response = client.get(reverse("sales:commission-list"), {"status": "paid"})
    assert response.context["page"].items == []


def test_a_bad_month_is_said_next_to_the_field(client, sales_manager, commissions):
    client.force_login(sales_manager)
    response = client.get(reverse("sales:commission-list"), {"month": "2026-13"})
    assert response.status_code == 400
    assert "month" in response.context["form"].errors


def test_the_commission_list_needs_the_sales_desk(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("sales:commission-list")).status_code == 403


def test_the_commission_list_queries_do_not_grow_with_rows(
    client, sales_manager, building, consultant, team
):
    percent_rule(building.project)
    client.force_login(sales_manager)
    counter = iter(range(1, 10))

    def clawback_line(who):
        deal = signed_deal(
            who,
            CustomerFactory(assigned_consultant=who),
            _unit(building, next(counter)),
        )
        _pay(who, deal, deal.agreed_price)
        commission_mark_paid(
            actor=sales_manager, commission=Commission.objects.get(opportunity=deal)
        )
        commission_claw_back(deal=deal, actor=sales_manager)
        return Commission.objects.get(opportunity=deal, kind="clawback")

    def grow():
        for _ in range(3):
            n = next(counter)
            signed_deal(
                consultant,
                CustomerFactory(assigned_consultant=consultant),
                _unit(building, n),
            )
        # A line written off, and a payable one of a consultant who has left (its
        # badge and its write-off form with the dialog).
        services.commission_waive(
            actor=sales_manager, commission=clawback_line(consultant), reason="x"
        )
        departed = UserFactory(username="left", team=team, role=Role.CONSULTANT)
        clawback_line(departed)
        departed.is_active = False
        departed.save(update_fields=["is_active"])

    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:commission-list")), grow, at_most=14
    )


def test_marking_a_commission_paid(
    client, sales_manager, consultant, commissions, far_consultant
):
    mine = commissions[0]
    _pay(consultant, mine.opportunity, mine.opportunity.agreed_price)
    url = reverse("sales:commission-pay", args=[mine.pk])
    client.force_login(consultant)
    assert client.post(url).status_code == 403
    client.force_login(sales_manager)
    assert client.post(url).status_code == 302
    mine.refresh_from_db()
    assert mine.status == "paid"
    # Another team's commission is not this manager's to see.
    far = reverse("sales:commission-pay", args=[commissions[2].pk])
    assert client.post(far).status_code == 404
    # An accrued (not yet payable) one is refused with a message, nothing saved.
    response = client.post(
        reverse("sales:commission-pay", args=[commissions[1].pk]), follow=True
    )
    assert commissions[1].__class__.objects.get(pk=commissions[1].pk).status == (
        "accrued"
    )
    assert response.status_code == 200


def test_the_rules_page_saves_each_rule_and_refuses_bad_input(
    client, sales_manager, consultant, building
):
    project = building.project
    url = reverse("sales:project-aftersale-rules", args=[project.pk])
    client.force_login(consultant)
    assert client.get(url).status_code == 403
    client.force_login(sales_manager)
    assert client.get(url).status_code == 200
    assert (
        client.get(reverse("sales:project-aftersale-rules", args=[999999])).status_code
        == 404
    )
    bad = client.post(
        url,
        {
            "which": "commission",
            "commission-basis": "percent",
            "commission-rate": "150",
            "commission-earned_at": "paid",
        },
    )
    assert bad.status_code == 400 and not CommissionRule.objects.exists()
    assert "rate" in bad.context["commission_form"].errors
    ok = client.post(
        url,
        {
            "which": "commission",
            "commission-basis": "percent",
            "commission-rate": "1.2",
            "commission-earned_at": "contracted",
        },
    )
    assert ok.status_code == 302
    assert CommissionRule.objects.get(project=project).rate == Decimal("1.2")
    ok = client.post(
        url,
        {
            "which": "change",
            "change-forfeit_basis": "fixed",
            "change-forfeit_subscribed": "10000",
            "change-forfeit_contracted": "50000",
            "change-buyer_change_fee": "2000",
            "change-unit_change_keeps_money": "on",
        },
    )
    assert ok.status_code == 302
    saved = ChangeRule.objects.get(project=project)
    assert (
        saved.forfeit_contracted == Decimal("50000") and saved.unit_change_keeps_money
    )
    assert audit_entries_for(saved).filter().exists()
    assert client.post(url, {"which": "nothing"}).status_code == 400


def test_marking_a_refund_paid_back(
    client, building, consultant, own_customer, sales_manager
):
    deal = signed_deal(consultant, own_customer, _unit(building))
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="x"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    refund = DealRefund.objects.get()
    url = reverse("sales:refund-pay", args=[refund.pk])
    client.force_login(consultant)
    assert client.post(url).status_code == 403
    client.force_login(sales_manager)
    page = client.get(deal.get_absolute_url())
    assert b"pay-refund" in page.content
    assert client.post(url).status_code == 302
    refund.refresh_from_db()
    assert refund.status == "paid" and refund.paid_by == sales_manager
    assert client.post(url).status_code == 302
    assert audit_entries_for(refund).filter(action="update").count() == 1


def test_a_deal_reassigned_after_accrual_keeps_one_commission(
    building, consultant, other_consultant, own_customer
):
    from sales.models import Opportunity

    percent_rule(building.project)
    deal = signed_deal(consultant, own_customer, _unit(building))
    Opportunity.objects.filter(pk=deal.pk).update(consultant=other_consultant)
    deal.refresh_from_db()
    _pay(other_consultant, deal, deal.agreed_price)
    commission = Commission.objects.get(opportunity=deal)
    assert (commission.consultant, commission.status) == (consultant, "payable")


def test_a_sales_manager_does_not_settle_their_own_commission(
    building, sales_manager, own_customer, administrator
):
    """Four eyes, as for approvals: a sales manager who sells too does not mark their
    own commission paid (another manager, or an administrator, does)."""
    percent_rule(building.project)
    own_customer.assigned_consultant = sales_manager
    own_customer.save(update_fields=["assigned_consultant"])
    deal = signed_deal(sales_manager, own_customer, _unit(building))
    _pay(sales_manager, deal, deal.agreed_price)
    commission = Commission.objects.get(opportunity=deal)
    assert commission.consultant == sales_manager
    with pytest.raises(ValidationError):
        commission_mark_paid(actor=sales_manager, commission=commission)
    commission.refresh_from_db()
    assert commission.status == "payable"
    assert commission_mark_paid(actor=administrator, commission=commission)
