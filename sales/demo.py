"""The demo's sales: two projects with their buildings, deals walked through every
stage and spread over the year, and the team's registrations (protection)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from crm_site.models import User
from customers.models import Customer
from sales import services as sales_services
from sales.models import (
    CommissionRule,
    Opportunity,
    PaymentItem,
    Project,
    Receipt,
    Registration,
    StageChange,
    Unit,
)
from sales.models.aftersale import Basis
from sales.services import ownership
from sales.services.changes import change_rule_set
from sales.services.commission import commission_accrue, commission_rule_set

# project, city, [(building, floors, layouts per position, areas, price per m²)]
DEMO_PROJECTS = [
    (
        "安居·御景湾",
        "杭州",
        [
            (
                "1号楼",
                18,
                ["3室2厅2卫", "2室2厅1卫", "2室2厅1卫", "3室2厅2卫"],
                ["128.50", "89.00", "89.00", "128.50"],
                "32000",
            ),
            (
                "2号楼",
                33,
                [
                    "4室2厅2卫",
                    "3室2厅2卫",
                    "3室2厅1卫",
                    "2室2厅1卫",
                    "2室2厅1卫",
                    "3室2厅1卫",
                    "3室2厅2卫",
                    "4室2厅2卫",
                ],
                [
                    "143.00",
                    "118.00",
                    "105.00",
                    "89.00",
                    "89.00",
                    "105.00",
                    "118.00",
                    "143.00",
                ],
                "30500",
            ),
        ],
    ),
    (
        "安居·云栖府",
        "上海",
        [("A栋", 11, ["4室2厅3卫", "3室2厅2卫"], ["168.00", "136.00"], "68000")],
    ),
]


def seed(rng: random.Random, users: dict[str, User]) -> None:
    """Two projects, their buildings, and deals walked through every stage."""
    admin = users["admin"]
    for project_name, city, buildings in DEMO_PROJECTS:
        existing = Project.objects.filter(name=project_name).first()
        if existing is not None:
            _rules_if_missing(existing, admin)
            continue
        project = Project.objects.create(name=project_name, city=city)
        _rules(project, admin)
        for name, floors, layouts, areas, price in buildings:
            sales_services.building_generate(
                actor=admin,
                project=project,
                name=name,
                floors=floors,
                units_per_floor=len(layouts),
                skipped_floors=[4, 14],
                layouts=layouts,
                gross_areas=[Decimal(a) for a in areas],
                base_price=Decimal(price),
                floor_increment=Decimal("120"),
            )
        _deals(rng, project, users)
        _spread_over_the_year(rng, project)


# The consultants' commission (percent of the agreed price, when earned) and the
# money kept when a deal is cancelled after subscription or contract.
RULES = {
    "安居·御景湾": (Decimal("0.50"), "contracted", Decimal("1.00"), Decimal("3.00")),
    "安居·云栖府": (Decimal("0.30"), "paid", Decimal("2.00"), Decimal("5.00")),
}


def _rules(project: Project, admin: User) -> None:
    rate, earned_at, subscribed, contracted = RULES[project.name]
    commission_rule_set(
        actor=admin,
        project=project,
        basis=Basis.PERCENT,
        rate=rate,
        earned_at=earned_at,
    )
    change_rule_set(
        actor=admin,
        project=project,
        forfeit_basis=Basis.PERCENT,
        forfeit_subscribed=subscribed,
        forfeit_contracted=contracted,
        buyer_change_fee=Decimal("2000.00"),
        unit_change_keeps_money=True,
    )


def _rules_if_missing(project: Project, admin: User) -> None:
    """A demo database loaded before the rules existed gets them, and its deals the
    commission they earned (accruing is idempotent)."""
    if CommissionRule.objects.filter(project=project).exists():
        return
    _rules(project, admin)
    for deal in Opportunity.objects.filter(
        project=project,
        stage__in=[Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID],
    ):
        commission_accrue(deal=deal, actor=admin)


def seed_ownership(rng: random.Random, users: dict[str, User]) -> None:
    """Team 一组 sells both projects; its consultants' customers are registered with
    protection ending at different dates, so the pool, the warnings and the sweep
    all have something to show."""
    if Registration.objects.exists():
        return
    team = users["consultant"].team
    projects = list(Project.objects.order_by("name"))
    for project in projects:
        project.teams.add(team)
    now = timezone.now()
    owned = Customer.objects.filter(
        assigned_consultant__in=[users["consultant"], users["consultant2"]]
    ).select_related("assigned_consultant")
    for customer in owned.order_by("pk"):
        ownership.registration_create(
            actor=customer.assigned_consultant,
            customer=customer,
            project=projects[customer.pk % len(projects)],
            consultant=customer.assigned_consultant,
            basis=rng.choice(["visit", "call"]),
            now=now - timedelta(days=rng.randint(0, 16), hours=rng.randint(0, 23)),
        )
    ownership.registrations_sweep()
    ownership.registrations_warn()


def _deals(rng: random.Random, project: Project, users: dict[str, User]) -> None:
    units = list(Unit.objects.filter(building__project=project).order_by("?")[:60])
    targets = [
        *["new", "contacted", "visited", "lost"] * 3,
        *["reserved"] * 6,
        *["subscribed"] * 6,
        *["contracted"] * 5,
        *["paid"] * 4,
    ]
    for consultant_name in ("consultant", "consultant2"):
        consultant = users[consultant_name]
        customers = list(
            Customer.objects.filter(assigned_consultant=consultant).order_by("pk")[
                : len(targets) // 2
            ]
        )
        for customer, target in zip(
            customers, targets[consultant_name == "consultant2" :: 2], strict=False
        ):
            deal = sales_services.opportunity_open(
                actor=consultant, customer=customer, project=project
            )
            _walk(deal, target, consultant, units)
    for unit in units[-4:]:
        if unit.status == Unit.Status.AVAILABLE:
            Unit.objects.filter(pk=unit.pk).update(status=Unit.Status.NOT_FOR_SALE)


def _walk(deal: Opportunity, target: str, actor: User, units: list[Unit]) -> None:
    stage = Opportunity.Stage
    if target in ("contacted", "visited", "lost"):
        deal.move_to(stage.CONTACTED, actor=actor)
        if target != "contacted":
            deal.move_to(stage.VISITED, actor=actor)
        if target == "lost":
            deal.move_to(stage.LOST, actor=actor, reason="price", note="预算不足")
        return
    if target == "new":
        return
    unit = next((u for u in units if u.status == Unit.Status.AVAILABLE), None)
    if unit is None:
        return
    deal.move_to(stage.VISITED, actor=actor)
    sales_services.unit_reserve(actor=actor, opportunity=deal, unit=unit)
    unit.status = Unit.Status.RESERVED
    if target == "reserved":
        return
    sales_services.unit_subscribe(actor=actor, opportunity=deal)
    unit.status = Unit.Status.SUBSCRIBED
    if target == "subscribed":
        return
    deal.refresh_from_db()
    items = sales_services.payment_plan_create(
        actor=actor, opportunity=deal, scheme="mortgage", deposit=Decimal("50000")
    )
    today = timezone.localdate()
    sales_services.receipt_record(
        actor=actor,
        item=items[0],
        amount=items[0].amount,
        received_on=today,
        method="pos",
    )
    sales_services.opportunity_contract(actor=actor, opportunity=deal)
    if target == "paid":
        for item in items[1:]:
            sales_services.receipt_record(
                actor=actor,
                item=item,
                amount=item.amount,
                received_on=today,
                method="bank_loan" if item.kind == "mortgage" else "transfer",
            )
        Unit.objects.filter(pk=unit.pk).update(status=Unit.Status.HANDED_OVER)


def _spread_over_the_year(rng: random.Random, project: Project) -> None:
    """Move each demo deal's history back by a random number of days, so the dashboard
    shows a year of activity rather than one afternoon; the first two with money
    received stay in the current month, so this month's figures are not empty. Then
    stretch the steps before the latest one over days and weeks (_stretch), so time in
    stage and days to contract look like a sales office's."""
    this_month = timezone.localdate().day - 1
    paid = Receipt.objects.filter(item__opportunity=OuterRef("pk"))
    deals = Opportunity.objects.filter(project=project).order_by(~Exists(paid), "pk")
    for n, deal in enumerate(deals):
        shift = timedelta(days=rng.randint(0, this_month if n < 2 else 330))
        StageChange.objects.filter(opportunity=deal).update(
            changed_at=F("changed_at") - shift
        )
        Opportunity.objects.filter(pk=deal.pk).update(
            created_at=F("created_at") - shift,
            stage_changed_at=F("stage_changed_at") - shift,
        )
        Receipt.objects.filter(item__opportunity=deal).update(
            received_on=F("received_on") - shift
        )
        PaymentItem.objects.filter(opportunity=deal).update(
            due_date=F("due_date") - shift
        )
        _stretch(rng, deal)


def _stretch(rng: random.Random, deal: Opportunity) -> None:
    """Each earlier step of the deal (and its opening) moves further back: the latest
    step keeps its day, the ones before it come 1 to 20 days apart."""
    changes = list(
        StageChange.objects.filter(opportunity=deal).order_by("-changed_at", "-pk")
    )
    back = timedelta()
    for change in changes[1:]:
        back += timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 12))
        StageChange.objects.filter(pk=change.pk).update(
            changed_at=F("changed_at") - back
        )
    back += timedelta(days=rng.randint(0, 5))
    Opportunity.objects.filter(pk=deal.pk).update(created_at=F("created_at") - back)
