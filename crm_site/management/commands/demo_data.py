"""Load the demo data: one user per role and a few hundred customers.

Running it again creates nothing twice: users are looked up by username and
customers by their (unique) mobile number, both generated deterministically.

It gives a role and the published demo password only to the users it creates
itself; a user that was there (a real ``admin``, or one an administrator changed)
is left as it was. Into a database that holds users but none of the demo logins
(a real one) it loads nothing unless ``--force`` is given; a database it loaded
before (run.sh's own, started again) is topped up whatever users were added since.
"""

from __future__ import annotations

import operator
import random
from functools import reduce
from importlib import import_module

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q

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


def demo_email(username: str) -> str:
    """The address a demo login is created with: with the username, what tells a
    demo login from a real user of that name (example.com is never a real mailbox)."""
    return f"{username}@anju.example.com"


# (module, function(rng, users)) run in this order after the customers are seeded;
# a module's DEMO_LOGINS [(username, Role)] are listed with the demo logins, its
# DEMO_ACCOUNTS {username: e-mail} are the logins it creates (as demo_email does
# here), and its DEMO_NOTES (lines of text) come after them.
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
    # Last: the opening takes the team's customers left without a deal at 云栖府.
    ("sales.demo_opening", "seed"),
]


class Command(BaseCommand):
    help = "Load demo users (password demo-pass-2026) and customers; safe to run twice."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load into a database that holds users but no demo logins (users "
            "that are there are left as they are).",
        )

    @transaction.atomic
    @unaudited("demo data sets up and back-dates its own history")
    def handle(
        self, *args, customers: int, seed: int, force: bool = False, **options
    ) -> None:
        demo = demo_users_q()
        self._refuse_real_database(demo, force=force)
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
        mine = set(User.objects.filter(demo).values_list("username", flat=True))
        for username, role in logins:
            if username in mine:
                self.stdout.write(f"  {username:<16} {role.label}")
        theirs = User.objects.filter(username__in=[u for u, _r in logins])
        for username in theirs.exclude(demo).values_list("username", flat=True):
            self.stdout.write(
                f"  {username:<16} an existing user, not a demo login: left as it was "
                "(no demo role, no demo password)"
            )
        for module in modules:
            for line in getattr(import_module(module), "DEMO_NOTES", []):
                self.stdout.write(line)

    def _refuse_real_database(self, demo: Q, *, force: bool) -> None:
        """CommandError when the database holds users and none of them is a demo
        login: a real database, where demo logins with a published password (an
        administrator among them) must not appear unasked. A database that holds
        demo logins was loaded before (run.sh's own: its second start tops it up,
        whatever users an administrator added there since)."""
        if force or User.objects.filter(demo).exists():
            return
        others = list(
            User.objects.order_by("username").values_list("username", flat=True)[:6]
        )
        if not others:
            return
        named = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise CommandError(
            f"This database already holds users that are not demo logins ({named}). "
            "The demo data adds demo customers and demo logins with the published "
            f"password {DEMO_PASSWORD}, an administrator among them: load it only "
            "into a demo or training database. Nothing was loaded. To load it here "
            "anyway, run manage.py demo_data --force (the users that are there are "
            "left as they are)."
        )

    def _users(self) -> dict[str, User]:
        """The demo logins: each one missing is created with its role and the demo
        password; one that exists is used as it is, never given a role or a password
        (a real user of that name, or a demo login an administrator changed)."""
        users = {}
        existing = {
            user.username: user
            for user in User.objects.filter(
                username__in=[username for username, *_rest in DEMO_USERS]
            )
        }
        for username, family, given, role, team_name in DEMO_USERS:
            user = existing.get(username)
            if user is None:
                team = (
                    Team.objects.get_or_create(name=team_name)[0] if team_name else None
                )
                user = User.objects.create(
                    username=username,
                    last_name=family,
                    first_name=given,
                    email=demo_email(username),
                    team=team,
                    is_staff=role == Role.ADMINISTRATOR,
                    is_superuser=role == Role.ADMINISTRATOR,
                )
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get(name=role.value))
            users[username] = user
        return users


def demo_accounts() -> dict[str, str]:
    """{username: e-mail} of every login the demo data creates."""
    accounts = {username: demo_email(username) for username, *_rest in DEMO_USERS}
    for module in dict.fromkeys(module for module, _function in DEMO_SEEDERS):
        accounts.update(getattr(import_module(module), "DEMO_ACCOUNTS", {}))
    return accounts


def demo_users_q() -> Q:
    """The users the demo data created: a demo username with its demo e-mail."""
    return reduce(
        operator.or_,
        (Q(username=name, email=email) for name, email in demo_accounts().items()),
    )
