"""A deal's business facts (Opportunity.AUDITED_FIELDS) and its payment plan leave an
audit entry that says what changed, whichever service changes them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_site.audit import audit_entries_for
from crm_site.models import AuditEntry
from sales import services
from sales.models import Opportunity
from sales.services.opening import selection_make
from tests.factories import make_building
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db


def _changes_of(deal: Opportunity, field: str) -> list[dict[str, str]]:
    """The field's changes on the deal's trail, oldest first."""
    return [
        entry.changes[field]
        for entry in reversed(audit_entries_for(deal))
        if field in (entry.changes or {})
    ]


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    return services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )


@pytest.fixture
def unit(building):
    return building.units.order_by("pk").first()


def test_opening_a_deal_leaves_a_create_entry_naming_customer_project_and_consultant(
    deal, consultant, own_customer, building
):
    [entry] = audit_entries_for(deal)
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor == consultant
    assert entry.changes["customer"] == {"old": "", "new": str(own_customer)}
    assert entry.changes["project"] == {"old": "", "new": str(building.project)}
    assert entry.changes["consultant"] == {"old": "", "new": str(consultant)}
    assert entry.changes["stage"] == {"old": "", "new": Opportunity.Stage.NEW}


def test_opening_the_same_deal_again_adds_no_entry(deal, consultant, own_customer):
    again = services.opportunity_open(
        actor=consultant, customer=own_customer, project=deal.project
    )
    assert again == deal
    assert audit_entries_for(deal).count() == 1


def test_holding_a_unit_audits_the_deal_s_unit(deal, consultant, unit):
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    assert _changes_of(deal, "unit") == [{"old": "", "new": str(unit)}]


def test_releasing_a_hold_audits_the_unit_taken_off_the_deal(deal, consultant, unit):
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_release(actor=consultant, hold=hold)
    assert _changes_of(deal, "unit")[-1] == {"old": str(unit), "new": ""}
    # Releasing again does nothing and records nothing.
    hold.refresh_from_db()
    assert services.unit_release(actor=consultant, hold=hold) is False
    assert len(_changes_of(deal, "unit")) == 2


def test_an_expired_hold_audits_the_unit_with_no_actor(deal, consultant, unit):
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_release(actor=None, hold=hold, expired=True)
    entry = next(e for e in audit_entries_for(deal) if "unit" in e.changes)
    assert entry.actor is None and entry.changes["unit"]["new"] == ""


def test_subscribing_audits_the_deal_s_agreed_price(deal, consultant, unit):
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    assert _changes_of(deal, "agreed_price") == [
        {"old": "", "new": str(deal.agreed_price)}
    ]


def test_an_opening_day_selection_audits_the_deal_s_unit_and_price(
    consultant, sales_manager
):
    project, units = opening_project()
    session = make_session(project=project, created_by=sales_manager)
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel="on_site", actor=consultant
    )
    deal = selection.opportunity
    assert _changes_of(deal, "unit") == [{"old": "", "new": str(units[0])}]
    assert _changes_of(deal, "agreed_price") == [
        {"old": "", "new": str(deal.agreed_price)}
    ]
    assert [e.action for e in audit_entries_for(deal)][-1] == AuditEntry.Action.CREATE


def test_replacing_a_deal_s_payment_plan_records_the_old_and_new_plan(
    deal, consultant, unit
):
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    services.payment_plan_create(
        actor=consultant, opportunity=deal, scheme="full", deposit=Decimal("50000")
    )
    [first] = _changes_of(deal, "payment_items")
    assert first["old"] == ""
    assert first["new"].startswith("1. deposit ") and "50000.00" in first["new"]
    services.payment_plan_create(
        actor=consultant,
        opportunity=deal,
        scheme="instalments",
        deposit=Decimal("20000"),
    )
    entry = next(e for e in audit_entries_for(deal) if "payment_items" in e.changes)
    assert entry.actor == consultant and entry.action == AuditEntry.Action.UPDATE
    change = entry.changes["payment_items"]
    assert change["old"] == first["new"]
    assert change["new"].count("instalment") == 3 and "20000.00" in change["new"]
    # The trail names it as the deal's payment items, in the reader's language.
    [(label, old, new)] = entry.readable_changes()
    assert (old, new) == (change["old"], change["new"])
    assert label == str(deal.payment_items.model._meta.verbose_name_plural)
