"""What a published lottery fingerprint seals, and a household's one deposit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.services import household_link
from sales.models import IntentDeposit, SelectionSession
from sales.services import lottery
from sales.services import sessions as service
from sales.services.deposits import deposit_take
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db
Status = SelectionSession.Status


def _sealed_lottery(project, sales_manager, consultant, *, units, deposits=1):
    session = make_session(
        project=project,
        created_by=sales_manager,
        units=units,
        status=Status.DRAFT,
        order=SelectionSession.Order.LOTTERY,
        name="二期",
        starts_at=timezone.now() + timedelta(days=1),
    )
    for _ in range(deposits):
        make_deposit(project=project, consultant=consultant)
    lottery.session_entries_fill(actor=sales_manager, session=session)
    lottery.session_commit_seed(actor=sales_manager, session=session)
    session.refresh_from_db()
    assert session.seed_commitment
    return session


def test_closing_does_not_move_deposits_into_a_sealed_lottery(
    consultant, sales_manager
):
    project, units = opening_project(floors=4, per_floor=2)
    first = make_session(project=project, created_by=sales_manager, units=units[:4])
    enter(first, make_deposit(project=project, consultant=consultant))
    sealed = _sealed_lottery(project, sales_manager, consultant, units=units[4:])

    with pytest.raises(service.SessionRefused, match="摇号指纹已公布"):
        service.session_close(
            actor=sales_manager, session=first, deposits="move", next_session=sealed
        )
    assert sealed.entries.count() == 1
    first.refresh_from_db()
    assert first.status != Status.CLOSED  # nothing half done


def test_a_sealed_lotterys_order_rule_is_final(consultant, sales_manager):
    project, units = opening_project(floors=2, per_floor=2)
    sealed = _sealed_lottery(project, sales_manager, consultant, units=[], deposits=3)

    with pytest.raises(service.SessionRefused):
        service.session_update(
            actor=sales_manager,
            session=sealed,
            name=sealed.name,
            starts_at=sealed.starts_at,
            mode=sealed.mode,
            order=SelectionSession.Order.QUEUE,
            units_per_buyer=1,
            units_per_household=1,
            minutes_per_buyer=5,
            buildings=[units[0].building],
        )
    sealed.refresh_from_db()
    assert sealed.order == SelectionSession.Order.LOTTERY


def test_a_household_linked_after_a_deposit_holds_one(consultant, team):
    project, _units = opening_project()
    project.teams.add(team)
    assert project.deposits_per_buyer == 1
    husband = CustomerFactory(name="王先生", assigned_consultant=consultant)
    wife = CustomerFactory(name="李女士", assigned_consultant=consultant)
    deposit_take(
        actor=consultant,
        project=project,
        customer=husband,
        receipt_number="R1",
        method="transfer",
    )
    household_link(actor=consultant, customer=husband, other=wife, role="spouse")
    wife.refresh_from_db()

    with pytest.raises(ValidationError):
        deposit_take(
            actor=consultant,
            project=project,
            customer=wife,
            receipt_number="R2",
            method="transfer",
        )
    assert IntentDeposit.objects.filter(project=project).count() == 1
