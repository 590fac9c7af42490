"""Load the demo data: one user per role and a few hundred customers.

Running it again creates nothing twice: users are looked up by username and
customers by their (unique) mobile number, both generated deterministically.
"""

from __future__ import annotations

import random
from importlib import import_module

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from crm_site import insight
from crm_site.audit import unaudited
from crm_site.models import Team, User
from crm_site.roles import Role, sync_role_groups

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


# (module, function(rng, users)) run in this order after the customers are seeded;
# a module's DEMO_LOGINS [(username, Role)] are listed with the demo logins, and its
# DEMO_NOTES (lines of text) after them.
DEMO_SEEDERS = [
    ("sales.demo", "seed"),
    ("sales.demo", "seed_ownership"),
    ("service.demo_requests", "seed"),
    ("service.demo_ops", "seed"),
    ("service.demo_care", "seed"),
    ("marketing.demo_partners", "seed"),
    ("marketing.demo_campaigns", "seed"),
    ("service.demo_portal", "seed"),
    # After the demo owner: they get their points and the club event's invitation.
    ("marketing.demo_club", "seed"),
    ("service.demo_repairs", "seed"),
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
        # Each app seeds its own demo data, idempotent like the users above; crm_site
        # names the modules and imports none of the apps.
        created = import_module("customers.demo").seed(
            random.Random(seed), users, count=customers
        )
        for offset, (module, function) in enumerate(DEMO_SEEDERS, start=1):
            getattr(import_module(module), function)(
                random.Random(seed + offset), users
            )
        # The explorer's fact tables hold the demo at once, not after a minute.
        insight.rebuild()
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready: {created} new customers.")
        )
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
        logins = [(username, role) for username, _f, _g, role, _t in DEMO_USERS]
        modules = dict.fromkeys(module for module, _function in DEMO_SEEDERS)
        for module in modules:
            logins += getattr(import_module(module), "DEMO_LOGINS", [])
        for username, role in logins:
            self.stdout.write(f"  {username:<16} {role.label}")
        for module in modules:
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
