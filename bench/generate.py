#!/usr/bin/env python
"""Fill the database with a large, realistic customer base for benchmarking.

    DATABASE_URL=postgres://... python bench/generate.py --reset
    python bench/generate.py --customers 20000 --interactions 100000 --reset

Customers and interactions are generated in Python and streamed into PostgreSQL with
COPY FROM STDIN in chunks; indexes stay in place (as in production). At the end the
tables are vacuumed and analysed, and bench/out/sample.json records sample phones,
names and the "heavy" customer (exactly --heavy-customer-interactions interactions)
that bench/load.py and bench/explain.py use.

Needs the demo users (`manage.py demo_data`): customers are spread over the demo
consultants `consultant` and `consultant2` and the public pool.
"""

from __future__ import annotations

import argparse
import io
import json
import queue
import random
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

REFUSE_ABOVE = 1000

CUSTOMER_COLUMNS = [
    "id",
    "name",
    "kind",
    "mobile",
    "email",
    "gender",
    "source",
    "stage",
    "notes",
    "created_at",
    "updated_at",
    "assigned_consultant_id",
    "created_by_id",
    "address",
    "company",
    "consent_email",
    "consent_phone",
    "consent_service",
    "consent_sms",
    "household_role",
    "id_number",
    "id_number_hash",
    "id_type",
    "last_contact_at",
    "merged_into_id",
    "name_initials",
    "name_pinyin",
    "next_follow_up",
    "preferred_channel",
    "household_id",
]
INTERACTION_COLUMNS = [
    "customer_id",
    "kind",
    "channel",
    "summary",
    "event",
    "params",
    "occurred_at",
    "created_by_id",
    "link_type_id",
    "link_id",
    "link_label",
    "next_follow_up",
    "created_at",
]

# (value, weight)
STAGES = [("prospect", 70), ("buyer", 12), ("owner", 18)]
SOURCES = [
    ("walk_in", 25),
    ("phone", 20),
    ("wechat", 15),
    ("web", 12),
    ("event", 8),
    ("referral", 8),
    ("broker", 7),
    ("advertising", 3),
    ("other", 2),
]
PREFERRED = [("", 50), ("phone", 20), ("wechat", 25), ("sms", 5)]

# kind, channel, weight, summaries
TOUCHES = [
    ("visit", "face_to_face", 14, [
        "到案场看样板间，关注三居室，预算300万左右。",
        "带家人二次到访，详细了解付款方式和交房时间。",
        "到访售楼处，咨询两居室和车位。",
        "陪同父母看房，对小区绿化很满意。",
    ]),
    ("call_in", "phone", 14, [
        "来电咨询学区划分和周边配套。",
        "来电询问贷款利率和首付比例。",
        "来电问交房进度。",
    ]),
    ("call_out", "phone", 22, [
        "回访客户，约周末到访。",
        "通知认筹活动时间，客户表示有兴趣。",
        "电话跟进，客户还在比较其他楼盘。",
        "提醒客户补交签约材料。",
    ]),
    ("wechat", "wechat", 20, [
        "微信发送户型图和价格表。",
        "客户微信询问车位价格。",
        "微信发送工程进度照片。",
    ]),
    ("sms", "sms", 8, ["短信通知开盘时间。", "短信提醒缴纳物业费。"]),
    ("email", "email", 2, ["邮件发送购房合同扫描件。"]),
    ("event", "face_to_face", 6, ["参加周末暖场活动，现场抽奖。", "参加业主答谢会。"]),
    ("complaint", "phone", 3, [
        "投诉楼上漏水，已派维修。",
        "反映小区停车位不足。",
        "投诉装修噪音，已协调。",
    ]),
    ("survey", "web", 3, ["满意度回访：对物业服务满意。", "交付满意度调查：一般。"]),
    ("note", "", 8, ["客户对楼层有要求，希望10层以上。", "客户预算有限，关注小户型。"]),
]  # fmt: skip

ADDRESS_DISTRICTS = ["西湖区", "滨江区", "拱墅区", "上城区", "余杭区", "萧山区"]
ADDRESS_ROADS = ["文一西路", "江南大道", "莫干山路", "解放路", "五常大道", "市心中路"]


def weighted(pairs: list[tuple[str, int]], size: int = 1000) -> list[str]:
    """A lookup list: rng.choice over it draws with the given weights."""
    total = sum(w for _, w in pairs)
    out: list[str] = []
    for value, weight in pairs:
        out += [value] * round(size * weight / total)
    return out


class Stamps:
    """Fast 'YYYY-MM-DD HH:MM:SS+00' strings from epoch seconds, without datetime."""

    def __init__(self, start: datetime, days: int) -> None:
        self.start = int(start.timestamp())
        self.days = [
            (start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days + 2)
        ]

    def ts(self, epoch: float) -> str:
        seconds = int(epoch) - self.start
        day, rest = divmod(seconds, 86400)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        return f"{self.days[day]} {hour:02d}:{minute:02d}:{second:02d}+00"

    def date(self, epoch: float) -> str:
        return self.days[(int(epoch) - self.start) // 86400]


def log(message: str) -> None:
    print(message, flush=True)


def copy_chunk(connection, table: str, columns: list[str], buffer: io.StringIO) -> None:
    buffer.seek(0)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg2 cursor under Django's wrapper
        raw.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)",
            buffer,
        )


def stream(connection, table: str, columns: list[str], chunks: Iterator) -> float:
    """COPY the chunks into the table, one transaction each, while a thread
    generates the next chunk (Python and PostgreSQL work on both cores)."""
    from django.db import transaction

    ready: queue.Queue = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            for chunk in chunks:
                ready.put(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            ready.put(exc)
        else:
            ready.put(None)

    threading.Thread(target=produce, daemon=True).start()
    started = time.monotonic()
    rows = 0
    while (chunk := ready.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        size = chunk.getvalue().count("\n")
        with transaction.atomic():
            copy_chunk(connection, table, columns, chunk)
        rows += size
        elapsed = time.monotonic() - started
        log(f"  {rows:>10,} rows  {elapsed:7.1f} s  {rows / elapsed:9,.0f} rows/s")
    elapsed = time.monotonic() - started
    log(
        f"{table}: {rows:,} rows in {elapsed:.1f} s "
        f"({rows / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    return elapsed


def check_columns(connection, table: str, columns: list[str]) -> None:
    """Refuse to run if the table gained a NOT NULL column without default we don't fill."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s
              AND is_nullable = 'NO' AND column_default IS NULL
              AND is_identity = 'NO'
            """,
            [table],
        )
        required = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        existing = {row[0] for row in cursor.fetchall()}
    missing = required - set(columns)
    unknown = set(columns) - existing
    if missing or unknown:
        sys.exit(
            f"{table} does not match this generator: not filled {sorted(missing)}, "
            f"no longer in the table {sorted(unknown)}. Update bench/generate.py."
        )


def referencing_tables(connection, table: str) -> set[str]:
    """Every table that references `table`, directly or through others."""
    found: set[str] = set()
    todo = [table]
    with connection.cursor() as cursor:
        while todo:
            cursor.execute(
                """
                SELECT DISTINCT c.conrelid::regclass::text FROM pg_constraint c
                WHERE c.contype = 'f' AND c.confrelid = %s::regclass
                """,
                [todo.pop()],
            )
            for (name,) in cursor.fetchall():
                if name not in found and name != table:
                    found.add(name)
                    todo.append(name)
    return found


def reset(connection) -> None:
    from django.core.management import call_command

    cascade = sorted(referencing_tables(connection, "customers_customer"))
    others = [t for t in cascade if not t.startswith("customers_")]
    log(
        "Emptying customers_customer, customers_interaction and the customer tables "
        f"that reference them ({', '.join(t for t in cascade if t not in others)})."
    )
    if others:
        log(
            "  Tables of other apps reference customers and are emptied with them: "
            f"{', '.join(others)}. The demo data (demo customers and their sales "
            "records) is reloaded afterwards with manage.py demo_data."
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE customers_interaction, customers_customer, "
            + ", ".join(cascade)
            + " RESTART IDENTITY"
        )
    started = time.monotonic()
    call_command("demo_data", stdout=io.StringIO())
    log(f"  demo data reloaded in {time.monotonic() - started:.1f} s")


def demo_users():
    from crm_site.models import User

    wanted = ["consultant", "consultant2", "service_agent"]
    users = {u.username: u for u in User.objects.filter(username__in=wanted)}
    missing = [name for name in wanted if name not in users]
    if missing:
        sys.exit(
            f"Demo users missing ({', '.join(missing)}). Run first:\n"
            "  python manage.py demo_data"
        )
    return users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--heavy-customer-interactions", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per COPY")
    parser.add_argument("--years", type=float, default=3.0, help="span of created_at")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--reset",
        action="store_true",
        help="empty the customer tables first (then reload the demo data)",
    )
    group.add_argument(
        "--append",
        action="store_true",
        help=f"add to a table that already has more than {REFUSE_ABOVE} customers",
    )
    parser.add_argument(
        "--no-vacuum", action="store_true", help="only ANALYZE at the end"
    )
    parser.add_argument(
        "--sample-file",
        type=lambda p: Path(p).resolve(),
        default=common.SAMPLE_FILE,
        help="where to write the samples for load.py and explain.py",
    )
    args = parser.parse_args()
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    if args.interactions < args.heavy_customer_interactions:
        parser.error("--interactions must be at least --heavy-customer-interactions")

    common.django_setup()
    from django.db import connection

    from customers.models import Customer
    from customers.sample_data import (
        MOBILE_PREFIXES,
        chinese_name,
        company_name,
    )
    from customers.search import pinyin_keys

    settings_db = connection.settings_dict
    log(
        f"Database {settings_db['NAME']} on {settings_db['HOST']}:{settings_db['PORT']}"
    )
    check_columns(connection, "customers_customer", CUSTOMER_COLUMNS)
    check_columns(connection, "customers_interaction", INTERACTION_COLUMNS)

    if args.reset:
        reset(connection)
    existing = Customer.objects.count()
    if existing > REFUSE_ABOVE and not args.append:
        sys.exit(
            f"customers_customer already has {existing} rows. Use --reset to start "
            "again or --append to add to them."
        )
    users = demo_users()
    consultants = [users["consultant"].pk, users["consultant2"].pk]
    service_agent = users["service_agent"].pk

    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    span_days = int(args.years * 365)
    first_day = (now - timedelta(days=span_days + 1)).replace(
        hour=0, minute=0, second=0
    )
    stamps = Stamps(first_day, span_days + 400)
    now_epoch = now.timestamp()
    span_seconds = args.years * 365 * 86400
    today = now_epoch

    # Numbers already in use (demo customers draw theirs at random): never repeat one.
    taken = set(Customer.objects.live().values_list("mobile", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM customers_customer")
        first_id = cursor.fetchone()[0] + 1
    # In --append mode continue the permutation after the rows already there.
    mobile_index = existing if args.append else 0

    stage_pick = weighted(STAGES)
    source_pick = weighted(SOURCES)
    preferred_pick = weighted(PREFERRED)
    keys_cache: dict[str, tuple[str, str]] = {}
    esc = common.copy_escape

    n = args.customers
    heavy_index = n // 2
    heavy_id = first_id + heavy_index
    created_epochs = array("d", bytes(8 * n))
    owner_of = array("q", bytes(8 * n))

    sample: dict[str, list] = {
        "phones": [],
        "names": [],
        "initials": [],
        "pinyin": [],
        "customer_ids": [],
    }
    sample_every = max(1, n // 400)

    # ---------------------------------------------------------------- customers
    def customer_chunks():
        nonlocal mobile_index
        done = 0
        while done < n:
            size = min(args.chunk, n - done)
            buf = io.StringIO()
            write = buf.write
            for i in range(done, done + size):
                cid = first_id + i
                is_company = rng.random() < 0.05
                name = company_name(rng) if is_company else chinese_name(rng)
                keys = keys_cache.get(name)
                if keys is None:
                    full, initials = pinyin_keys(name)
                    keys = keys_cache[name] = (esc(full), esc(initials))
                while True:
                    mobile = common.mobile_for_index(
                        mobile_index, prefixes=MOBILE_PREFIXES, seed=args.seed
                    )
                    mobile_index += 1
                    if mobile not in taken:
                        break
                # Skewed towards recent years: a growing customer base.
                created = now_epoch - span_seconds * (rng.random() ** 1.5) - 60
                created_epochs[i] = created
                updated = created + (now_epoch - created) * rng.random()
                draw = rng.random()
                owner = (
                    consultants[0]
                    if draw < 0.45
                    else consultants[1]
                    if draw < 0.85
                    else None
                )
                if i == heavy_index:
                    owner = consultants[0]
                owner_of[i] = owner or 0
                stage = stage_pick[rng.randrange(1000)]
                last_contact = (
                    stamps.ts(created + (now_epoch - created) * rng.random())
                    if rng.random() < 0.7
                    else "\\N"
                )
                follow_up = (
                    stamps.date(today + rng.randrange(-30, 31) * 86400)
                    if stage == "prospect" and rng.random() < 0.2
                    else "\\N"
                )
                address = (
                    f"杭州市{rng.choice(ADDRESS_DISTRICTS)}{rng.choice(ADDRESS_ROADS)}"
                    f"{rng.randrange(1, 999)}号"
                    if rng.random() < 0.3
                    else ""
                )
                write(
                    "\t".join(
                        (
                            str(cid),
                            esc(name),
                            "company" if is_company else "person",
                            mobile,
                            "",  # email
                            ""
                            if is_company
                            else ("female", "male")[rng.random() < 0.5],
                            source_pick[rng.randrange(1000)],
                            stage,
                            "",  # notes
                            stamps.ts(created),
                            stamps.ts(updated),
                            str(owner) if owner else "\\N",
                            str(owner or consultants[0]),  # created_by
                            address,
                            "",  # company
                            "t" if rng.random() < 0.4 else "f",  # consent_email
                            "t" if rng.random() < 0.5 else "f",  # consent_phone
                            "t",  # consent_service
                            "t" if rng.random() < 0.6 else "f",  # consent_sms
                            "",  # household_role
                            "",  # id_number
                            "",  # id_number_hash
                            "",  # id_type
                            last_contact,
                            "\\N",  # merged_into
                            keys[1],
                            keys[0],
                            follow_up,
                            preferred_pick[rng.randrange(1000)],
                            "\\N",  # household
                        )
                    )
                )
                write("\n")
                if i % sample_every == 0 and owner is not None:
                    _add_sample(sample, cid, name, mobile)
            done += size
            yield buf

    log(f"Customers: {n:,} from id {first_id} (chunks of {args.chunk:,})")
    customer_seconds = stream(
        connection, "customers_customer", CUSTOMER_COLUMNS, customer_chunks()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'),"
            " (SELECT max(id) FROM customers_customer))"
        )
    log(f"  ({len(keys_cache):,} distinct names)")

    # ------------------------------------------------------------- interactions
    total = args.interactions
    heavy_count = args.heavy_customer_interactions
    heavy_positions = set(rng.sample(range(total), heavy_count))
    touches = []
    for kind, channel, weight, summaries in TOUCHES:
        touches += [(kind, channel, [esc(s) for s in summaries])] * weight
    hot = max(1, n // 20)  # 5% of customers get a fifth of the timeline entries

    def interaction_chunks():
        done = 0
        while done < total:
            size = min(args.chunk, total - done)
            buf = io.StringIO()
            write = buf.write
            for position in range(done, done + size):
                if position in heavy_positions:
                    index = heavy_index
                else:
                    index = (
                        rng.randrange(hot) * 20
                        if rng.random() < 0.2
                        else rng.randrange(n)
                    )
                    if index == heavy_index:
                        index = (index + 1) % n
                created = created_epochs[index]
                occurred = created + (now_epoch - created) * rng.random()
                kind, channel, summaries = touches[rng.randrange(len(touches))]
                owner = owner_of[index]
                if kind in ("complaint", "survey") or not owner:
                    by = (
                        service_agent
                        if kind in ("complaint", "survey")
                        else consultants[0]
                    )
                else:
                    by = owner
                stamp = stamps.ts(occurred)
                write(
                    "\t".join(
                        (
                            str(first_id + index),
                            kind,
                            channel,
                            summaries[rng.randrange(len(summaries))],
                            # What people wrote: no system event.
                            "",
                            "{}",
                            stamp,
                            str(by),
                            "\\N",
                            "\\N",
                            "",
                            stamps.date(occurred + rng.randrange(1, 15) * 86400)
                            if rng.random() < 0.05
                            else "\\N",
                            stamp,
                        )
                    )
                )
                write("\n")
            done += size
            yield buf

    log(f"Interactions: {total:,} (customer {heavy_id} gets exactly {heavy_count})")
    interaction_seconds = stream(
        connection, "customers_interaction", INTERACTION_COLUMNS, interaction_chunks()
    )

    # ------------------------------------------------------------------ analyse
    started = time.monotonic()
    verb = "ANALYZE" if args.no_vacuum else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in ("customers_customer", "customers_interaction"):
            cursor.execute(f"{verb} {table}")
    analyse_seconds = time.monotonic() - started
    log(f"{verb}: {analyse_seconds:.1f} s")

    sample["heavy_customer_id"] = heavy_id
    sample["heavy_customer_interactions"] = heavy_count
    sample["customer_ids"].insert(0, heavy_id)
    sample["generated_at"] = now.isoformat()
    sample["database"] = settings_db["NAME"]
    sample["customers"] = Customer.objects.count()
    sample["seed"] = args.seed
    sample["timings"] = {
        "customers_seconds": round(customer_seconds, 1),
        "interactions_seconds": round(interaction_seconds, 1),
        "analyse_seconds": round(analyse_seconds, 1),
    }
    args.sample_file.parent.mkdir(parents=True, exist_ok=True)
    args.sample_file.write_text(json.dumps(sample, ensure_ascii=False, indent=1))
    log(
        f"Total {customer_seconds + interaction_seconds + analyse_seconds:.1f} s. "
        f"Heavy customer: {heavy_id} (/customers/{heavy_id}/). "
        f"Samples written to {args.sample_file}"
    )


def _add_sample(sample: dict[str, list], cid: int, name: str, mobile: str) -> None:
    from customers.search import looks_like_pinyin, pinyin_keys

    national = mobile[3:]
    sample["phones"].append(national)
    sample["customer_ids"].append(cid)
    if len(name) == 2:
        sample["names"].append(name)
    elif len(name) == 3:
        full, initials = pinyin_keys(name)
        sample["initials"].append(initials.split()[0])
        pinyin = full.split()[0]
        if looks_like_pinyin(pinyin):
            sample["pinyin"].append(pinyin)


if __name__ == "__main__":
    main()
