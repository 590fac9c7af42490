"""A change of unit (换房) to a unit still reserved only by another deal's hold past
its deadline, before the five-minute sweep has run: the hold is over at its deadline,
so the unit is offered and asked for, and the approval ends the hold as the sweep
would (as unit_reserve does for a colleague holding the unit)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from crm_site.audit import audit_entries_for
from crm_site.models import Notification
from sales import selectors, services
from sales.forms import DealChangeForm
from sales.models import DealChange, Opportunity, StageChange, Unit, UnitHold
from tests.factories import CustomerFactory, make_building
from tests.sales.test_changes_after_contract import signed_deal
from tests.sales.test_deal_races import _race

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


def _unit(building, number: str) -> Unit:
    return building.units.get(number=number)


def _held(consultant, building, number: str) -> UnitHold:
    deal = services.opportunity_open(
        actor=consultant,
        customer=CustomerFactory(assigned_consultant=consultant),
        project=building.project,
    )
    return services.unit_reserve(
        actor=consultant, opportunity=deal, unit=_unit(building, number)
    )


def _set_deadline(hold: UnitHold, *, minutes: int) -> None:
    UnitHold.objects.filter(pk=hold.pk).update(
        held_until=timezone.now() + timedelta(minutes=minutes)
    )


@pytest.fixture
def deal(building, consultant, own_customer) -> Opportunity:
    """The buyer's subscription of unit 101, which they want to change."""
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=_unit(building, "101")
    )
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


@pytest.fixture
def lapsed(building, other_consultant) -> UnitHold:
    """A colleague's hold on unit 201, past its deadline, not yet swept."""
    hold = _held(other_consultant, building, "201")
    _set_deadline(hold, minutes=-1)
    return hold


@pytest.fixture
def held(building, other_consultant) -> UnitHold:
    """A colleague's hold on unit 301, still valid."""
    return _held(other_consultant, building, "301")


def _ask(consultant, deal: Opportunity, unit: Unit) -> DealChange:
    return services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换高层",
        new_unit=unit,
    )


def _options(client, deal: Opportunity) -> set[str]:
    """The numbers of the units the picker offers, read from its HTML fragment."""
    body = client.get(
        reverse("sales:deal-unit-options", args=[deal.pk])
    ).content.decode()
    ids = [int(pk) for pk in re.findall(r'name="new_unit" value="(\d+)"', body)]
    return set(Unit.objects.filter(pk__in=ids).values_list("number", flat=True))


def test_the_picker_offers_a_unit_whose_hold_lapsed_and_not_one_validly_held(
    client, consultant, deal, lapsed, held, django_assert_num_queries
):
    client.force_login(consultant)
    offered = _options(client, deal)
    assert "201" in offered
    assert "301" not in offered and "101" not in offered
    with django_assert_num_queries(1):
        units = selectors.units_available_for_change(project_id=deal.project_id).units
    assert lapsed.unit in units and held.unit not in units


def test_the_change_form_takes_a_unit_whose_hold_lapsed_and_refuses_a_held_one(
    consultant, deal, lapsed, held
):
    def form(unit: Unit) -> DealChangeForm:
        return DealChangeForm(
            {"kind": "change_unit", "reason": "换房", "new_unit": unit.pk},
            opportunity=deal,
            user=consultant,
        )

    assert form(lapsed.unit).is_valid()
    refused = form(held.unit)
    assert not refused.is_valid()
    assert "301" in refused.errors["new_unit"][0]


def test_asking_for_a_unit_whose_hold_lapsed_is_accepted_and_changes_nothing_yet(
    client, consultant, deal, lapsed, held
):
    with pytest.raises(services.UnitUnavailable):
        _ask(consultant, deal, held.unit)
    client.force_login(consultant)
    response = client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {"kind": "change_unit", "reason": "换房", "new_unit": lapsed.unit_id},
    )
    assert response.status_code == 302
    change = DealChange.objects.get()
    assert (change.status, change.new_unit_id) == ("pending", lapsed.unit_id)
    # Only the approval ends the hold: until then the sweep may, or nobody.
    lapsed.refresh_from_db()
    lapsed.opportunity.refresh_from_db()
    assert lapsed.status == "active"
    assert Unit.objects.get(pk=lapsed.unit_id).status == "reserved"
    assert lapsed.opportunity.stage == "reserved"
    assert not Notification.objects.exists()


def test_approval_ends_the_lapsed_hold_as_the_sweep_would_and_moves_the_deal(
    deal, lapsed, consultant, other_consultant, sales_manager
):
    old, new = deal.unit, lapsed.unit
    rival = lapsed.opportunity
    change = _ask(consultant, deal, new)
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)

    lapsed.refresh_from_db()
    rival.refresh_from_db()
    assert lapsed.status == "expired" and lapsed.ended_at is not None
    assert (rival.unit, rival.stage) == (None, "visited")
    assert StageChange.objects.filter(
        opportunity=rival, event="sales.hold_expired"
    ).exists()
    notice = Notification.objects.get(user=other_consultant)
    assert notice.event == "sales.hold_expired_notice"

    old.refresh_from_db()
    new.refresh_from_db()
    deal.refresh_from_db()
    change.refresh_from_db()
    assert (old.status, new.status) == ("available", "subscribed")
    assert (deal.unit, deal.agreed_price) == (new, new.list_price)
    assert change.status == "approved" and change.before["unit"] == old.pk
    # The history, as for any change, and the expiry's own (by the system).
    assert [e.action for e in audit_entries_for(change)] == ["update", "create"]
    assert "unit" in audit_entries_for(deal).first().changes
    assert any(
        entry.actor is None and "unit" in entry.changes
        for entry in audit_entries_for(rival)
    )
    # Nothing is left for the sweep.
    assert services.holds_expire() == 0


def test_approval_of_a_contracted_deal_leaves_the_new_unit_contracted(
    building, consultant, sales_manager, lapsed
):
    deal = signed_deal(consultant, CustomerFactory(), _unit(building, "102"))
    change = _ask(consultant, deal, lapsed.unit)
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.unit_id == lapsed.unit_id
    assert deal.unit.status == "contracted"
    assert Unit.objects.get(number="102", building=building).status == "available"
    assert UnitHold.objects.get(pk=lapsed.pk).status == "expired"


def _nothing_changed(change, deal, old: Unit, hold: UnitHold) -> None:
    change.refresh_from_db()
    deal.refresh_from_db()
    old.refresh_from_db()
    hold.refresh_from_db()
    assert change.status == "pending" and change.decided_at is None
    assert (deal.unit, deal.stage, old.status) == (old, "subscribed", "subscribed")
    assert hold.status == "active"
    assert hold.unit.status == "reserved"
    assert hold.opportunity.unit_id == hold.unit_id
    assert hold.opportunity.stage == "reserved"


def test_a_lapsed_hold_made_valid_again_before_approval_refuses_it_and_saves_nothing(
    client, deal, lapsed, consultant, sales_manager
):
    change = _ask(consultant, deal, lapsed.unit)
    _set_deadline(lapsed, minutes=60)
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:deal-change-decide", args=[change.pk]),
        {"decision": "approve", "confirmed": "1"},
    )
    assert response.status_code == 302
    [message] = get_messages(response.wsgi_request)
    assert message.level_tag == "error"
    # Held again, not sold: the message says what the unit is now.
    assert str(message) == (
        f"房源 {lapsed.unit.number} 已不可选（已预留），请驳回该变更。"
    )
    _nothing_changed(change, deal, deal.unit, lapsed)
    assert not Notification.objects.filter(event="sales.hold_expired_notice").exists()


def test_a_unit_held_again_by_a_colleague_before_approval_refuses_it_and_saves_nothing(
    building, deal, lapsed, consultant, far_consultant, sales_manager
):
    change = _ask(consultant, deal, lapsed.unit)
    # Another consultant holds the unit after the deadline (ending the lapsed hold).
    again = _held(far_consultant, building, "201")
    with pytest.raises(services.UnitUnavailable):
        services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    _nothing_changed(change, deal, deal.unit, again)
    assert UnitHold.objects.get(pk=lapsed.pk).status == "expired"


# At once, against real PostgreSQL: the approval takes the deals in id order, then the
# units, then the hold, as unit_reserve and the sweep do, so nobody deadlocks.

ROUNDS = 3


def _race_each_round(consultant, other_consultant, sales_manager, rival_action):
    """Each round: a subscribed deal asks for a unit whose colleague's hold lapsed;
    the approval and ``rival_action(unit)`` run at once. Yields what they left."""
    building = make_building(floors=2 * ROUNDS, per_floor=1, skipped=())
    units = list(building.units.order_by("pk"))
    for own, wanted in zip(units[::2], units[1::2], strict=True):
        deal = services.opportunity_open(
            actor=consultant, customer=CustomerFactory(), project=building.project
        )
        services.unit_reserve(actor=consultant, opportunity=deal, unit=own)
        services.unit_subscribe(actor=consultant, opportunity=deal)
        hold = _held(other_consultant, building, wanted.number)
        _set_deadline(hold, minutes=-1)
        change = _ask(consultant, deal, wanted)
        errors = _race(
            lambda change=change: services.deal_change_decide(
                actor=sales_manager, change=change, approve=True
            ),
            lambda wanted=wanted: rival_action(wanted),
        )
        assert not errors, [repr(e) for e in errors]
        change.refresh_from_db()
        wanted.refresh_from_db()
        yield change, wanted, hold


@pytest.mark.django_db(transaction=True)
def test_approving_while_the_sweep_expires_the_hold_never_deadlocks(
    consultant, other_consultant, sales_manager
):
    rounds = _race_each_round(
        consultant,
        other_consultant,
        sales_manager,
        lambda unit: services.holds_expire(),
    )
    for done, (change, wanted, hold) in enumerate(rounds, start=1):
        # Whoever ends the hold, it ends once and the change goes through.
        assert change.status == "approved" and wanted.status == "subscribed"
        assert UnitHold.objects.get(pk=hold.pk).status == "expired"
        told = Notification.objects.filter(
            user=other_consultant, event="sales.hold_expired_notice"
        )
        assert told.count() == done


@pytest.mark.django_db(transaction=True)
def test_approving_while_a_colleague_holds_the_unit_never_deadlocks(
    consultant, other_consultant, far_consultant, sales_manager
):
    def hold_it(unit: Unit) -> None:
        deal = services.opportunity_open(
            actor=far_consultant,
            customer=CustomerFactory(),
            project=unit.building.project,
        )
        services.unit_reserve(actor=far_consultant, opportunity=deal, unit=unit)

    for change, wanted, hold in _race_each_round(
        consultant, other_consultant, sales_manager, hold_it
    ):
        assert UnitHold.objects.get(pk=hold.pk).status == "expired"
        # One of the two has the unit, never both.
        active = UnitHold.objects.filter(unit=wanted, status="active").exists()
        assert (change.status, wanted.status, active) in {
            ("approved", "subscribed", False),
            ("pending", "reserved", True),
        }


def test_the_approval_dialog_says_the_lapsed_hold_ends_and_who_is_told(
    deal, lapsed, consultant, other_consultant
):
    from sales.confirmations import change_decision

    change = _ask(consultant, deal, lapsed.unit)
    approve = change_decision(change, approve=True).consequence
    assert f"房源 {lapsed.unit.number} 的预留已于" in approve
    assert f"到期，随本次变更结束；将通知{other_consultant.display_name}。" in approve
    assert "预留" not in change_decision(change, approve=False).consequence
    _set_deadline(lapsed, minutes=60)
    assert "预留" not in change_decision(change, approve=True).consequence


def test_the_approvals_list_reads_the_lapsed_holds_at_once(
    client, building, deal, lapsed, consultant, other_consultant, sales_manager
):
    """The approvals list prefetches the holds its dialogs speak of: its queries do
    not grow with changes to units held past their deadline."""
    from tests.helpers import assert_queries_do_not_grow

    _ask(consultant, deal, lapsed.unit)
    pairs = iter([("102", "202"), ("302", "501")])

    def grow():
        for number, wanted in pairs:
            buyer = services.opportunity_open(
                actor=consultant,
                customer=CustomerFactory(assigned_consultant=consultant),
                project=building.project,
            )
            services.unit_reserve(
                actor=consultant, opportunity=buyer, unit=_unit(building, number)
            )
            services.unit_subscribe(actor=consultant, opportunity=buyer)
            hold = _held(other_consultant, building, wanted)
            _set_deadline(hold, minutes=-1)
            _ask(consultant, buyer, hold.unit)

    client.force_login(sales_manager)
    url = reverse("sales:approval-list")
    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=16)
    body = client.get(url).content.decode()
    assert body.count("到期，随本次变更结束") == 3
