#!/usr/bin/env python
"""EXPLAIN (ANALYZE, BUFFERS) of the customer list, search and timeline queries, built
with the application's own querysets, with timings: to see why a page is slow.

    DATABASE_URL=postgres://... python bench/explain.py
    python bench/explain.py --user consultant --q 王伟 --q 1234 --sql

Without --q the searches use values from bench/out/sample.json (bench/generate.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

PAGE = 26  # the list shows 25 rows and fetches one more to know if there is a next


def timed(qs, runs: int) -> tuple[float, float, int]:
    """(min ms, median ms, rows) over `runs` executions of a queryset or SQL text."""
    from django.db import connection

    times = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        if isinstance(qs, str):
            with connection.cursor() as cursor:
                cursor.execute(qs)
                rows = len(cursor.fetchall())
        else:
            rows = len(list(qs.all()))  # .all(): a fresh queryset, no result cache
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="sales_manager")
    parser.add_argument(
        "--q", action="append", default=[], help="a search text (repeatable)"
    )
    parser.add_argument(
        "--sample", type=lambda p: Path(p).resolve(), default=common.SAMPLE_FILE
    )
    parser.add_argument("--customer", type=int, help="customer for the timeline")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    parser.add_argument("--sql", action="store_true", help="print the SQL too")
    parser.add_argument("--no-plan", action="store_true", help="only the timings table")
    parser.add_argument(
        "--pages",
        action="store_true",
        help="also render the pages in-process: total time, SQL count and SQL time",
    )
    args = parser.parse_args()

    common.django_setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm_site.models import User
    from customers import selectors
    from customers.models import Customer

    try:
        user = User.objects.get(username=args.user)
    except User.DoesNotExist:
        parser.error(f"no user {args.user!r} (run manage.py demo_data?)")
    sample = json.loads(args.sample.read_text()) if args.sample.exists() else {}

    searches: list[tuple[str, str]] = [(f"search {q!r}", q) for q in args.q]
    if not args.q:
        if not sample:
            parser.error(f"{args.sample} not found: pass --q or run generate.py")
        phone = sample["phones"][0]
        searches = [
            ("search: full phone", phone),
            ("search: last 4 digits", phone[-4:]),
            ("search: name (2 chars)", sample["names"][0]),
            ("search: pinyin initials", sample["initials"][0]),
            ("search: full pinyin", sample["pinyin"][0]),
        ]
    base = Customer.objects.visible_to(user).select_related("assigned_consultant")
    queries = [("list (first page)", base.ranked()[:PAGE])]
    for label, text in searches:
        # search() may run lookups of its own (ids first, then the page): keep them.
        with CaptureQueriesContext(connection) as captured:
            qs = base.search(text, user=user).ranked()[:PAGE]
        for number, query in enumerate(captured.captured_queries, 1):
            queries.append((f"{label} q={text!r}: lookup {number}", query["sql"]))
        queries.append((f"{label} q={text!r}", qs))
    heavy = args.customer or sample.get("heavy_customer_id")
    if heavy:
        customer = Customer.objects.get(pk=heavy)
        queries.append(
            (
                f"360: customer {heavy} visible",
                Customer.objects.visible_to(user)
                .select_related("assigned_consultant", "created_by", "household")
                .filter(pk=heavy),
            )
        )
        timeline = selectors.customer_timeline(customer=customer)
        queries.append((f"360: timeline page 1 of {heavy}", timeline[:21]))
        queries.append((f"360: timeline page 5 of {heavy}", timeline[80:101]))

    print(f"User {user.username}; {Customer.objects.count():,} customers\n")
    summary = []
    for label, qs in queries:
        best, median, rows = timed(qs, args.runs)
        summary.append((label, rows, best, median))
        if args.no_plan:
            continue
        print("=" * 100)
        print(f"{label}: {rows} rows, min {best:.1f} ms, median {median:.1f} ms")
        if args.sql:
            print(f"\n{qs if isinstance(qs, str) else qs.query}\n")
        if isinstance(qs, str):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {qs}")
                print("\n".join(row[0] for row in cursor.fetchall()))
        else:
            print(qs.explain(analyze=True, buffers=True))
        print()
    print(f"{'query':<60} {'rows':>5} {'min ms':>8} {'median ms':>10}")
    for label, rows, best, median in summary:
        print(f"{label[:60]:<60} {rows:>5} {best:>8.1f} {median:>10.1f}")
    if args.pages:
        urls = ["/customers/"] + [
            f"/customers/?{urlencode({'q': text})}" for _label, text in searches
        ]
        if heavy:
            urls += [f"/customers/{heavy}/", f"/customers/{heavy}/timeline/"]
        profile_pages(user, urls, runs=args.runs)
    return 0


def profile_pages(user, urls: list[str], *, runs: int) -> None:
    """Render each page in this process (no HTTP, no page server): where does time go?"""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(user)
    print(
        f"\n{'page':<48} {'status':>6} {'total ms':>9} {'queries':>8} {'SQL ms':>8}"
        "  slowest query"
    )
    for url in urls:
        client.get(url, secure=True)  # warm caches
        best = None
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, secure=True)
                total = (time.perf_counter() - started) * 1000
            if best is None or total < best[0]:
                best = (total, response.status_code, list(captured.captured_queries))
        total, status, queries = best
        sql_ms = sum(float(q["time"]) for q in queries) * 1000
        slowest = max(queries, key=lambda q: float(q["time"]), default=None)
        note = (
            f"{float(slowest['time']) * 1000:.1f} ms {slowest['sql'][:70]}"
            if slowest
            else ""
        )
        print(
            f"{url[:48]:<48} {status:>6} {total:>9.1f} {len(queries):>8} "
            f"{sql_ms:>8.1f}  {note}"
        )


if __name__ == "__main__":
    sys.exit(main())
