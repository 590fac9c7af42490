"""Load the demo data: one user per role and a few hundred customers.

Running it again creates nothing twice: users are looked up by username and
customers by their (unique) mobile number, both generated deterministically.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from importlib import import_module

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import Team, User
from crm_site.roles import Role, sync_role_groups
from customers.models import Customer, Tag
from customers.sample_data import chinese_name, company_name, mobile_number
from customers.services import interaction_log
from customers.services.records import refresh_derived_fields
from sales import services as sales_services
from sales.models import (
    Opportunity,
    PaymentItem,
    Project,
    Receipt,
    Registration,
    StageChange,
    Unit,
)
from sales.services import ownership
from service import services as service_services
from service.models import ServiceRequest

DEMO_PASSWORD = "demo-pass-2026"

# username, family name, given name, role, team
DEMO_USERS = [
    ("consultant", "李", "娜", Role.CONSULTANT, "一组"),
    ("consultant2", "王", "强", Role.CONSULTANT, "一组"),
    ("sales_manager", "张", "伟", Role.SALES_MANAGER, "一组"),
    ("service_agent", "刘", "洋", Role.SERVICE_AGENT, None),
    ("service_manager", "陈", "静", Role.SERVICE_MANAGER, None),
    ("marketer", "杨", "敏", Role.MARKETING, None),
    ("executive", "赵", "磊", Role.EXECUTIVE, None),
    ("admin", "周", "杰", Role.ADMINISTRATOR, None),
]


# Modules with a seed(rng, users) function, run in this order after the steps above;
# a module's DEMO_LOGINS [(username, Role)] are listed with the demo logins, and its
# DEMO_NOTES (lines of text) after them.
DEMO_SEEDERS = [
    "service.demo_ops",
    "service.demo_care",
    "marketing.demo_partners",
    "marketing.demo_campaigns",
    "service.demo_portal",
    # After the demo owner: they get their points and the club event's invitation.
    "marketing.demo_club",
    "service.demo_repairs",
]


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

# kind, category, description
DEMO_REQUESTS = [
    ("complaint", "plumbing", "卫生间天花板渗水，怀疑楼上防水层有问题。"),
    ("repair", "electrical", "客厅两个插座没电，空开正常。"),
    ("complaint", "property_management", "地下车库照明长期不亮，物业未处理。"),
    ("repair", "doors_windows", "主卧窗户关不严，刮风有异响。"),
    ("complaint", "sales_communication", "交房面积与合同约定不符，要求解释。"),
    ("inquiry", "other", "询问房产证办理进度。"),
]

DEMO_TAGS = ["学区房", "改善型", "首置", "投资", "高意向", "老业主"]

# kind, channel, summary
DEMO_TOUCHES = [
    ("visit", "face_to_face", "到案场看样板间，关注三居室，预算300万左右。"),
    ("visit", "face_to_face", "带家人二次到访，详细了解付款方式和交房时间。"),
    ("call_in", "phone", "来电咨询学区划分和周边配套。"),
    ("call_out", "phone", "回访客户，约周末到访。"),
    ("call_out", "phone", "通知认筹活动时间，客户表示有兴趣。"),
    ("wechat", "wechat", "微信发送户型图和价格表。"),
    ("wechat", "wechat", "客户微信询问车位价格。"),
    ("event", "face_to_face", "参加周末暖场活动，现场抽奖。"),
    ("sms", "sms", "短信通知开盘时间。"),
    ("note", "", "客户对楼层有要求，希望10层以上。"),
]


class Command(BaseCommand):
    help = "Load demo users (password demo-pass-2026) and customers; safe to run twice."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    @transaction.atomic
    @unaudited("demo data sets up and back-dates its own history")
    def handle(self, *args, customers: int, seed: int, **options) -> None:
        sync_role_groups()
        users = self._users()
        created = self._customers(users, count=customers, seed=seed)
        self._sales(random.Random(seed + 1), users)
        self._ownership(random.Random(seed + 2), users)
        self._service(random.Random(seed + 3), users)
        # Each app seeds the rest of its own demo data (idempotent, like the above).
        for offset, module in enumerate(DEMO_SEEDERS, start=4):
            import_module(module).seed(random.Random(seed + offset), users)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready: {created} new customers.")
        )
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
        logins = [(username, role) for username, _f, _g, role, _t in DEMO_USERS]
        for module in DEMO_SEEDERS:
            logins += getattr(import_module(module), "DEMO_LOGINS", [])
        for username, role in logins:
            self.stdout.write(f"  {username:<16} {role.label}")
        for module in DEMO_SEEDERS:
            for line in getattr(import_module(module), "DEMO_NOTES", []):
                self.stdout.write(line)

    def _users(self) -> dict[str, User]:
        users = {}
        for username, family, given, role, team_name in DEMO_USERS:
            team = Team.objects.get_or_create(name=team_name)[0] if team_name else None
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "last_name": family,
                    "first_name": given,
                    "email": f"{username}@anju.example.com",
                    "team": team,
                    "is_staff": role == Role.ADMINISTRATOR,
                    "is_superuser": role == Role.ADMINISTRATOR,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role.value))
            users[username] = user
        return users

    def _customers(self, users: dict[str, User], *, count: int, seed: int) -> int:
        rng = random.Random(seed)
        consultants = [users["consultant"], users["consultant2"]]
        now = timezone.now()
        stages = (
            [Customer.Stage.PROSPECT] * 6
            + [Customer.Stage.BUYER] * 2
            + [Customer.Stage.OWNER] * 2
        )
        rows = []
        for _ in range(count):
            is_company = rng.random() < 0.05
            owner_draw = rng.random()
            rows.append(
                Customer(
                    name=company_name(rng) if is_company else chinese_name(rng),
                    kind=Customer.Kind.COMPANY if is_company else Customer.Kind.PERSON,
                    mobile=mobile_number(rng),
                    gender=""
                    if is_company
                    else rng.choice([Customer.Gender.FEMALE, Customer.Gender.MALE]),
                    source=rng.choice(Customer.Source.values),
                    stage=rng.choice(stages),
                    # Most customers have a consultant; some sit in the public pool.
                    assigned_consultant=consultants[0]
                    if owner_draw < 0.45
                    else consultants[1]
                    if owner_draw < 0.85
                    else None,
                    created_by=consultants[0],
                    created_at=now
                    - timedelta(days=rng.randrange(365), minutes=rng.randrange(1440)),
                )
            )
        for row in rows:
            refresh_derived_fields(row)
            row.consent_sms = rng.random() < 0.6
            row.consent_email = rng.random() < 0.4
            row.consent_phone = rng.random() < 0.5
        before = Customer.objects.count()
        Customer.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        created = Customer.objects.count() - before
        stale = list(Customer.objects.filter(name_pinyin=""))
        for customer in stale:
            refresh_derived_fields(customer)
        Customer.objects.bulk_update(
            stale, ["name_pinyin", "name_initials"], batch_size=500
        )
        self._tags(rng)
        self._timelines(rng, consultants)
        return created

    def _sales(self, rng: random.Random, users: dict[str, User]) -> None:
        """Two projects, their buildings, and deals walked through every stage."""
        admin = users["admin"]
        for project_name, city, buildings in DEMO_PROJECTS:
            if Project.objects.filter(name=project_name).exists():
                continue
            project = Project.objects.create(name=project_name, city=city)
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
            self._deals(rng, project, users)
            self._spread_over_the_year(rng, project)

    def _ownership(self, rng: random.Random, users: dict[str, User]) -> None:
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

    def _service(self, rng: random.Random, users: dict[str, User]) -> None:
        """Owners' requests in every state, one of them overdue and escalated."""
        if ServiceRequest.objects.exists():
            return
        agent, manager = users["service_agent"], users["service_manager"]
        owners = list(
            Customer.objects.filter(stage=Customer.Stage.OWNER).order_by("pk")[:12]
        )
        for n, owner in enumerate(owners):
            kind, category, text = DEMO_REQUESTS[n % len(DEMO_REQUESTS)]
            request = service_services.request_create(
                actor=agent,
                customer=owner,
                kind=kind,
                category=category,
                severity=rng.choice(["normal", "high", "urgent"]),
                channel="phone",
                description=text,
            )
            target = n % 6
            if target >= 1:
                service_services.request_assign(
                    actor=agent,
                    request=request,
                    department="engineering",
                    handler=manager,
                )
            if target >= 2:
                service_services.request_start(actor=manager, request=request)
            if target >= 3:
                service_services.request_resolve(
                    actor=manager, request=request, note="已上门处理"
                )
            if target >= 4:
                service_services.request_callback(
                    actor=agent,
                    request=request,
                    satisfied=target != 4 or n % 4 == 0,
                    note="已回访业主",
                )
            if target == 5:
                service_services.request_close(actor=agent, request=request)
        late = ServiceRequest.objects.filter(status="received").first()
        if late is not None:
            ServiceRequest.objects.filter(pk=late.pk).update(
                response_due=timezone.now() - timedelta(hours=30),
                resolution_due=timezone.now() - timedelta(hours=26),
            )
            service_services.escalations_sweep()

    def _deals(
        self, rng: random.Random, project: Project, users: dict[str, User]
    ) -> None:
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
                self._walk(deal, target, consultant, units)
        for unit in units[-4:]:
            if unit.status == Unit.Status.AVAILABLE:
                Unit.objects.filter(pk=unit.pk).update(status=Unit.Status.NOT_FOR_SALE)

    def _walk(
        self, deal: Opportunity, target: str, actor: User, units: list[Unit]
    ) -> None:
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

    def _spread_over_the_year(self, rng: random.Random, project: Project) -> None:
        """Move each demo deal's history back by a random number of days, so the
        dashboard shows a year of activity rather than one afternoon; the first two with
        money received stay in the current month, so this month's figures are not empty."""
        this_month = timezone.localdate().day - 1
        paid = Receipt.objects.filter(item__opportunity=OuterRef("pk"))
        deals = Opportunity.objects.filter(project=project).order_by(
            ~Exists(paid), "pk"
        )
        for n, deal in enumerate(deals):
            shift = timedelta(days=rng.randint(0, this_month if n < 2 else 330))
            StageChange.objects.filter(opportunity=deal).update(
                changed_at=F("changed_at") - shift
            )
            Opportunity.objects.filter(pk=deal.pk).update(
                stage_changed_at=F("stage_changed_at") - shift
            )
            Receipt.objects.filter(item__opportunity=deal).update(
                received_on=F("received_on") - shift
            )
            PaymentItem.objects.filter(opportunity=deal).update(
                due_date=F("due_date") - shift
            )

    def _tags(self, rng: random.Random) -> None:
        tags = [Tag.objects.get_or_create(name=name)[0] for name in DEMO_TAGS]
        untagged = Customer.objects.filter(tags__isnull=True).order_by("pk")
        for customer in untagged[: max(0, untagged.count() // 2)]:
            customer.tags.add(*rng.sample(tags, rng.randint(1, 2)))

    def _timelines(self, rng: random.Random, consultants: list[User]) -> None:
        """A few touch points for every customer who has none yet."""
        now = timezone.now()
        today = timezone.localdate()
        for customer in Customer.objects.filter(interactions__isnull=True).order_by(
            "pk"
        ):
            actor = customer.assigned_consultant or rng.choice(consultants)
            span = max(1, int((now - customer.created_at).total_seconds()))
            moments = sorted(rng.randrange(span) for _ in range(rng.randint(1, 6)))
            for index, offset in enumerate(moments):
                kind, channel, summary = rng.choice(DEMO_TOUCHES)
                last = index == len(moments) - 1
                follow_up = (
                    today + timedelta(days=rng.randint(-5, 10))
                    if last and rng.random() < 0.6
                    else None
                )
                interaction_log(
                    customer=customer,
                    kind=kind,
                    channel=channel,
                    summary=summary,
                    actor=actor,
                    occurred_at=customer.created_at + timedelta(seconds=offset),
                    next_follow_up=follow_up,
                )
