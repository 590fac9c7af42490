#!/usr/bin/env python
"""Time the service targets (issue 6) on the data of bench/service_generate.py.

    .venv/bin/python bench/service_bench.py                     # in-process + HTTP
    .venv/bin/python bench/service_bench.py --skip-http         # in-process only
    .venv/bin/python bench/service_bench.py --skip-jobs --base-url http://127.0.0.1:8124

In-process (Django, DATABASE_URL): the escalation sweep escalations_sweep() (≤ 30 s),
in one transaction rolled back afterwards (--commit keeps it), then run again on its
own result to show the steady state; and the dashboard's compute() cold, median of 5.

HTTP: N logged-in clients (the client of bench/load.py) against a running server on a
loopback address: the service desk's request list (open, overdue, all) as
service_agent, the dashboard as service_manager, the contractor ranking and a
knowledge search. Prints a table and writes bench/out/service_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from load import Client, LoadError, PageSpec, require_loopback
from sales_bench import (
    Rollback,
    add_http_arguments,
    log,
    measure_pages,
    print_page_rows,
)

MAX_REQUESTS = 10_000
SWEEP_TARGET_S = 30
PAGE_TARGET_MS = 200


def timed_sweep(commit: bool) -> dict:
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from service.models import Escalation, ServiceRequest
    from service.services import escalations_sweep

    figures: dict = {}
    now = timezone.now()
    figures["overdue"] = (
        ServiceRequest.objects.filter(
            status__in=["received", "assigned", "in_progress"]
        )
        .filter(Q(resolution_due__lt=now) | Q(response_due__lt=now, status="received"))
        .count()
    )
    try:
        with transaction.atomic():
            before = Escalation.objects.count()
            t0 = time.monotonic()
            figures["raised"] = escalations_sweep()
            figures["seconds"] = round(time.monotonic() - t0, 2)
            figures["escalations_created"] = Escalation.objects.count() - before
            t1 = time.monotonic()
            figures["raised_again"] = escalations_sweep()
            figures["second_run_s"] = round(time.monotonic() - t1, 2)
            if not commit:
                raise Rollback
    except Rollback:
        pass
    log(
        f"  escalation sweep: {figures['seconds']:.1f} s for {figures['overdue']:,} "
        f"overdue requests ({figures['raised']:,} escalations raised); second run "
        f"{figures['second_run_s']:.1f} s ({figures['raised_again']} raised)"
    )
    return {
        "what": "escalation sweep",
        **figures,
        "target_s": SWEEP_TARGET_S,
        "pass": figures["seconds"] <= SWEEP_TARGET_S,
    }


def dashboard_cold(runs: int) -> dict:
    from django.utils.translation import override

    from sales.forms import DashboardFilterForm
    from service.dashboard import compute
    from service.selectors import contractor_ranking_forget

    form = DashboardFilterForm({})
    form.is_valid()
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    times = []
    with override("zh-hans"):
        for _ in range(runs):
            contractor_ranking_forget()  # cold: the ranking it shares is computed too
            t0 = time.monotonic()
            board = compute(start=start, end=end, project=None)
            times.append((time.monotonic() - t0) * 1000)
    median = statistics.median(times)
    log(
        f"  dashboard compute cold ({start} … {end}): "
        + ", ".join(f"{t:.0f}" for t in times)
        + f" ms; median {median:.0f} ms; received {board.totals['received']:,}, "
        f"open {board.totals['open']:,}, overdue {board.totals['overdue']:,}, "
        f"{len(board.clusters)} clusters"
    )
    return {
        "what": "dashboard compute (cold)",
        "runs_ms": [round(t, 1) for t in times],
        "median_ms": round(median, 1),
        "window": [str(start), str(end)],
    }


def _uncached() -> list[str]:
    """Dashboard URLs whose period differs by a day each, with their cached results
    deleted first (the bench must share the server's REDIS_URL): every request is a
    cache miss. The contractor ranking inside stays cached, as it would on a server."""
    from datetime import date, timedelta

    from django.core.cache import cache
    from django.utils.translation import override

    from service.dashboard import _cache_key

    end = date.today()
    starts = [end - timedelta(days=90 + n) for n in range(MAX_REQUESTS // 10)]
    for language in ("zh-hans", "en"):
        with override(language):
            cache.delete_many([_cache_key(start, end, None) for start in starts])
    return [f"/service/dashboard/?start={start}&end={end}" for start in starts]


def http_run(args) -> list[dict]:
    require_loopback(args.base_url)
    sessions: dict[str, list] = {}

    def clients(user: str) -> list:
        if user not in sessions:
            made = [Client(args.base_url, args.timeout) for _ in range(args.clients)]
            for c in made:
                c.login(user, args.password)
            sessions[user] = made
        return sessions[user]

    t = PAGE_TARGET_MS
    pages = [
        ("request list: open", "service_agent", PageSpec("open", t, ["/service/requests/"])),
        ("request list: overdue", "service_agent",
         PageSpec("overdue", t, ["/service/requests/?view=overdue"])),
        ("request list: all, page 3", "service_agent",
         PageSpec("all", t, ["/service/requests/?view=all&page=3"])),
        ("dashboard (cached)", "service_manager", PageSpec("dashboard", t, ["/service/dashboard/"])),
        ("dashboard (cache miss)", "service_manager", PageSpec("dashboard miss", t, _uncached())),
        ("contractor ranking", "service_manager",
         PageSpec("contractors", t, ["/service/contractors/"])),
        ("knowledge search 漏水", "service_agent",
         PageSpec("knowledge", t, ["/service/knowledge/?q=%E6%BC%8F%E6%B0%B4"])),
    ]  # fmt: skip
    return measure_pages(args, pages, clients)


def print_table(sweep: dict | None, cold: dict | None, pages: list[dict]) -> None:
    header = f"{'what':<30} {'reqs':>6} {'errs':>5} {'p50':>9} {'p95':>9} {'max':>9} {'target':>9}  result"
    log(header)
    log("-" * len(header))
    if sweep:
        log(
            f"{'escalation sweep':<30} {'1':>6} {'0':>5} {'':>9} {'':>9} {sweep['seconds']:>7.1f} s {'≤30 s':>9}  {'PASS' if sweep['pass'] else 'FAIL'}"
        )
    if cold:
        log(
            f"{cold['what']:<30} {len(cold['runs_ms']):>6} {'0':>5} {cold['median_ms']:>6.0f} ms {'':>9} {max(cold['runs_ms']):>6.0f} ms {'':>9}  (median)"
        )
    print_page_rows(pages, width=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_http_arguments(parser)
    parser.add_argument("--pages", help="comma-separated words; only matching pages")
    parser.add_argument("--dashboard-runs", type=int, default=5)
    parser.add_argument("--skip-jobs", action="store_true", help="no sweep / cold run")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--commit", action="store_true", help="keep the escalations")
    parser.add_argument(
        "--json", type=Path, default=common.OUT / "service_results.json"
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= 32:
        parser.error("--clients must be between 1 and 32")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    if not args.skip_http:
        try:
            require_loopback(args.base_url)
        except LoadError as exc:
            parser.error(str(exc))
    common.django_setup()

    from django.db import connection

    from service.models import ServiceRequest, ServiceStep, WorkOrder

    data = {
        "database": connection.settings_dict["NAME"],
        "requests": ServiceRequest.objects.count(),
        "open": ServiceRequest.objects.filter(status__in=ServiceRequest.OPEN).count(),
        "steps": ServiceStep.objects.count(),
        "work_orders": WorkOrder.objects.count(),
        "nproc": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    log(
        f"{data['database']}: {data['requests']:,} service requests ({data['open']:,} "
        f"open), {data['steps']:,} steps, {data['work_orders']:,} work orders; "
        f"load average {data['loadavg_before'][0]:.2f} on {data['nproc']} cores\n"
    )
    sweep = cold = None
    if not args.skip_jobs:
        log("Escalation sweep …")
        sweep = timed_sweep(args.commit)
        log("Dashboard, cold …")
        cold = dashboard_cold(args.dashboard_runs)
    pages: list[dict] = []
    if not args.skip_http:
        log(
            f"\nHTTP {args.base_url}: {args.clients} clients, {args.requests} requests "
            f"per page after {args.warmup} warm-up"
        )
        try:
            pages = http_run(args)
        except (LoadError, urllib.error.URLError, OSError) as exc:
            log(f"HTTP run failed: {exc}")
            return 2
    data["loadavg_after"] = os.getloadavg()
    log()
    print_table(sweep, cold, pages)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    data.update(
        {
            "finished_at": datetime.now(UTC).isoformat(),
            "base_url": None if args.skip_http else args.base_url,
            "clients": args.clients,
            "requests_per_page": args.requests,
            "sweep": sweep,
            "dashboard_cold": cold,
            "pages": pages,
        }
    )
    args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str))
    log(f"\nResults written to {args.json}")
    failed = [p for p in pages if not p["pass"]]
    if sweep and not sweep["pass"]:
        failed.append(sweep)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
