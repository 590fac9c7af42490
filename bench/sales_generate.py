#!/usr/bin/env python
"""Fill the bench database with sales and ownership data (issues 4 and 5).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anju_bench \\
        .venv/bin/python bench/sales_generate.py --reset

Runs on a database already filled by bench/generate.py (1,000,000 customers) with
the demo users. Creates:

- the project "安居·基准" (the demo team 一组 sells it) with ProtectionRule v1;
- the building "基准1号楼" (33 floors × 8 units) and 18 more of the same size,
  ~5,000 units, through sales.services.building_generate;
- ~200 consultants bench_c001… in team 一组 (password demo-pass-2026);
- 100,000 customers due for a follow-up today or overdue (id % 10 = 0), spread over
  the bench consultants, consultant and consultant2; other due dates move to the
  future;
- 300,000 deals (COPY), ~1.7 stage changes each over 12 months, units, holds,
  payment plans and receipts for the reserved+ deals (one live deal per unit);
- one registration per customer (COPY), ~5 % already past protection (the sweep
  lapses them), ~4 % ending within 3 days.

--reset removes the sales rows of the bench project first (deals and everything
hanging off them, registrations, ownership events, rules, buildings, the project). It
stops before deleting anything when other apps' rows hang off the project (service
requests, handovers, surveys, campaigns, referrals): run service_generate.py --reset
first, or start from a new database.
Prints the time of each step, VACUUMs the customers (every row rewritten) and ANALYZEs
the tables at the end. Only bench/ helpers and the application's services are used;
the script edits no app code.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

PROJECT_NAME = "安居·基准"
GRID_BUILDING = "基准1号楼"
EXTRA_BUILDINGS = 18
FLOORS = 33
UNITS_PER_FLOOR = 8
LAYOUTS = [
    "三室两厅",
    "两室两厅",
    "两室一厅",
    "三室两厅",
    "三室两厅",
    "两室一厅",
    "两室两厅",
    "四室两厅",
]
AREAS = ["128.50", "96.20", "89.70", "118.00", "121.30", "88.40", "99.10", "143.60"]
BENCH_CONSULTANTS = 200
PASSWORD = "demo-pass-2026"
CHUNK = 50_000
# Deals holding a unit (reserved with an active hold, subscribed, contracted, paid).
UNIT_STAGES = {"reserved": 600, "subscribed": 1200, "contracted": 1500, "paid": 1400}
# The rest, by share.
OTHER_STAGES = [("new", 0.22), ("contacted", 0.24), ("visited", 0.22), ("lost", 0.32)]
LOST_REASONS = [
    "price",
    "competitor",
    "location",
    "product",
    "financing",
    "no_response",
]


def log(message: str) -> None:
    print(message, flush=True)


class Step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        self.started = time.monotonic()
        log(f"- {self.name} …")
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            log(f"  {self.name}: {time.monotonic() - self.started:.1f} s")


def ts(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY an iterable of tuples (None → NULL) in chunks, one transaction each."""
    from django.db import connection, transaction

    count = 0
    buffer = io.StringIO()

    def flush() -> None:
        buffer.seek(0)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)",
                buffer,
            )
        buffer.seek(0)
        buffer.truncate()

    pending = 0
    for row in rows:
        buffer.write(
            "\t".join("\\N" if v is None else common.copy_escape(str(v)) for v in row)
            + "\n"
        )
        pending += 1
        count += 1
        if pending >= CHUNK:
            flush()
            pending = 0
    if pending:
        flush()
    return count


def next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]


def sync_sequence(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
        )


def scalar(query: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]


def sql(statement: str, params=None) -> int:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def reset() -> None:
    from sales.models import Project

    project = Project.objects.filter(name=PROJECT_NAME).first()
    if project is None:
        log("  nothing to reset (no bench project)")
        return
    p = project.pk
    opp = f"SELECT id FROM sales_opportunity WHERE project_id = {p}"
    units = f"SELECT u.id FROM sales_unit u JOIN sales_building b ON b.id = u.building_id WHERE b.project_id = {p}"
    # Other apps' rows that must not vanish with a bench reset (and that a DELETE here
    # would trip over): say so and stop, rather than fail half-way.
    others = [
        ("service requests", f"SELECT count(*) FROM service_servicerequest WHERE unit_id IN ({units})"),
        ("handover batches", f"SELECT count(*) FROM service_handoverbatch WHERE building_id IN (SELECT id FROM sales_building WHERE project_id = {p})"),
        ("handover appointments", f"SELECT count(*) FROM service_handoverappointment WHERE unit_id IN ({units})"),
        ("survey invitations", f"SELECT count(*) FROM service_surveyinvitation WHERE project_id = {p}"),
        ("survey answers", f"SELECT count(*) FROM service_surveyresponse WHERE project_id = {p}"),
        ("campaigns", f"SELECT count(*) FROM marketing_campaign WHERE project_id = {p}"),
        ("partner registrations", f"SELECT count(*) FROM marketing_partnerregistration WHERE project_id = {p}"),
        ("referrals", f"SELECT count(*) FROM marketing_referral WHERE project_id = {p}"),
    ]  # fmt: skip
    blocking = [(label, n) for label, query in others if (n := scalar(query))]
    if blocking:
        listed = ", ".join(f"{n:,} {label}" for label, n in blocking)
        raise SystemExit(
            f"The bench project has rows of other apps ({listed}). Run "
            "bench/service_generate.py --reset first for the service rows, or start "
            "from a new database."
        )
    statements = [
        ("receipts", f"DELETE FROM sales_receipt WHERE item_id IN (SELECT id FROM sales_paymentitem WHERE opportunity_id IN ({opp}))"),
        ("payment items", f"DELETE FROM sales_paymentitem WHERE opportunity_id IN ({opp})"),
        ("discount requests", f"DELETE FROM sales_discountrequest WHERE opportunity_id IN ({opp})"),
        ("deal changes", f"DELETE FROM sales_dealchange WHERE opportunity_id IN ({opp})"),
        ("unit holds", f"DELETE FROM sales_unithold WHERE opportunity_id IN ({opp})"),
        ("stage changes", f"DELETE FROM sales_stagechange WHERE opportunity_id IN ({opp})"),
        ("co-buyers", f"DELETE FROM sales_cobuyer WHERE opportunity_id IN ({opp})"),
        ("deals", f"DELETE FROM sales_opportunity WHERE project_id = {p}"),
        ("ownership events", f"DELETE FROM sales_ownershipevent WHERE project_id = {p}"),
        ("registrations", f"DELETE FROM sales_registration WHERE project_id = {p}"),
        ("rules", f"DELETE FROM sales_protectionrule WHERE project_id = {p}"),
        ("price changes", f"DELETE FROM sales_pricechange WHERE unit_id IN (SELECT u.id FROM sales_unit u JOIN sales_building b ON b.id = u.building_id WHERE b.project_id = {p})"),
        ("units", f"DELETE FROM sales_unit WHERE building_id IN (SELECT id FROM sales_building WHERE project_id = {p})"),
        ("buildings", f"DELETE FROM sales_building WHERE project_id = {p}"),
        ("project teams", f"DELETE FROM sales_project_teams WHERE project_id = {p}"),
        ("targets", f"DELETE FROM crm_site_target WHERE project_id = {p}"),
        ("project", f"DELETE FROM sales_project WHERE id = {p}"),
    ]  # fmt: skip
    for label, statement in statements:
        started = time.monotonic()
        n = sql(statement)
        log(f"  {label}: {n:,} rows ({time.monotonic() - started:.1f} s)")


def create_inventory(admin, team):
    from sales.models import Project, ProtectionRule
    from sales.services import building_generate

    project = Project.objects.create(
        name=PROJECT_NAME, city="苏州", address="基准路 1 号", hold_days=3
    )
    project.teams.add(team)
    ProtectionRule.objects.create(project=project, version=1, created_by=admin)
    names = [GRID_BUILDING] + [f"基准{n}号楼" for n in range(2, EXTRA_BUILDINGS + 2)]
    buildings = []
    for i, name in enumerate(names):
        buildings.append(
            building_generate(
                actor=admin,
                project=project,
                name=name,
                floors=FLOORS,
                units_per_floor=UNITS_PER_FLOOR,
                skipped_floors=[4, 14],
                layouts=LAYOUTS,
                gross_areas=[Decimal(a) for a in AREAS],
                base_price=Decimal(18000 + 400 * (i % 7)),
                floor_increment=Decimal("120"),
            )
        )
    return project, buildings


def create_consultants(team) -> list[int]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from crm_site.models import User
    from crm_site.roles import Role

    group = Group.objects.get(name=Role.CONSULTANT.value)
    hashed = make_password(PASSWORD)
    names = [f"bench_c{n:03d}" for n in range(1, BENCH_CONSULTANTS + 1)]
    existing = set(
        User.objects.filter(username__in=names).values_list("username", flat=True)
    )
    User.objects.bulk_create(
        [
            User(
                username=name,
                password=hashed,
                first_name=name[-3:],
                last_name="基准",
                email=f"{name}@bench.invalid",
                team=team,
            )
            for name in names
            if name not in existing
        ]
    )
    users = list(User.objects.filter(username__in=names).order_by("username"))
    User.objects.filter(pk__in=[u.pk for u in users]).update(team=team, is_active=True)
    group.user_set.add(*users)
    return [u.pk for u in users]


def assign_follow_ups(bench_ids: list[int], consultant_id: int, consultant2_id: int):
    """Customers with id % 10 = 0 are due today or overdue (by up to 19 days), owned
    round-robin by the bench consultants, consultant and consultant2; every other
    due date moves to the future, so exactly those ~100,000 are due."""
    owners = [*bench_ids, consultant_id, consultant2_id]
    n = len(owners)
    owner_case = " ".join(f"WHEN {i} THEN {pk}" for i, pk in enumerate(owners))
    moved = sql(
        "UPDATE customers_customer SET next_follow_up = CURRENT_DATE + 1 + (id % 60)::int "
        "WHERE id % 10 <> 0 AND next_follow_up <= CURRENT_DATE"
    )
    log(f"  {moved:,} other due dates moved to the future")
    due = sql(
        f"UPDATE customers_customer SET "
        f"next_follow_up = CURRENT_DATE - ((id / 10) % 20)::int, "
        f"assigned_consultant_id = CASE ((id / 10) % {n}) {owner_case} END "
        f"WHERE id % 10 = 0 AND merged_into_id IS NULL AND ("
        f"next_follow_up IS DISTINCT FROM CURRENT_DATE - ((id / 10) % 20)::int OR "
        f"assigned_consultant_id IS DISTINCT FROM CASE ((id / 10) % {n}) {owner_case} END)"
    )
    log(f"  {due:,} customers due today or overdue (re)assigned")


def fetch_customers() -> list[tuple[int, int | None]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, assigned_consultant_id FROM customers_customer "
            "WHERE merged_into_id IS NULL ORDER BY id"
        )
        return cursor.fetchall()


def create_deals(rng, project, buildings, customers, demo_ids, deals_total, now):
    """Deals, stage changes, holds, payment items and receipts (all COPY)."""
    from sales.models import Unit

    # Customers owned by a consultant (a deal's consultant is the owner); ~90 %
    # from consultant/consultant2, the rest from the bench consultants.
    demo = [c for c in customers if c[1] in demo_ids and c[0] % 10]
    others = [c for c in customers if c[1] is not None and c[1] not in demo_ids]
    n_other = min(len(others), deals_total // 10)
    chosen = rng.sample(demo, min(len(demo), deals_total - n_other)) + rng.sample(
        others, n_other
    )
    rng.shuffle(chosen)
    units = list(
        Unit.objects.filter(building__in=buildings[1:])
        .order_by("id")
        .values_list("id", "list_price")
    )
    rng.shuffle(units)
    stages: list[str] = []
    for stage, count in UNIT_STAGES.items():
        stages += [stage] * count
    rest = len(chosen) - len(stages)
    for stage, share in OTHER_STAGES:
        stages += [stage] * int(rest * share)
    stages += ["new"] * (len(chosen) - len(stages))
    rng.shuffle(stages)
    if sum(UNIT_STAGES.values()) > len(units):
        raise SystemExit("not enough units for the reserved+ deals")

    opp_id = next_id("sales_opportunity")
    sc_rows, hold_rows, item_rows, receipt_rows = [], [], [], []
    unit_status: dict[int, str] = {}
    unit_iter = iter(units)
    item_id = next_id("sales_paymentitem")
    year = 365 * 86400

    def path(stage: str) -> list[str]:
        if stage == "new":
            return []
        if stage == "contacted":
            return ["contacted"]
        if stage == "visited":
            return ["contacted", "visited"]
        if stage == "reserved":
            return ["visited", "reserved"]
        if stage == "subscribed":
            return ["visited", "reserved", "subscribed"]
        if stage == "contracted":
            return ["reserved", "subscribed", "contracted"]
        if stage == "paid":
            return ["subscribed", "contracted", "paid"]
        r = rng.random()  # lost
        if r < 0.12:
            return ["visited", "reserved", "lost"]
        if r < 0.15:
            return ["reserved", "subscribed", "lost"]
        return ["contacted", "visited", "lost"]

    def deal_rows():
        nonlocal opp_id, item_id
        for (customer_id, owner), stage in zip(chosen, stages, strict=True):
            consultant_id = owner
            created = now - timedelta(seconds=rng.random() * year)
            steps = path(stage)
            at = created
            previous = "new"
            room = (now - created).total_seconds()
            for to_stage in steps:
                at = at + timedelta(seconds=rng.random() * room / (len(steps) + 1))
                sc_rows.append(
                    (opp_id, previous, to_stage, consultant_id, ts(at), "", "", "{}")
                )
                previous = to_stage
            unit_id = agreed = None
            lost_reason = ""
            if stage in UNIT_STAGES:
                unit_id, price = next(unit_iter)
                if stage == "reserved":
                    unit_status[unit_id] = "reserved"
                    hold_rows.append(
                        (unit_id, opp_id, consultant_id, ts(now - timedelta(hours=rng.randint(1, 48))),
                         ts(now + timedelta(hours=rng.randint(2, 70))), "active")
                    )  # fmt: skip
                else:
                    unit_status[unit_id] = (
                        "subscribed" if stage == "subscribed" else "contracted"
                    )
                    discount = Decimal(rng.choice(["0", "0", "1", "1.5", "2"]))
                    agreed = (price * (100 - discount) / 100).quantize(Decimal("1"))
                    deposit = Decimal("20000")
                    down = (agreed * Decimal("0.3")).quantize(Decimal("1")) - deposit
                    mortgage = agreed - deposit - down
                    day = at.date()
                    plan = [
                        ("deposit", day, deposit, True),
                        ("down_payment", day + timedelta(days=30), down, stage != "subscribed"),
                        ("mortgage", day + timedelta(days=90), mortgage, stage == "paid"),
                    ]  # fmt: skip
                    for seq, (kind, due, amount, got) in enumerate(plan, start=1):
                        item_rows.append(
                            (
                                item_id,
                                opp_id,
                                seq,
                                kind,
                                due,
                                amount,
                                amount if got else 0,
                            )
                        )
                        if got:
                            receipt_rows.append(
                                (item_id, amount, due, rng.choice(["transfer", "pos", "bank_loan"]),
                                 f"BENCH-{item_id}", consultant_id, ts(now))
                            )  # fmt: skip
                        item_id += 1
            elif stage == "lost":
                lost_reason = rng.choice(LOST_REASONS)
            yield (
                opp_id, customer_id, project.pk, unit_id, consultant_id, stage,
                lost_reason, "", agreed, "0", ts(created), ts(at), "",
            )  # fmt: skip
            opp_id += 1

    with Step(f"COPY {len(chosen):,} deals"):
        n = copy_rows(
            "sales_opportunity",
            ["id", "customer_id", "project_id", "unit_id", "consultant_id", "stage",
             "lost_reason", "lost_note", "agreed_price", "discount_percent",
             "created_at", "stage_changed_at", "buyer_name"],
            deal_rows(),
        )  # fmt: skip
        sync_sequence("sales_opportunity")
        log(f"  {n:,} deals")
    with Step(f"COPY {len(sc_rows):,} stage changes"):
        copy_rows(
            "sales_stagechange",
            ["opportunity_id", "from_stage", "to_stage", "changed_by_id", "changed_at", "note",
             "event", "params"],
            sc_rows,
        )  # fmt: skip
    with Step(
        f"COPY {len(hold_rows):,} holds, {len(item_rows):,} payment items, "
        f"{len(receipt_rows):,} receipts; unit statuses"
    ):
        copy_rows(
            "sales_unithold",
            ["unit_id", "opportunity_id", "held_by_id", "held_at", "held_until", "status"],
            hold_rows,
        )  # fmt: skip
        copy_rows(
            "sales_paymentitem",
            ["id", "opportunity_id", "sequence", "kind", "due_date", "amount", "received"],
            item_rows,
        )  # fmt: skip
        sync_sequence("sales_paymentitem")
        copy_rows(
            "sales_receipt",
            ["item_id", "amount", "received_on", "method", "reference", "recorded_by_id", "recorded_at"],
            receipt_rows,
        )  # fmt: skip
        for status in ("reserved", "subscribed", "contracted"):
            ids = [u for u, s in unit_status.items() if s == status]
            if ids:
                sql(
                    "UPDATE sales_unit SET status = %s, status_changed_at = now() "
                    "WHERE id = ANY(%s)",
                    [status, ids],
                )


def create_registrations(rng, project, rule_id, customers, demo_ids, now) -> dict:
    """One protected registration per customer at the bench project."""
    counts = {"past_due": 0, "within_3_days": 0, "later": 0}
    demo = sorted(demo_ids)

    def rows():
        for customer_id, owner in customers:
            consultant_id = (
                owner if owner is not None else demo[customer_id % len(demo)]
            )
            h = (customer_id * 2654435761) % 1000
            if h < 50:
                until = now - timedelta(hours=rng.randint(1, 240))
                counts["past_due"] += 1
            elif h < 90:
                until = now + timedelta(hours=rng.randint(1, 71))
                counts["within_3_days"] += 1
            else:
                until = now + timedelta(days=rng.randint(4, 60))
                counts["later"] += 1
            basis = "visit" if h % 3 == 0 else "call"
            registered = until - timedelta(days=7 if basis == "visit" else 15)
            yield (
                customer_id, project.pk, consultant_id, rule_id, basis, "protected",
                ts(registered), ts(until),
            )  # fmt: skip

    copy_rows(
        "sales_registration",
        ["customer_id", "project_id", "consultant_id", "rule_id", "basis", "status",
         "registered_at", "protected_until"],
        rows(),
    )  # fmt: skip
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reset", action="store_true", help="remove earlier bench sales data first"
    )
    parser.add_argument("--deals", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    common.django_setup()

    from django.db import connection
    from django.utils import timezone

    from crm_site.models import User
    from sales.models import Project

    rng = random.Random(args.seed)
    total = time.monotonic()
    users = {u.username: u for u in User.objects.filter(
        username__in=["consultant", "consultant2", "sales_manager", "admin"])}  # fmt: skip
    missing = {"consultant", "consultant2", "sales_manager", "admin"} - set(users)
    if missing:
        log(f"Missing demo users {sorted(missing)}: run manage.py demo_data first.")
        return 2
    team = users["consultant"].team
    if team is None:
        log("The demo user consultant has no team.")
        return 2
    log(f"Database {connection.settings_dict['NAME']}, team {team.name}")

    if args.reset:
        with Step("reset"):
            reset()
    elif Project.objects.filter(name=PROJECT_NAME).exists():
        log(f"The project {PROJECT_NAME} exists: use --reset.")
        return 2

    now = timezone.now()
    with Step("project, rule v1, 19 buildings via building_generate"):
        project, buildings = create_inventory(users["admin"], team)
        log(
            f"  {GRID_BUILDING}: id {buildings[0].pk} ({buildings[0].units.count()} units)"
        )
    with Step(f"{BENCH_CONSULTANTS} bench consultants"):
        bench_ids = create_consultants(team)
    with Step("follow-ups: id % 10 = 0 due today or overdue"):
        assign_follow_ups(bench_ids, users["consultant"].pk, users["consultant2"].pk)
    with Step("read customers"):
        customers = fetch_customers()
        log(f"  {len(customers):,} live customers")
    demo_ids = {users["consultant"].pk, users["consultant2"].pk}
    create_deals(rng, project, buildings, customers, demo_ids, args.deals, now)
    with Step(f"COPY {len(customers):,} registrations"):
        rule_id = project.protection_rules.get(version=1).pk
        counts = create_registrations(rng, project, rule_id, customers, demo_ids, now)
        log(
            f"  past due {counts['past_due']:,}, within 3 days "
            f"{counts['within_3_days']:,}, later {counts['later']:,}"
        )
    with Step("VACUUM and ANALYZE"), connection.cursor() as cursor:
        # Every customer row was rewritten above (next follow-up, stage): without a
        # VACUUM the name search's bigram GIN index keeps a dead entry for each old
        # row (周冬: 9 ms instead of 1 ms) until autovacuum comes by.
        cursor.execute("VACUUM ANALYZE customers_customer")
        for table in (
            "sales_opportunity", "sales_stagechange",
            "sales_registration", "sales_unit", "sales_unithold",
            "sales_paymentitem", "sales_receipt", "sales_building",
            "crm_site_user", "sales_ownershipevent",
        ):  # fmt: skip
            cursor.execute(f"ANALYZE {table}")
    log(
        f"\nDone in {time.monotonic() - total:.1f} s. Grid building "
        f"{GRID_BUILDING} id {buildings[0].pk}: /sales/buildings/{buildings[0].pk}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
