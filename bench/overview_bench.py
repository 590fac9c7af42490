#!/usr/bin/env python
"""Time the managers' overview (issue 7 item 9) on the bench database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anju_bench \\
        .venv/bin/python bench/overview_bench.py [--runs 30] [--json bench/out/overview.json]

Read-only: it writes nothing to the database (no login, no session; the cache is an
in-process LocMemCache). For each scope (the whole company as an executive, one team
as its sales manager), project filter (all, the largest project) and period (this
month, this year, last month) it times

the overview view rendered through RequestFactory

- cold: nothing cached (the first request after a restart, or of a new day);
- first of the minute: the page's one-minute entry expired, past days still cached
  (HISTORY_SECONDS) — what the first manager of each minute waits for;
- warm: every other request within the minute;

and prints p50 / p95 / max in milliseconds. Target: p95 ≤ 300 ms for the first request
of the minute (and so for every request).
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

PERIODS = ("month", "year", "last_month")
TARGET_MS = 300


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def timed(action, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "max_ms": round(max(samples), 1),
    }


def scopes():
    from crm_site.models import User

    executive = (
        User.objects.filter(groups__name__in=["executive", "administrator"])
        .order_by("pk")
        .first()
    )
    if executive is not None:
        yield "executive (all)", executive
    manager = (
        User.objects.filter(groups__name="sales_manager", team__isnull=False)
        .order_by("pk")
        .first()
    )
    if manager is not None:
        yield f"sales manager (team {manager.team_id})", manager


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    common.django_setup()

    from django.core.cache import cache
    from django.db.models import Count
    from django.test import RequestFactory, override_settings
    from django.utils import timezone
    from django.utils.translation import activate

    from crm_site import overview
    from crm_site.views_overview import overview_page
    from sales.models import Project

    activate("zh-hans")
    largest = Project.objects.annotate(n=Count("opportunities")).order_by("-n").first()
    factory = RequestFactory()
    rows = []
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        },
        # No collectstatic needed: the page is rendered, not served.
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        },
    ):
        for scope_name, user in scopes():
            for project in (None, largest):
                for period in PERIODS:
                    today = timezone.localdate()

                    def compute(user=user, project=project, period=period, today=today):
                        overview.compute(
                            user=user,
                            project_id=project.pk if project else None,
                            period=period,
                            today=today,
                        )

                    params = {"period": period}
                    if project is not None:
                        params["project"] = project.pk

                    def page(mode: str, user=user, params=params, project=project,
                             period=period, today=today):  # fmt: skip
                        if mode == "cold":
                            cache.clear()
                        elif mode == "minute":
                            cache.delete(
                                overview._cache_key(
                                    user,
                                    project.pk if project else None,
                                    period,
                                    today,
                                    [s.key for s in overview.visible_sections(user)],
                                )
                            )
                        request = factory.get("/", params)
                        request.user = user
                        response = overview_page(request)
                        assert response.status_code == 200, response.status_code

                    compute()  # connection and plan warm-up
                    row = {
                        "scope": scope_name,
                        "project": project.name if project else "all",
                        "period": period,
                        "page_cold": timed(lambda: page("cold"), args.runs),
                        "page_minute": timed(lambda: page("minute"), args.runs),
                        "page_warm": timed(lambda: page("warm"), args.runs),
                    }
                    row["pass"] = row["page_minute"]["p95_ms"] <= TARGET_MS
                    rows.append(row)
                    print(
                        f"{scope_name:<28} {row['project']:<10} {period:<10} "
                        f"cold p95 {row['page_cold']['p95_ms']:>7} ms · "
                        f"first of the minute p95 {row['page_minute']['p95_ms']:>7} ms · "
                        f"warm p95 {row['page_warm']['p95_ms']:>6} ms"
                        f"{'' if row['pass'] else '  OVER TARGET'}",
                        flush=True,
                    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0 if all(row["pass"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
