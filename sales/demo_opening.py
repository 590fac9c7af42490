"""The demo's opening day (开盘) at 安居·云栖府, and the rules of the sale after it.

- 云栖府 asks for a deposit of intent (诚意金) of ¥50,000 and a confirmed purchase
  qualification (购房资格, Shanghai), one deposit per buyer and household.
- B栋首开: a session by queue number (排号), on site and online, open now: two buyers
  chose on site, the desk is calling the fourth, and the first number belongs to
  周宁 (mobile 138 0013 7777), who may choose on her phone in the owners' portal.
- C栋摇号: a lottery (摇号) session drawn with its published seed, selecting in three
  days; the buyers' SMS of their number and slot are queued.
- Deposits that take no part: one refunded, one whose refund waits for a manager,
  one not qualified and one whose qualification is still to be checked.
- Both projects have a commission rule (set by sales.demo before the deals are
  walked) and 御景湾 a rule for changes after contract; one subscribed buyer there
  asks to change unit, waiting for a manager on the approvals page.

Everything goes through the services, as the desk would do it. Safe to run twice:
nothing is done once the project has a selection session.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from customers.models import Customer
from customers.services import customer_create, existing_with_mobile
from sales import services as sales_services
from sales.models import (
    DealChange,
    IntentDeposit,
    Opportunity,
    Project,
    Receipt,
    SelectionSession,
    Unit,
)
from sales.services import changes, deposits, lottery, opening, sessions

PROJECT = "安居·云栖府"
ONLINE_BUYER_MOBILE = "+8613800137777"
DEMO_NOTES = [
    "Opening day (/sales/ → 安居·云栖府 → 选房场次): B栋首开 is open; 周宁 "
    "(138 0013 7777) holds number 1 and may choose online in the owners' portal "
    "(/portal/, the code is in the log like the owners').",
]
# Building, floors, layouts and gross areas by position, price per m².
BUILDINGS = [
    ("B栋", 12, ["3室2厅2卫", "2室2厅1卫", "2室2厅1卫", "3室2厅2卫"]),
    ("C栋", 10, ["4室2厅2卫", "3室2厅2卫", "3室2厅2卫", "4室2厅2卫"]),
]
AREAS = {
    "B栋": ["128.00", "92.00", "92.00", "128.00"],
    "C栋": ["156.00", "126.00", "126.00", "156.00"],
}
PRICES = {"B栋": "66000", "C栋": "69000"}
# How many buyers give a deposit for each session (the first wave's first is 周宁).
WAVES = (8, 12)


@transaction.atomic
@unaudited("demo data sets up its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    project = Project.objects.filter(name=PROJECT).first()
    if project is None or project.selection_sessions.exists():
        return
    manager, admin = users["sales_manager"], users["admin"]
    project.deposit_amount = Decimal("50000.00")
    project.deposits_per_buyer = 1
    project.requires_qualification = True
    project.save(
        update_fields=["deposit_amount", "deposits_per_buyer", "requires_qualification"]
    )
    buildings = {
        name: sales_services.building_generate(
            actor=admin,
            project=project,
            name=name,
            floors=floors,
            units_per_floor=len(layouts),
            skipped_floors=[4],
            layouts=layouts,
            gross_areas=[Decimal(area) for area in AREAS[name]],
            base_price=Decimal(PRICES[name]),
            floor_increment=Decimal("150"),
        )
        for name, floors, layouts in BUILDINGS
    }
    buyers = _buyers(project, users)
    first_wave = [_online_buyer(users["consultant"]), *buyers[: WAVES[0] - 1]]
    _deposits(project, first_wave, start=1)
    _queue_session(project, buildings["B栋"], users)
    second_wave = buyers[WAVES[0] - 1 : WAVES[0] - 1 + WAVES[1]]
    taken = _deposits(project, second_wave, start=len(first_wave) + 1, unchecked=1)
    _leaving(taken[-4:-1], manager)
    _lottery_session(project, buildings["C栋"], manager)
    _change_asked()


def _buyers(project: Project, users: dict[str, User]) -> list[Customer]:
    """The team's private buyers with no deal at the project, one per household."""
    dealt = Opportunity.objects.filter(customer=OuterRef("pk"), project=project)
    found, households = [], set()
    candidates = (
        Customer.objects.filter(
            assigned_consultant__in=[users["consultant"], users["consultant2"]],
            kind=Customer.Kind.PERSON,
        )
        .exclude(mobile="")
        .exclude(Exists(dealt))
        .select_related("assigned_consultant")
        .order_by("pk")
    )
    for customer in candidates[:100]:
        if customer.household_id is not None and customer.household_id in households:
            continue
        households.add(customer.household_id)
        found.append(customer)
        if len(found) == sum(WAVES):
            break
    return found


def _online_buyer(consultant: User) -> Customer:
    existing = existing_with_mobile(ONLINE_BUYER_MOBILE)
    if existing is not None:
        return existing
    return customer_create(
        actor=consultant,
        name="周宁",
        mobile=ONLINE_BUYER_MOBILE,
        gender=Customer.Gender.FEMALE,
        source=Customer.Source.WALK_IN,
        assigned_consultant=consultant,
        consent_service=True,
    )


def _deposits(
    project: Project, buyers: list[Customer], *, start: int, unchecked: int = 0
) -> list[IntentDeposit]:
    """Each buyer's deposit, taken by their consultant, qualification confirmed but
    for the last ``unchecked`` buyers'."""
    taken = []
    for number, customer in enumerate(buyers, start=start):
        consultant = customer.assigned_consultant
        try:
            deposit = deposits.deposit_take(
                actor=consultant,
                project=project,
                customer=customer,
                receipt_number=f"YQF-2026-{number:04d}",
                method=Receipt.Method.TRANSFER,
            )
        except ValidationError:
            continue  # protected elsewhere or a household already in: skip them
        taken.append(deposit)
        if number > start + len(buyers) - 1 - unchecked:
            continue
        deposits.deposit_qualify(
            actor=consultant,
            deposit=deposit,
            qualified=True,
            reference=f"沪房资格(2026)第{310000 + number}号",
        )
    return taken


def _leaving(taken: list[IntentDeposit], manager: User) -> None:
    """Three deposits of the second wave that take no part in its lottery (a fourth,
    its qualification unchecked, does not either)."""
    if len(taken) < 3:
        return
    refunded, refunding, unqualified = taken
    for deposit, reason in (
        (refunded, "购房计划变更，申请退还诚意金"),
        (refunding, "已在其他项目购房"),
    ):
        deposits.deposit_refund_request(
            actor=deposit.consultant, deposit=deposit, reason=reason
        )
    deposits.deposit_refund_decide(
        actor=manager,
        refund=refunded.refunds.get(),
        approve=True,
        note="已核实，原路退回",
    )
    deposits.deposit_qualify(
        actor=unqualified.consultant,
        deposit=unqualified,
        qualified=False,
        reference="核验未通过：名下已有两套住房",
    )


def _queue_session(project: Project, building, users: dict[str, User]) -> None:
    """B栋首开: ordered by queue number, open for half an hour; two buyers chose on
    site and the desk calls the fourth."""
    manager, consultant = users["sales_manager"], users["consultant"]
    session = sessions.session_create(
        actor=manager,
        project=project,
        name="B栋首开",
        starts_at=timezone.now() - timedelta(minutes=30),
        mode=SelectionSession.Mode.BOTH,
        order=SelectionSession.Order.QUEUE,
        minutes_per_buyer=10,
        buildings=[building],
    )
    lottery.session_entries_fill(actor=manager, session=session)
    lottery.session_order_set(actor=manager, session=session)
    session = sessions.session_open(actor=manager, session=session)
    free = Unit.objects.filter(
        building=building, status=Unit.Status.AVAILABLE
    ).order_by("-floor", "position")
    for entry in session.entries.filter(position__in=[2, 3]).order_by("position"):
        opening.selection_make(
            session=session,
            entry=entry,
            unit=free.first(),
            channel="on_site",
            actor=consultant,
        )
    if session.entries.filter(position=4).exists():
        sessions.session_call(actor=manager, session=session, position=4)


def _lottery_session(project: Project, building, manager: User) -> None:
    """C栋摇号: the buyers entered, the seed committed, the draw made; selecting on
    site in three days, a buyer every eight minutes."""
    day = timezone.localdate() + timedelta(days=3)
    session = sessions.session_create(
        actor=manager,
        project=project,
        name="C栋摇号选房",
        starts_at=timezone.make_aware(datetime.combine(day, time(9, 30))),
        mode=SelectionSession.Mode.ON_SITE,
        order=SelectionSession.Order.LOTTERY,
        minutes_per_buyer=8,
        buildings=[building],
    )
    if not lottery.session_entries_fill(actor=manager, session=session):
        return  # a demo of few customers: the session stays a draft
    lottery.session_commit_seed(actor=manager, session=session)
    lottery.session_order_set(actor=manager, session=session)


def _change_asked() -> None:
    """A subscribed buyer of 御景湾 asks to move to another unit of the project."""
    deal = (
        Opportunity.objects.filter(
            stage=Opportunity.Stage.SUBSCRIBED, project__name="安居·御景湾"
        )
        .select_related("consultant", "unit__building")
        .order_by("pk")
        .first()
    )
    if deal is None or deal.unit is None:
        return
    other = (
        Unit.objects.filter(
            building__project_id=deal.project_id, status=Unit.Status.AVAILABLE
        )
        .order_by("building__name", "floor", "position")
        .first()
    )
    if other is None:
        return
    changes.deal_change_request(
        actor=deal.consultant,
        opportunity=deal,
        kind=DealChange.Kind.CHANGE_UNIT,
        reason="客户希望换到低楼层，方便老人出行",
        new_unit=other,
    )
