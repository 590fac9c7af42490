"""Load the demo data: one user per role and a few hundred customers.

Running it again creates nothing twice: users are looked up by username and
customers by their (unique) mobile number, both generated deterministically.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm_site.models import Team, User
from crm_site.roles import Role, sync_role_groups
from customers.models import Customer
from customers.sample_data import chinese_name, company_name, mobile_number

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


class Command(BaseCommand):
    help = "Load demo users (password demo-pass-2026) and customers; safe to run twice."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    @transaction.atomic
    def handle(self, *args, customers: int, seed: int, **options) -> None:
        sync_role_groups()
        users = self._users()
        created = self._customers(users, count=customers, seed=seed)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready: {created} new customers.")
        )
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
        for username, _family, _given, role, _team in DEMO_USERS:
            self.stdout.write(f"  {username:<16} {role.label}")

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
        before = Customer.objects.count()
        Customer.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        return Customer.objects.count() - before
