#!/usr/bin/env python
"""Add service data to the bench database (issue 6).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anju_bench \\
        .venv/bin/python bench/service_generate.py

Runs on a database filled by bench/generate.py and bench/sales_generate.py (customers,
buildings and units) with the demo users. It only ADDS rows; it never empties a table
the other generators own. Creates:

- 24 contractors 基准承包商01… (kept if they exist);
- 200,000 service requests (COPY) over the last 24 months on owners' units (85 %; the
  rest without a unit), received by the demo service users; most are closed, ~2.5 %
  are open and ~0.6 % overdue; ~6 % were reopened after a callback;
- their steps (the prefix of received → assigned → in progress → resolved → called
  back → closed each one went through; ~4.5 per request);
- work orders for ~35 % of them (40 % of those to contractors), signed off for the
  resolved ones, open or scheduled for the others;
- 60 knowledge articles.

--reset deletes only what this script made (requests whose description starts with
the bench tag, and everything hanging off them; the bench contractors and articles).
Prints the time of each step and ANALYZEs the tables at the end.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from sales_generate import Step, copy_rows, log, sql, sync_sequence, ts

TAG = "【基准】"
CONTRACTORS = 24
ARTICLES = 60
CATEGORIES = [
    ("plumbing", 26),
    ("walls_floors", 18),
    ("doors_windows", 14),
    ("electrical", 12),
    ("construction", 10),
    ("property_management", 10),
    ("design", 4),
    ("sales_communication", 3),
    ("other", 3),
]
SEVERITIES = [("normal", 70), ("high", 18), ("low", 8), ("urgent", 4)]
HOURS = {"urgent": (2, 24), "high": (4, 72), "normal": (24, 168), "low": (48, 336)}
KINDS = [("repair", 60), ("complaint", 30), ("inquiry", 7), ("suggestion", 3)]
CHANNELS = ["phone", "phone", "phone", "wechat", "walk_in", "web", "property"]
CHAIN = ["received", "assigned", "in_progress", "resolved", "called_back", "closed"]
PROBLEMS = {
    "plumbing": "卫生间漏水",
    "walls_floors": "墙面开裂",
    "doors_windows": "窗户关不严",
    "electrical": "插座没电",
    "construction": "楼板空鼓",
    "property_management": "电梯经常停运",
    "design": "厨房排烟不畅",
    "sales_communication": "交房标准与宣传不符",
    "other": "其他问题",
}
TRADES = ["防水", "水电", "门窗", "瓷砖", "油漆", "电梯"]


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _w in weighted], [w for _v, w in weighted])[0]


def reserve_ids(table: str, count: int) -> int:
    """Take `count` ids from the table's sequence at once; returns the first."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST(nextval(pg_get_serial_sequence('{table}', 'id')), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table})) + %s - 1)",
            [count],
        )
        return cursor.fetchone()[0] - count + 1


def reset() -> None:
    requests = f"SELECT id FROM service_servicerequest WHERE description LIKE '{TAG}%%'"
    statements = [
        ("chargebacks", f"DELETE FROM service_chargeback WHERE request_id IN ({requests})"),
        ("article uses", f"DELETE FROM service_articleuse WHERE request_id IN ({requests})"),
        ("work orders", f"DELETE FROM service_workorder WHERE request_id IN ({requests})"),
        ("escalations", f"DELETE FROM service_escalation WHERE request_id IN ({requests})"),
        ("steps", f"DELETE FROM service_servicestep WHERE request_id IN ({requests})"),
        ("requests", f"DELETE FROM service_servicerequest WHERE description LIKE '{TAG}%%'"),
        ("articles", f"DELETE FROM service_article WHERE title LIKE '{TAG}%%'"),
        ("contractors", "DELETE FROM service_contractor WHERE name LIKE '基准承包商%%' AND NOT EXISTS (SELECT 1 FROM service_workorder w WHERE w.contractor_id = service_contractor.id)"),
    ]  # fmt: skip
    for label, statement in statements:
        log(f"  {label}: {sql(statement):,} rows")


def contractors(rng: random.Random) -> list[int]:
    from service.models import Contractor

    ids = []
    for n in range(1, CONTRACTORS + 1):
        contractor, _created = Contractor.objects.get_or_create(
            name=f"基准承包商{n:02d}",
            defaults={
                "trade": TRADES[n % len(TRADES)],
                "contact_name": "联系人",
                "phone": f"0512-6{n:03d}0000",
                "warranty_months": rng.choice([12, 24, 24, 60]),
            },
        )
        ids.append(contractor.pk)
    return ids


def articles(rng: random.Random, author_id: int) -> None:
    from service.models import Article

    if Article.objects.filter(title__startswith=TAG).exists():
        return
    Article.objects.bulk_create(
        Article(
            title=f"{TAG}{PROBLEMS[category]}的处理 {n}",
            category=category,
            problem=f"业主反映{PROBLEMS[category]}，多见于交房后一年内。",
            cause="施工工艺不到位或材料老化。",
            fix="上门查看，按规范返修，拍照留存，七日后回访。",
            keywords=f"{PROBLEMS[category]} 返修",
            created_by_id=author_id,
        )
        for n in range(ARTICLES)
        for category in [pick(rng, CATEGORIES)]
    )


class Plan:
    """One generated request and what hangs off it, as COPY rows."""

    def __init__(
        self, rng, now, request_id, customers, units, receivers, contractor_ids
    ):
        self.rng = rng
        self.id = request_id
        age = timedelta(seconds=rng.randrange(0, 730 * 86400))
        received = now - age
        severity = pick(rng, SEVERITIES)
        category = pick(rng, CATEGORIES)
        respond_h, resolve_h = HOURS[severity]
        self.received = received
        self.response_due = received + timedelta(hours=respond_h)
        self.resolution_due = received + timedelta(hours=resolve_h)
        self.status = self._status(age)
        reached = CHAIN.index(self.status)
        at = received
        self.times: dict[str, object] = {"received": received}
        for step in CHAIN[1 : reached + 1]:
            hours = respond_h if step == "assigned" else resolve_h / 3
            at = at + timedelta(hours=hours * rng.uniform(0.2, 1.6))
            if at > now:
                at = now - timedelta(minutes=rng.randrange(1, 600))
            self.times[step] = at
        self.reopened = reached >= CHAIN.index("called_back") and rng.random() < 0.06
        self.satisfied = True if reached >= CHAIN.index("called_back") else None
        self.unit = rng.choice(units) if rng.random() < 0.85 else None
        self.category = category
        self.severity = severity
        self.customer = rng.choice(customers)
        self.receiver = rng.choice(receivers)
        self.kind = pick(rng, KINDS)
        self.work = reached > 0 and rng.random() < 0.35
        self.contractor = (
            rng.choice(contractor_ids) if self.work and rng.random() < 0.4 else None
        )
        self.department = (
            ""
            if reached == 0
            else "contractor"
            if self.contractor
            else rng.choice(["engineering", "engineering", "property"])
        )

    def _status(self, age: timedelta) -> str:
        roll = self.rng.random()
        if age > timedelta(days=20):
            if roll < 0.985:
                return "closed"
            return self.rng.choice(["called_back", "resolved", "in_progress"])
        if roll < 0.55:
            return "closed"
        return self.rng.choice(CHAIN[:5])

    def request_row(self) -> tuple:
        t = self.times
        return (
            self.id,
            self.kind,
            self.category,
            self.severity,
            self.rng.choice(CHANNELS),
            f"{TAG}{PROBLEMS[self.category]}，请尽快处理",
            self.department,
            self.status,
            ts(self.received),
            ts(self.response_due),
            ts(self.resolution_due),
            ts(t["assigned"]) if "assigned" in t else None,
            ts(t["resolved"]) if "resolved" in t else None,
            ts(t["closed"]) if "closed" in t else None,
            {True: "t", False: "f", None: None}[self.satisfied],
            "业主满意" if self.satisfied else "",
            1 if self.reopened else 0,
            ts(self.times["resolved"] + timedelta(minutes=30))
            if self.reopened
            else None,
            0,
            self.customer,
            None,
            self.receiver,
            self.unit,
        )

    def step_rows(self):
        chain = CHAIN[: CHAIN.index(self.status) + 1]
        for before, after in itertools.pairwise(chain):
            yield (
                self.id,
                before,
                after,
                self.department if after == "assigned" else "",
                self.receiver,
                "",
                ts(self.times[after]),
                "",
                "{}",
            )
        if self.reopened:
            # Not satisfied at a first callback, worked again, then satisfied.
            at = self.times["resolved"] + timedelta(minutes=30)
            yield (
                self.id,
                "resolved",
                "in_progress",
                "",
                self.receiver,
                "",
                ts(at),
                # What the system wrote is an event (crm_site.events).
                "service.owner_not_satisfied",
                "{}",
            )

    def work_order_row(self, work_id: int, created_by: int) -> tuple | None:
        if not self.work:
            return None
        kind = "contractor" if self.contractor else "department"
        resolved = self.times.get("resolved")
        assigned = self.times["assigned"]
        if resolved is not None:
            status, signed = (
                "done",
                resolved - timedelta(minutes=self.rng.randrange(10, 600)),
            )
            signed = max(signed, assigned)
        else:
            status, signed = self.rng.choice(["open", "scheduled"]), None
        appointment = assigned + timedelta(hours=self.rng.randrange(2, 72))
        return (
            work_id,
            self.id,
            f"{PROBLEMS[self.category]}上门维修",
            kind,
            "contractor" if self.contractor else "engineering",
            "",
            self.contractor,
            status,
            ts(appointment) if status != "open" else None,
            ts(self.resolution_due),
            Decimal(self.rng.randrange(100, 5000)),
            created_by,
            ts(assigned),
            ts(signed) if signed else None,
            created_by if signed else None,
            "已完工，业主签字" if signed else "",
            "",
            "",
        )


REQUEST_COLUMNS = [
    "id", "kind", "category", "severity", "channel", "description", "department",
    "status", "received_at", "response_due", "resolution_due", "responded_at",
    "resolved_at", "closed_at", "satisfied", "callback_note", "reopen_count",
    "reopened_at", "escalation_level", "customer_id", "handler_id", "receiver_id", "unit_id",
]  # fmt: skip
STEP_COLUMNS = [
    "request_id", "from_status", "to_status", "department", "actor_id", "note", "at",
    "event", "params",
]  # fmt: skip
WORK_COLUMNS = [
    "id", "request_id", "task", "assignee_kind", "department", "crew", "contractor_id",
    "status", "appointment_at", "due_at", "cost", "created_by_id", "created_at",
    "signed_off_at", "signed_off_by_id", "signoff_note", "signoff_photo",
    "cancel_reason",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--reset", action="store_true")
    args = parser.parse_args()
    common.django_setup()

    from django.db import connection
    from django.utils import timezone

    from crm_site.models import User
    from sales.models import Unit

    rng = random.Random(args.seed)
    if args.reset:
        with Step("reset (bench service rows only)"):
            reset()
    receivers = list(
        User.objects.filter(
            groups__name__in=["service_agent", "service_manager"]
        ).values_list("pk", flat=True)
    )
    if not receivers:
        sys.exit("No service users: run manage.py demo_data first.")
    with Step("sample owners and units"):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM customers_customer WHERE stage = 'owner' "
                "AND merged_into_id IS NULL LIMIT 60000"
            )
            customers = [row[0] for row in cursor.fetchall()]
        units = list(Unit.objects.values_list("pk", flat=True))
        log(f"  {len(customers):,} owners, {len(units):,} units")
    with Step("contractors and articles"):
        contractor_ids = contractors(rng)
        articles(rng, receivers[0])
    now = timezone.now()
    first = reserve_ids("service_servicerequest", args.requests)
    plans = [
        Plan(rng, now, first + n, customers, units, receivers, contractor_ids)
        for n in range(args.requests)
    ]
    with Step(f"{args.requests:,} requests"):
        copy_rows(
            "service_servicerequest", REQUEST_COLUMNS, (p.request_row() for p in plans)
        )
    with Step("steps"):
        n = copy_rows(
            "service_servicestep",
            STEP_COLUMNS,
            (row for p in plans for row in p.step_rows()),
        )
        log(f"  {n:,} steps")
    with Step("work orders"):
        working = [p for p in plans if p.work]
        start = reserve_ids("service_workorder", len(working))
        n = copy_rows(
            "service_workorder",
            WORK_COLUMNS,
            (p.work_order_row(start + i, p.receiver) for i, p in enumerate(working)),
        )
        log(f"  {n:,} work orders")
    with Step("sequences and ANALYZE"):
        for table in (
            "service_servicerequest",
            "service_servicestep",
            "service_workorder",
        ):
            sync_sequence(table)
        with connection.cursor() as cursor:
            for table in (
                "service_servicerequest",
                "service_servicestep",
                "service_workorder",
                "service_contractor",
                "service_article",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")


if __name__ == "__main__":
    main()
