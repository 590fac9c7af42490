"""Service's data migrations on what earlier code left in the database."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from crm_site.models import AuditEntry
from service import handover
from service.models import HandoverAppointment
from tests.factories import make_building
from tests.service.conftest import sell

BEFORE = ("service", "0022_handover_cancelled_and_sequence")


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _trail(appointment) -> list[tuple[int | None, dict]]:
    return list(
        AuditEntry.objects.filter(
            content_type__model="handoverappointment", object_id=appointment.pk
        ).values_list("actor_id", "changes")
    )


@pytest.mark.django_db(transaction=True)
def test_one_live_appointment_a_unit_is_kept_where_two_batches_invited_it(
    service_manager, consultant
):
    """Before 2026-11-27 a second batch of a building invited the units an earlier
    batch had invited: the unique index of 0024 needs one live appointment a unit.
    The one handed over is kept, else the one booked, else the earliest; the others
    are cancelled as a cancellation is (slot freed, an audit entry)."""
    building = make_building(floors=1, per_floor=3, skipped=())
    handed_unit, invited_unit, single_unit = building.units.order_by("pk")
    owners = {
        unit.pk: sell(unit, consultant).customer_id
        for unit in (handed_unit, invited_unit, single_unit)
    }
    today = timezone.localdate()
    first, second = (
        handover.batch_create(
            actor=service_manager,
            building=building,
            name=name,
            starts_on=today,
            ends_on=today + timedelta(days=10),
        )
        for name in ("第一批", "第二批")
    )
    slot = handover.slot_add(
        actor=service_manager,
        batch=first,
        day=today,
        starts_at=time(9),
        ends_at=time(11),
        capacity=2,
    )
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate([BEFORE])
    try:

        def appointment(batch, unit, **fields) -> HandoverAppointment:
            return HandoverAppointment.objects.create(
                batch=batch, unit=unit, customer_id=owners[unit.pk], **fields
            )

        booked = appointment(first, handed_unit, status="booked", slot=slot)
        handed = appointment(
            second, handed_unit, status="handed_over", handed_over_on=today
        )
        earliest = appointment(first, invited_unit)
        later = appointment(second, invited_unit)
        single = appointment(first, single_unit)
        _migrate(leaves)
    except Exception:
        # Leave a database the other tests can use.
        HandoverAppointment.objects.filter(batch=first).update(status="cancelled")
        _migrate(leaves)
        raise

    statuses = dict(
        HandoverAppointment.objects.values_list("pk", "status").order_by("pk")
    )
    assert statuses == {
        booked.pk: "cancelled",
        handed.pk: "handed_over",
        earliest.pk: "invited",
        later.pk: "cancelled",
        single.pk: "invited",
    }
    assert HandoverAppointment.objects.get(pk=booked.pk).slot_id is None
    assert _trail(booked) == [
        (
            None,
            {
                "status": {"old": "booked", "new": "cancelled"},
                "slot": {"old": str(slot), "new": ""},
            },
        )
    ]
    assert _trail(later) == [(None, {"status": {"old": "invited", "new": "cancelled"}})]
    assert _trail(handed) == _trail(earliest) == _trail(single) == []
    # And back: 0022 has no such index, and forward again finds nothing to do.
    _migrate([BEFORE])
    _migrate(leaves)
    assert (
        AuditEntry.objects.filter(content_type__model="handoverappointment").count()
        == 2
    )
