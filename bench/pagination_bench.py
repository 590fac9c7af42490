#!/usr/bin/env python
"""What telling "how many match" costs on the customer and pool lists: the page
query, the capped count and the planner's estimate, timed one by one, with the plan
of the count.

    DATABASE_URL=postgres://... python bench/pagination_bench.py [--runs 20]

Needs the customers of bench/generate.py and the demo users (manage.py demo_data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common


def median_ms(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    common.django_setup()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.http import QueryDict

    from crm_site.pagination import count_cap, paginate, planner_estimate
    from customers.forms import CustomerFilterForm
    from customers.models import Customer
    from sales.services import ownership

    users = {u.username: u for u in get_user_model().objects.all()}
    cap = count_cap()

    def customer_list(username: str, query: str):
        user = users[username]
        qs = Customer.objects.visible_to(user).identifiable()
        if not query:
            return qs.ranked()
        return CustomerFilterForm(QueryDict(query), user=user).filter(qs)

    cases = [
        ("customers, admin, all", customer_list("admin", "")),
        ("customers, admin, stage=owner", customer_list("admin", "stage=owner")),
        (
            "customers, admin, stage=buyer&source=event",
            customer_list("admin", "stage=buyer&source=event"),
        ),
        ("customers, sales_manager, all", customer_list("sales_manager", "")),
        ("customers, consultant, all", customer_list("consultant", "")),
        (
            "customers, admin, follow_up=overdue",
            customer_list("admin", "follow_up=overdue"),
        ),
        (
            "customers, consultant, consultant=me",
            customer_list("consultant", "consultant=me"),
        ),
        ("customers, admin, q=王", customer_list("admin", "q=王")),
        ("customers, admin, q=1234", customer_list("admin", "q=1234")),
        ("public pool", ownership.pool_queryset().ranked()),
    ]
    print(f"{Customer.objects.count():,} customers; cap {cap:,}; median of {args.runs}")
    print("| list | shown | page query | capped count | estimate | whole page() |")
    print("|---|---|---|---|---|---|")
    for name, qs in cases:
        page = paginate(qs, page=1)
        shown = f"{'about ' if page.total_is_estimate else ''}{page.total or 0:,}"
        page_ms = median_ms(lambda qs=qs: list(qs[:26]), args.runs)
        count_ms = median_ms(lambda qs=qs: qs.order_by()[: cap + 1].count(), args.runs)
        estimate_ms = median_ms(lambda qs=qs: planner_estimate(qs), args.runs)
        total_ms = median_ms(lambda qs=qs: paginate(qs, page=1), args.runs)
        print(
            f"| {name} | {shown} | {page_ms:.1f} ms | {count_ms:.1f} ms "
            f"| {estimate_ms:.1f} ms | {total_ms:.1f} ms |"
        )
    qs = customer_list("admin", "stage=buyer&source=event")
    sql, params = qs.order_by()[: cap + 1].query.sql_with_params()
    with connection.cursor() as cursor:
        inner = f"SELECT COUNT(*) FROM ({sql}) subquery"
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {inner}", params)
        print("\nThe capped count of customers, stage=buyer&source=event:")
        print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
