"""The demo owner of the owners' portal (runs after the other demo steps).

林晓 (mobile 138 0013 8888) bought a unit of 安居·御景湾 with her husband 陈安 as
co-buyer: a signed contract, a mortgage payment plan whose deposit is paid and whose
down payment is overdue, and a handover appointment still to book. Both may sign in to
/portal/ with their mobile; with the log SMS backend the code is in the log (README,
"For owners"). Safe to run twice: nothing is done when the demo owner exists.
"""

from __future__ import annotations

import random
from datetime import time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from customers.models import Customer
from customers.services import customer_create, existing_with_mobile, household_link
from sales import services as sales_services
from sales.models import Building, Unit
from sales.services.co_buyers import deal_co_buyers_set
from sales.services.money import payment_plan_create, receipt_record
from service import handover
from service.models import HandoverBatch

DEMO_OWNER_MOBILE = "+8613800138888"
DEMO_CO_BUYER_MOBILE = "+8613800139999"
DEMO_NOTES = [
    "Owner portal (/portal/): sign in with 138 0013 8888 (林晓) or 138 0013 9999 "
    "(陈安); with the log SMS backend the code is in the log "
    "('Owner portal sign-in code for 138****8888: …').",
]
PROJECT = "安居·御景湾"
BATCH_NAME = "二批交房"


@transaction.atomic
@unaudited("demo data sets up its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    if existing_with_mobile(DEMO_OWNER_MOBILE) is not None:
        return
    consultant, manager = users["consultant"], users["service_manager"]
    unit = _free_unit()
    if unit is None:
        return
    owner = customer_create(
        actor=consultant,
        name="林晓",
        mobile=DEMO_OWNER_MOBILE,
        gender=Customer.Gender.FEMALE,
        source=Customer.Source.REFERRAL,
        assigned_consultant=consultant,
        consent_service=True,
    )
    spouse = customer_create(
        actor=consultant,
        name="陈安",
        mobile=DEMO_CO_BUYER_MOBILE,
        gender=Customer.Gender.MALE,
        source=Customer.Source.REFERRAL,
        assigned_consultant=consultant,
    )
    household_link(actor=consultant, customer=owner, other=spouse, role="spouse")
    deal = sales_services.opportunity_open(
        actor=consultant, customer=owner, project=unit.building.project
    )
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal_co_buyers_set(actor=consultant, deal=deal, customers=[spouse])
    deal = sales_services.unit_subscribe(actor=consultant, opportunity=deal)
    today = timezone.localdate()
    items = payment_plan_create(
        actor=consultant,
        opportunity=deal,
        scheme="mortgage",
        deposit=Decimal("100000.00"),
        start=today - timedelta(days=45),
    )
    receipt_record(
        actor=consultant,
        item=items[0],
        amount=items[0].amount,
        received_on=today - timedelta(days=44),
        method="transfer",
        reference="DEMO-0001",
    )
    sales_services.opportunity_contract(actor=consultant, opportunity=deal)
    _handover(manager, unit.building)


def _free_unit() -> Unit | None:
    """An unsold unit of the building of the open handover batch if there is one, so
    the demo owner can book a time; else one of the demo project's."""
    batch = (
        HandoverBatch.objects.exclude(status=HandoverBatch.Status.CLOSED)
        .filter(ends_on__gte=timezone.localdate())
        .order_by("pk")
        .first()
    )
    units = Unit.objects.filter(status=Unit.Status.AVAILABLE)
    if batch is not None:
        found = units.filter(building=batch.building).order_by("floor", "position")
        if found.exists():
            return found.first()
    return units.filter(building__project__name=PROJECT).order_by("pk").first()


def _handover(manager: User, building: Building) -> None:
    """Invite the demo owner to the open batch of the building (or a new one)."""
    today = timezone.localdate()
    batch = (
        HandoverBatch.objects.filter(building=building, ends_on__gte=today)
        .exclude(status=HandoverBatch.Status.CLOSED)
        .order_by("pk")
        .first()
    )
    if batch is None:
        batch = handover.batch_create(
            actor=manager,
            building=building,
            name=BATCH_NAME,
            starts_on=today,
            ends_on=today + timedelta(days=21),
        )
        for day in range(2, 21, 3):
            for start, end in ((time(9), time(12)), (time(14), time(17))):
                handover.slot_add(
                    actor=manager,
                    batch=batch,
                    day=today + timedelta(days=day),
                    starts_at=start,
                    ends_at=end,
                    capacity=3,
                )
    handover.batch_invite(actor=manager, batch=batch)
