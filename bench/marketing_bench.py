#!/usr/bin/env python
"""Time the segment builder's live count (issue 7: ≤ 1 s on 1,000,000 customers).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anju_bench \\
        .venv/bin/python bench/marketing_bench.py [--runs 5] [--explain]

Read-only: it only counts. The count runs as the marketing role sees customers (those
who consented to some channel) and as a manager who sees all, for a set of typical
segments; prints the median and worst of --runs for each, and writes
bench/out/marketing_results.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

LIMIT_SECONDS = 1.0


def bench_user(role_value: str):
    """An unsaved user holding a role's permissions (nothing is written)."""
    from crm_site.models import User
    from crm_site.roles import ROLE_PERMISSIONS, Role

    user = User(username=f"bench-{role_value}", is_active=True)
    user._perm_cache = set(ROLE_PERMISSIONS[Role(role_value)])
    return user


def segments() -> list[tuple[str, dict]]:
    from customers.models import Tag
    from sales.models import Project

    project = Project.objects.order_by("pk").values_list("pk", flat=True).first()
    tag = Tag.objects.order_by("pk").values_list("pk", flat=True).first()
    return [
        ("everyone", {}),
        ("prospects by web", {"stage": "prospect", "source": "web"}),
        (
            "e-mail consent, contacted this year",
            {"consent": "email", "contact_after": "2026-01-01"},
        ),
        ("interested in a project", {"project": project}),
        ("tagged", {"tag": tag}),
        ("owners, no open complaint", {"stage": "owner", "open_complaints": "no"}),
        ("owners not satisfied", {"stage": "owner", "satisfaction": "unsatisfied"}),
        (
            "all filters",
            {
                "stage": "prospect",
                "project": project,
                "source": "web",
                "tag": tag,
                "contact_after": "2025-01-01",
                "contact_before": "2026-12-31",
                "satisfaction": "",
                "open_complaints": "no",
                "consent": "sms",
            },
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    common.django_setup()
    from django.db import connection

    from customers.models import Customer
    from marketing.selectors import segment_count, segment_customers

    total = Customer.objects.count()
    print(f"customers in the database: {total:,}")
    results = []
    for role in ("marketing", "executive"):
        user = bench_user(role)
        for name, criteria in segments():
            timings = []
            for _ in range(args.runs):
                started = time.perf_counter()
                count = segment_count(user=user, criteria=criteria)
                timings.append(time.perf_counter() - started)
            median, worst = statistics.median(timings), max(timings)
            verdict = "ok" if worst <= LIMIT_SECONDS else "SLOW"
            print(
                f"{role:10} {name:38} {count:>9,}  median {median * 1000:7.1f} ms"
                f"  worst {worst * 1000:7.1f} ms  {verdict}"
            )
            results.append(
                {
                    "role": role,
                    "segment": name,
                    "count": count,
                    "median_s": median,
                    "worst_s": worst,
                }
            )
            if args.explain:
                qs = segment_customers(user=user, criteria=criteria).order_by()
                sql, params = qs.values("pk").query.sql_with_params()
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"EXPLAIN ANALYZE SELECT count(*) FROM ({sql}) s", params
                    )
                    print("\n".join(row[0] for row in cursor.fetchall()))
    common.OUT.mkdir(parents=True, exist_ok=True)
    (common.OUT / "marketing_results.json").write_text(
        json.dumps({"customers": total, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
