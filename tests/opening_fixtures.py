"""Builders for opening-day tests: deposits of intent and selection sessions, written
straight to the tables so each test sets up exactly the state it needs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sales.models import (
    IntentDeposit,
    Project,
    SelectionSession,
    SessionEntry,
    SessionUnit,
    Unit,
)
from tests.factories import CustomerFactory, make_building


def make_deposit(
    *,
    project: Project,
    consultant,
    customer=None,
    amount: Decimal = Decimal("50000.00"),
    qualification: str = IntentDeposit.Qualification.NOT_REQUIRED,
    **extra,
) -> IntentDeposit:
    customer = customer or CustomerFactory(assigned_consultant=consultant)
    number = (
        IntentDeposit.objects.filter(project=project).order_by("-queue_number").first()
    )
    queue_number = (number.queue_number if number else 0) + 1
    return IntentDeposit.objects.create(
        project=project,
        customer=customer,
        household_id=customer.household_id,
        consultant=consultant,
        amount=amount,
        receipt_number=f"R{project.pk}-{queue_number:05d}",
        method="transfer",
        queue_number=queue_number,
        qualification=qualification,
        created_by=consultant,
        **extra,
    )


def make_session(
    *,
    project: Project,
    created_by,
    units: list[Unit] | None = None,
    mode: str = SelectionSession.Mode.BOTH,
    order: str = SelectionSession.Order.QUEUE,
    status: str = SelectionSession.Status.OPEN,
    **extra,
) -> SelectionSession:
    session = SelectionSession.objects.create(
        project=project,
        name=extra.pop("name", f"{project.name} 首开"),
        starts_at=extra.pop("starts_at", timezone.now() - timedelta(minutes=1)),
        mode=mode,
        order=order,
        status=status,
        created_by=created_by,
        **extra,
    )
    if units is None:
        units = list(Unit.objects.filter(building__project=project))
    SessionUnit.objects.bulk_create(SessionUnit(session=session, unit=u) for u in units)
    return session


def enter(
    session: SelectionSession, deposit: IntentDeposit, *, slot_open: bool = True
) -> SessionEntry:
    """Put the deposit in the session at the next position, its slot open now."""
    position = session.entries.count() + 1
    starts = timezone.now() - timedelta(minutes=1) if slot_open else None
    return SessionEntry.objects.create(
        session=session,
        deposit=deposit,
        position=position,
        slot_starts_at=starts,
        slot_ends_at=starts + timedelta(minutes=session.minutes_per_buyer)
        if starts
        else None,
    )


def opening_project(*, floors: int = 5, per_floor: int = 2, name: str = "安居·开盘苑"):
    """A project with one generated building; returns (project, units)."""
    building = make_building(
        project_name=name, floors=floors, per_floor=per_floor, skipped=()
    )
    return building.project, list(building.units.order_by("-floor", "position"))
