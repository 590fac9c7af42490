#!/usr/bin/env python
"""The explorer's bench (issue 17): fact rebuilds, refresh lag and pivot answer times.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anju_bench17 \\
        .venv/bin/python bench/insight_bench.py [--load] [--repeat 15] [--changes 1000]

On a database filled by generate.py (1,000,000 customers, 5,000,000 interactions),
sales_generate.py (300,000 deals) and service_generate.py (200,000 requests), it times
whatever fact tables and sources are registered (crm_site.insight), so facts added
later are benched without editing this script:

1. **Rebuild**: ``insight.rebuild`` of every fact table, one at a time (then ANALYZE).
2. **Refresh lag**: for every fact table, N live rows of each table whose trigger
   marks it (a trigger that watches only some columns is left out: a no-op update does
   not fire it) are updated in one transaction; the clock then runs until
   ``insight.refresh`` has emptied the fact's dirty queue. For interactions, N
   random interactions are also moved by a second (their trigger watches columns),
   and first N new interactions are logged today (the everyday case, one month);
   the fact's sum is checked against the live count each time. In production the refresh runs every minute (Celery beat), so the lag is at
   most one minute plus the refresh time measured here.
3. **Pivots**: ``insight.pivot(user, source, measure, dims, filters)`` for a set of
   typical pivots per source — each measure alone, by its first dimension and by its
   first two, by month; the first measure by every other dimension with several
   months ticked in the filter (the last three, every month, every other month);
   plus named ones for deals, time in stage and interactions — repeated
   ``--repeat`` times as a manager of all scope (the executive role) and as a team
   manager (the sales manager of the demo consultants' team), p50/p95 per pivot.

``--load`` fills the database first: it disables the fact triggers (``insight_dirty_*``),
runs the three generators (their COPY of millions of rows would otherwise queue a
dirty key per row), and enables the triggers again; the rebuild that follows fills
the fact tables. Results go to bench/out/insight_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

GENERATORS = [
    ["bench/generate.py", "--reset"],
    ["bench/sales_generate.py", "--reset"],
    ["bench/service_generate.py", "--reset"],
]
GOALS = {"rebuild_total_s": 600, "lag_s": 300, "pivot_p95_ms": 500}
BEAT_SECONDS = 60


def log(message: str = "") -> None:
    print(message, flush=True)


def machine() -> dict:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "load": [round(x, 2) for x in load]}


def set_triggers(enabled: bool) -> int:
    from django.db import connection

    verb = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE tgname LIKE 'insight_dirty_%%' AND NOT tgisinternal"
        )
        triggers = cursor.fetchall()
        for table, name in triggers:
            cursor.execute(f'ALTER TABLE {table} {verb} TRIGGER "{name}"')
    return len(triggers)


def load() -> None:
    n = set_triggers(False)
    log(f"Fact triggers disabled ({n}) for the bulk load.")
    try:
        for command in GENERATORS:
            started = time.monotonic()
            log(f"$ python {' '.join(command)}")
            subprocess.run([sys.executable, *command], check=True, cwd=str(common.ROOT))
            log(f"  {time.monotonic() - started:.0f} s")
    finally:
        set_triggers(True)
        log("Fact triggers enabled again; the rebuild below fills the facts.")


def live_counts() -> dict:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in (
            "customers_customer",
            "customers_interaction",
            "sales_opportunity",
            "service_servicerequest",
        ):
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [table],
            )
            row = cursor.fetchone()
            counts[table] = row[0] if row else None
    return counts


# --- 1. Rebuild ---------------------------------------------------------------------


def bench_rebuild() -> list[dict]:
    from django.db import connection

    from crm_site import insight

    results = []
    for fact in insight.facts():
        started = time.monotonic()
        rows = insight.rebuild(only=[fact.key])[fact.key]
        seconds = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {fact.table}")
        results.append({"fact": fact.key, "rows": rows, "seconds": round(seconds, 1)})
        log(f"  {fact.key:<32} {rows:>10,} rows  {seconds:7.1f} s")
    total = sum(r["seconds"] for r in results)
    log(f"  {'total':<32} {'':>10}       {total:7.1f} s (goal ≤ 600 s)")
    return results


# --- 2. Refresh lag -----------------------------------------------------------------


def fact_triggers(fact_key: str) -> list[tuple[str, str, bool]]:
    """(table, trigger, watches only some columns) of the triggers marking a fact."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgrelid::regclass::text, t.tgname, p.prosrc FROM pg_trigger t"
            " JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgname LIKE 'insight_dirty_%%' AND NOT t.tgisinternal"
            " AND t.tgenabled <> 'D'"
        )
        found = []
        for table, name, source in cursor.fetchall():
            if f"'{fact_key}'" in source:
                found.append((table, name, "IS DISTINCT FROM" in source))
    return found


def dirty(fact_key: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM crm_site_factdirty WHERE fact = %s", [fact_key]
        )
        return cursor.fetchone()[0]


def change_rows(table: str, n: int) -> int:
    """Update n random rows (a no-op SET that every row trigger still sees)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET id = id WHERE id IN"
            f" (SELECT id FROM {table} ORDER BY random() LIMIT %s)",
            [n],
        )
        return cursor.rowcount


def move_interactions(n: int) -> int:
    """n random interactions a second later (a real change: the trigger watches
    occurred_at; most stay in their month)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_interaction SET occurred_at = occurred_at"
            " + interval '1 second' WHERE id IN"
            " (SELECT id FROM customers_interaction ORDER BY random() LIMIT %s)",
            [n],
        )
        return cursor.rowcount


def insert_interactions(n: int) -> int:
    """n new interactions today, by the demo consultant, for random customers."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_interaction (customer_id, kind, channel, summary,"
            " event, params, occurred_at, created_by_id, link_label, created_at)"
            " SELECT c.id, 'call_out', 'phone', '电话跟进（基准）', '', '{}', now(),"
            " c.assigned_consultant_id, '', now()"
            " FROM customers_customer c TABLESAMPLE SYSTEM (1)"
            " WHERE c.merged_into_id IS NULL LIMIT %s",
            [n],
        )
        return cursor.rowcount


def refresh_until_clean(fact_key: str) -> tuple[float, int]:
    from crm_site import insight

    started = time.monotonic()
    keys = 0
    while True:
        done = insight.refresh(only=[fact_key])
        keys += done.get(fact_key, 0)
        if not dirty(fact_key):
            break
    return time.monotonic() - started, keys


def interactions_exact() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT coalesce(sum(interactions), 0) FROM customers_interactionfact),"
            " (SELECT count(*) FROM customers_interaction i JOIN customers_customer c"
            "  ON c.id = i.customer_id AND c.merged_into_id IS NULL)"
        )
        facts, live = cursor.fetchone()
    log(f"    interactions: facts sum {facts:,}, live {live:,}")
    return facts == live


def bench_lag(n: int) -> list[dict]:
    from crm_site import insight

    results = []

    def measure(fact, label: str, changed: dict) -> None:
        queued = dirty(fact.key)
        seconds, keys = refresh_until_clean(fact.key)
        row = {
            "fact": fact.key,
            "case": label,
            "changed": changed,
            "dirty_rows": queued,
            "keys_refreshed": keys,
            "refresh_s": round(seconds, 1),
            "lag_bound_s": round(seconds + BEAT_SECONDS, 1),
        }
        if fact.key == "customers.interactions":
            row["exact"] = interactions_exact()
        results.append(row)
        what = ", ".join(f"{t} {c:,}" for t, c in changed.items()) or "no table"
        log(
            f"  {fact.key} ({label}): changed {what}; {queued:,} dirty marks, "
            f"{keys:,} keys refreshed in {seconds:.1f} s → lag ≤ "
            f"{seconds + BEAT_SECONDS:.0f} s (goal ≤ 300 s)"
        )

    for fact in insight.facts():
        refresh_until_clean(fact.key)  # start from an empty queue
        if fact.key == "customers.interactions":
            # The everyday case: what consultants log today (the current month).
            measure(
                fact, "new today", {"customers_interaction": insert_interactions(n)}
            )
        changed = {}
        if fact.key == "customers.interactions":
            # Its table's trigger watches some columns: a no-op update does not fire.
            changed["customers_interaction"] = move_interactions(n)
        for table, _name, some_columns in fact_triggers(fact.key):
            if not some_columns and table not in changed:
                changed[table] = change_rows(table, n)
        measure(fact, "random rows", changed)
    return results


# --- 3. Pivots ----------------------------------------------------------------------


def bench_users():
    from crm_site.models import User
    from crm_site.roles import Role

    def persona(username: str, role: Role, team=None) -> User:
        from django.contrib.auth.models import Group

        user, _ = User.objects.get_or_create(
            username=username, defaults={"last_name": "基准", "first_name": role.label}
        )
        if user.team_id != (team.pk if team else None):
            User.objects.filter(pk=user.pk).update(team=team)
        user.groups.set([Group.objects.get(name=role.value)])
        return User.objects.get(pk=user.pk)

    team = User.objects.get(username="consultant").team
    return {
        "all scope (executive)": persona("bench_insight_exec", Role.EXECUTIVE),
        f"team manager ({team.name})": persona(
            "bench_insight_mgr", Role.SALES_MANAGER, team
        ),
    }


def source_months(source, key: str) -> list:
    """The months a source's rows fall in, oldest first (what the explorer's month
    filter offers)."""
    field = source.dimension(key).field
    return sorted(
        source.model.objects.order_by()
        .values_list(field, flat=True)
        .distinct()
        .exclude(**{f"{field}__isnull": True})
    )


def pivots_for(source) -> list[tuple[str, str, list[str], dict]]:
    """(name, measure, dimensions, filters): generic ones, then named ones."""
    dims = [d.key for d in source.dimensions]
    month = next((d.key for d in source.dimensions if d.month), None)
    out = []
    for m in source.measures:
        out.append((f"{m.key}", m.key, [], {}))
        out.append((f"{m.key} by {dims[0]}", m.key, dims[:1], {}))
        if len(dims) > 1:
            out.append((f"{m.key} by {dims[0]} × {dims[1]}", m.key, dims[:2], {}))
    if month:
        first = source.measures[0].key
        other = next((d for d in dims if d != month), None)
        out.append((f"{first} by {month}", first, [month], {}))
        if other:
            out.append((f"{first} by {month} × {other}", first, [month, other], {}))
        # Several months ticked in the filter (a quarter, every month there is): a
        # filter of several values, on the column a distinct measure varies by.
        months = source_months(source, month)
        ticked = (
            ("3 months", months[-3:]),
            ("all months", months),
            ("every other month", months[::2]),
        )
        for d in dims:
            if d == month:
                continue
            for label, chosen in ticked:
                if len(chosen) > 1:
                    out.append(
                        (f"{first} by {d}, {label}", first, [d], {month: chosen})
                    )
    from sales.models import Opportunity, StageDuration

    stages, buckets = Opportunity.Stage.values, list(StageDuration.BUCKET_BITS)
    named = {
        "sales.deals": [
            ("lost deals by reason × consultant", "deals", ["lost_reason", "consultant"], {"stage": "lost"}),
            ("contracted amount by project × month", "contract_amount", ["project", "month"], {}),
            ("deals by channel × stage reached", "deals", ["channel", "reached"], {}),
            ("days to contract by consultant", "days_to_contract", ["consultant"], {}),
        ],
        "sales.stage_durations": [
            ("deals by consultant, every stage ticked", "deals", ["consultant"], {"stage": stages}),
            ("deals by bucket, three stages", "deals", ["bucket"], {"stage": stages[2:5]}),
            ("deals by consultant, every bucket but one", "deals", ["consultant"], {"bucket": buckets[1:]}),
            ("deals by month entered, two buckets", "deals", ["entered_month"], {"bucket": buckets[1:3]}),
            ("deals by stage × consultant, three buckets", "deals", ["stage", "consultant"], {"bucket": buckets[2:5]}),
        ],
        "customers.interactions": [
            ("interactions by month × kind", "interactions", ["month", "kind"], {}),
            ("interactions by consultant × channel", "interactions", ["consultant", "channel"], {}),
            ("visits by team × month", "interactions", ["team", "month"], {"kind": "visit"}),
        ],
    }  # fmt: skip
    for name, measure, ds, filters in named.get(source.key, []):
        if source.measure(measure) and all(
            source.dimension(d) for d in [*ds, *filters]
        ):
            out.append((name, measure, ds, filters))
    # The same pivot reached twice (month first among the dimensions) is timed once.
    seen: set = set()
    unique = []
    for name, measure, ds, filters in out:
        key = (measure, tuple(ds), repr(sorted(filters.items())))
        if key not in seen:
            seen.add(key)
            unique.append((name, measure, ds, filters))
    return unique


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_pivots(repeat: int, only: list[str] | None = None) -> list[dict]:
    from crm_site import insight

    users = bench_users()
    results = []
    for source in insight.sources():
        if only and source.key not in only:
            continue
        for who, user in users.items():
            if not user.has_perm(source.see):
                log(f"  {source.key} — {who}: not visible to this role, skipped")
                continue
            log(f"  {source.key} — {who}")
            all_times: list[float] = []
            for name, measure, dims, filters in pivots_for(source):
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    table = insight.pivot(
                        user,
                        source,
                        source.measure(measure),
                        [source.dimension(d) for d in dims],
                        filters,
                    )
                    times.append((time.perf_counter() - started) * 1000)
                all_times += times
                p50, p95 = statistics.median(times), percentile(times, 0.95)
                results.append(
                    {
                        "source": source.key,
                        "user": who,
                        "pivot": name,
                        "p50_ms": round(p50, 1),
                        "p95_ms": round(p95, 1),
                        "rows": len(table.rows),
                        "total": str(table.total),
                    }
                )
                log(
                    f"    {name:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
                    f"  ({len(table.rows)} rows, total {table.total})"
                )
            log(
                f"    {'all pivots':<44} p50 {statistics.median(all_times):7.1f} ms"
                f"  p95 {percentile(all_times, 0.95):7.1f} ms (goal ≤ 500 ms)"
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", action="store_true", help="generate the data first")
    parser.add_argument("--repeat", type=int, default=15, help="runs of each pivot")
    parser.add_argument(
        "--changes", type=int, default=1000, help="rows changed per table"
    )
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument(
        "--source",
        action="append",
        help="time only this source's pivots (repeatable), e.g. customers.value",
    )
    parser.add_argument(
        "--json", type=Path, default=common.OUT / "insight_results.json"
    )
    args = parser.parse_args()
    common.django_setup()
    from django.db import connection

    db = connection.settings_dict
    log(f"Database {db['NAME']} on {db['HOST']}:{db['PORT']}; machine {machine()}")
    if args.load:
        load()
    out: dict = {"machine_before": machine(), "live_rows": live_counts()}
    log(f"Live rows (planner's counts): {out['live_rows']}")
    if not args.skip_rebuild:
        log("\n1. Full rebuild of every fact table")
        out["rebuild"] = bench_rebuild()
    if not args.skip_lag:
        log(f"\n2. Incremental refresh after changing {args.changes:,} rows per table")
        out["lag"] = bench_lag(args.changes)
    log(f"\n3. Explorer pivots ({args.repeat} runs each)")
    out["pivots"] = bench_pivots(args.repeat, args.source)
    out["machine_after"] = machine()
    log(f"\nMachine after: {out['machine_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    log(f"Results written to {args.json}")


if __name__ == "__main__":
    main()
