#!/usr/bin/env python
"""Time the sales and ownership targets (issues 4 and 5) on the data of
bench/sales_generate.py.

    .venv/bin/python bench/sales_bench.py                       # in-process + HTTP
    .venv/bin/python bench/sales_bench.py --skip-http           # in-process only
    .venv/bin/python bench/sales_bench.py --skip-jobs --base-url http://127.0.0.1:8124

In-process (Django, DATABASE_URL): registrations_sweep() once (≤ 60 s), the morning
digest — digests_build() then digest_send() for every row (≤ 60 s, e-mail to the
locmem backend) — and the dashboard's _compute() cold, median of 5. The jobs run in
one outer transaction that is rolled back afterwards, so the data stays as generated
and the run can be repeated (--commit keeps what they did).

HTTP: N logged-in clients (stdlib only; the client of bench/load.py) against a running
server on a loopback address: grid page and its htmx partial (as consultant), the
dashboard (as sales_manager) and the consultant's day (as consultant and as a bench
consultant). Prints a table and writes bench/out/sales_results.json.
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

try:  # the other engineer's client; the same code is inlined below as a fallback
    from load import Client, LoadError, PageSpec, percentile, require_loopback, run_page
except ImportError:  # pragma: no cover
    Client = None

MAX_REQUESTS = 10_000
PASSWORD = "demo-pass-2026"
PROJECT_NAME = "安居·基准"
GRID_BUILDING = "基准1号楼"


def log(message: str = "") -> None:
    print(message, flush=True)


class Rollback(Exception):
    pass


def timed_jobs(commit: bool) -> list[dict]:
    """The sweep and the digest, each in its own (rolled back) transaction."""
    from django.core import mail
    from django.db import transaction
    from django.test.utils import override_settings

    from sales.models import FollowUpDigest, FollowUpEscalation, Registration
    from sales.services.ownership import registrations_sweep
    from sales.services.reminders import digest_send, digests_build

    results = []

    def run(name: str, body) -> None:
        figures = {}
        started = time.monotonic()
        try:
            with transaction.atomic():
                body(figures)
                figures["seconds"] = time.monotonic() - started
                if not commit:
                    raise Rollback
        except Rollback:
            pass
        seconds = figures["seconds"]
        results.append(
            {"what": name, "seconds": round(seconds, 2), "target_s": 60,
             "pass": seconds <= 60, **{k: v for k, v in figures.items() if k != "seconds"}}
        )  # fmt: skip
        extra = ", ".join(f"{k} {v:,}" for k, v in figures.items() if k != "seconds")
        log(f"  {name}: {seconds:.1f} s ({extra})")

    def sweep(figures: dict) -> None:
        figures["due_before"] = Registration.objects.filter(
            status="protected", protected_until__lt=datetime.now(UTC)
        ).count()
        t0 = time.monotonic()
        figures["lapsed"] = registrations_sweep()
        figures["sweep_only_s"] = round(time.monotonic() - t0, 2)

    def digest(figures: dict) -> None:
        before = FollowUpEscalation.objects.count()
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
        ):
            mail.outbox = []
            t0 = time.monotonic()
            pending = digests_build()
            figures["build_s"] = round(time.monotonic() - t0, 2)
            t1 = time.monotonic()
            sent = sum(digest_send(digest_id=pk) for pk in pending)
            figures["send_s"] = round(time.monotonic() - t1, 2)
            figures["digests"] = len(pending)
            figures["sent"] = sent
            figures["emails"] = len(mail.outbox)
            figures["follow_ups_in_digests"] = sum(
                d.due_today + d.overdue
                for d in FollowUpDigest.objects.filter(pk__in=pending)
            )
            figures["escalations_created"] = FollowUpEscalation.objects.count() - before

    log("Pool sweep (registrations_sweep) …")
    run("pool sweep", sweep)
    log("Morning digest (digests_build + digest_send each) …")
    run("morning digest", digest)
    return results


def dashboard_cold(runs: int) -> dict:
    from django.utils import timezone
    from django.utils.translation import override

    from crm_site.models import User
    from sales.dashboard import _compute
    from sales.forms import DashboardFilterForm

    user = User.objects.get(username="sales_manager")
    form = DashboardFilterForm({})
    form.is_valid()
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    times = []
    with override("zh-hans"):
        for _ in range(runs):
            user = User.objects.get(
                pk=user.pk
            )  # fresh permission cache, like a request
            t0 = time.monotonic()
            board = _compute(user=user, start=start, end=end, project=None)
            times.append((time.monotonic() - t0) * 1000)
    median = statistics.median(times)
    log(
        f"  dashboard _compute cold ({start} … {end}, sales_manager): "
        + ", ".join(f"{t:.0f}" for t in times)
        + f" ms; median {median:.0f} ms; funnel "
        + ", ".join(f"{r['step']}={r['value']}" for r in board.funnel)
    )
    return {
        "what": "dashboard _compute (cold)",
        "runs_ms": [round(t, 1) for t in times],
        "median_ms": round(median, 1),
        "target_ms": 300,
        "pass": median <= 300,
        "window": [str(start), str(end)],
        "computed_at": str(timezone.now()),
    }


def http_run(args, grid_id: int, bench_user: str) -> list[dict]:
    if Client is None:
        raise SystemExit("bench/load.py is not importable: cannot run the HTTP part")
    require_loopback(args.base_url)
    sessions: dict[str, list] = {}

    def clients(user: str) -> list:
        if user not in sessions:
            made = [Client(args.base_url, args.timeout) for _ in range(args.clients)]
            for c in made:
                c.login(user, args.password)
            sessions[user] = made
        return sessions[user]

    pages = [
        ("grid page (33×8)", "consultant", PageSpec("grid", 100, [f"/sales/buildings/{grid_id}/"])),
        ("grid cells partial", "consultant",
         PageSpec("cells", 100, [f"/sales/buildings/{grid_id}/cells/"], {"HX-Request": "true"})),
        ("dashboard (cached)", "sales_manager", PageSpec("dashboard", 300, ["/sales/dashboard/"])),
        ("my day: consultant", "consultant", PageSpec("my day", 100, ["/sales/today/"])),
        (f"my day: {bench_user}", bench_user, PageSpec("my day bench", 100, ["/sales/today/"])),
    ]  # fmt: skip
    return measure_pages(args, pages, clients)


def measure_pages(args, pages: list, clients) -> list[dict]:
    """Load each (name, user, PageSpec) with the user's clients; p50/p95 per page.

    Shared with bench/service_bench.py."""
    if args.pages:
        words = [w.strip() for w in args.pages.split(",")]
        pages = [p for p in pages if any(w in p[0] for w in words)]
    out = []
    for name, user, spec in pages:
        spec.name = name
        log(f"  {name} as {user} …")
        result = run_page(
            clients(user),
            spec,
            requests=args.requests,
            duration=None,
            warmup=args.warmup,
        )
        lat = result.latencies
        p95 = percentile(lat, 95)
        out.append(
            {
                "page": name,
                "user": user,
                "url": spec.urls[0],
                "requests": len(lat) + result.errors,
                "errors": result.errors,
                "p50_ms": round(percentile(lat, 50), 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(max(lat, default=0), 1),
                "target_ms": spec.target_ms,
                "pass": bool(lat and not result.errors and p95 <= spec.target_ms),
                "error_samples": result.error_samples,
            }
        )
    return out


def print_table(jobs: list[dict], cold: dict | None, pages: list[dict]) -> None:
    header = f"{'what':<34} {'reqs':>6} {'errs':>5} {'p50':>9} {'p95':>9} {'max':>9} {'target':>9}  result"
    log(header)
    log("-" * len(header))
    for j in jobs:
        log(
            f"{j['what']:<34} {'1':>6} {'0':>5} {'':>9} {'':>9} {j['seconds']:>7.1f} s {'≤60 s':>9}  {'PASS' if j['pass'] else 'FAIL'}"
        )
    if cold:
        runs = cold["runs_ms"]
        log(
            f"{cold['what']:<34} {len(runs):>6} {'0':>5} {cold['median_ms']:>6.0f} ms {'':>9} {max(runs):>6.0f} ms {'≤300 ms':>9}  {'PASS' if cold['pass'] else 'FAIL'} (median)"
        )
    print_page_rows(pages)


def print_page_rows(pages: list[dict], width: int = 34) -> None:
    """The table's page rows, then any error samples (shared with service_bench)."""
    for p in pages:
        log(
            f"{p['page']:<{width}} {p['requests']:>6} {p['errors']:>5} {p['p50_ms']:>6.1f} ms {p['p95_ms']:>6.1f} ms {p['max_ms']:>6.1f} ms {'≤' + format(p['target_ms'], 'g') + ' ms':>9}  {'PASS' if p['pass'] else 'FAIL'}"
        )
    for p in pages:
        for sample in p["error_samples"]:
            log(f"  error on {p['page']}: {sample}")


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """The load options (shared with service_bench)."""
    parser.add_argument("--base-url", default="http://127.0.0.1:8124")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--password", default=PASSWORD)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_http_arguments(parser)
    parser.add_argument(
        "--bench-user",
        help="bench consultant for my day (default: the one with most follow-ups due)",
    )
    parser.add_argument(
        "--pages", help="comma-separated words; only pages whose name has one"
    )
    parser.add_argument("--dashboard-runs", type=int, default=5)
    parser.add_argument("--skip-jobs", action="store_true", help="no sweep / digest")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--commit", action="store_true", help="keep what the sweep and digest did"
    )
    parser.add_argument("--json", type=Path, default=common.OUT / "sales_results.json")
    args = parser.parse_args()
    if not 1 <= args.clients <= 32:
        parser.error("--clients must be between 1 and 32")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    if not 1 <= args.dashboard_runs <= 50:
        parser.error("--dashboard-runs must be between 1 and 50")
    if not args.skip_http:
        try:
            require_loopback(args.base_url)
        except LoadError as exc:
            parser.error(str(exc))
    common.django_setup()

    from django.db import connection
    from django.db.models import Count, Q
    from django.utils import timezone

    from customers.models import Customer
    from sales.models import Building, Opportunity, Registration

    grid = Building.objects.filter(
        project__name=PROJECT_NAME, name=GRID_BUILDING
    ).first()
    if grid is None:
        log("No bench project: run bench/sales_generate.py first.")
        return 2
    today = timezone.localdate()
    bench_user = (
        args.bench_user
        or (
            Customer.objects.filter(
                assigned_consultant__username__startswith="bench_c",
                next_follow_up__lte=today,
            )
            .values("assigned_consultant__username")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()["assigned_consultant__username"]
        )
    )
    data = {
        "database": connection.settings_dict["NAME"],
        "customers": Customer.objects.count(),
        "deals": Opportunity.objects.count(),
        "registrations_protected": Registration.objects.filter(
            status="protected"
        ).count(),
        "follow_ups_due": Customer.objects.filter(next_follow_up__lte=today).count(),
        "grid_building_id": grid.pk,
        "grid_units": grid.units.count(),
        "bench_user": bench_user,
        "bench_user_due": Customer.objects.filter(
            assigned_consultant__username=bench_user, next_follow_up__lte=today
        ).count(),
        "consultant_due": Customer.objects.filter(
            Q(assigned_consultant__username="consultant"), next_follow_up__lte=today
        ).count(),
        "nproc": os.cpu_count(),
    }
    log(
        f"{data['database']}: {data['customers']:,} customers, {data['deals']:,} deals, "
        f"{data['registrations_protected']:,} protected registrations, "
        f"{data['follow_ups_due']:,} follow-ups due; grid building {grid.pk} "
        f"({data['grid_units']} units); {bench_user} has {data['bench_user_due']} due, "
        f"consultant {data['consultant_due']}\n"
    )
    jobs: list[dict] = []
    cold = None
    if not args.skip_jobs:
        jobs = timed_jobs(args.commit)
        log("Dashboard, cold …")
        cold = dashboard_cold(args.dashboard_runs)
    pages: list[dict] = []
    if not args.skip_http:
        log(
            f"\nHTTP {args.base_url}: {args.clients} clients, {args.requests} requests per page after {args.warmup} warm-up"
        )
        try:
            pages = http_run(args, grid.pk, bench_user)
        except (LoadError, urllib.error.URLError, OSError) as exc:
            log(f"HTTP run failed: {exc}")
            return 2
    log()
    print_table(jobs, cold, pages)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    data.update(
        {
            "finished_at": datetime.now(UTC).isoformat(),
            "base_url": None if args.skip_http else args.base_url,
            "clients": args.clients,
            "requests_per_page": args.requests,
            "jobs": jobs or previous.get("jobs", []),
            "dashboard_cold": cold or previous.get("dashboard_cold"),
            "pages": pages or previous.get("pages", []),
        }
    )
    args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str))
    log(f"\nResults written to {args.json}")
    failed = [j for j in jobs if not j["pass"]] + [p for p in pages if not p["pass"]]
    if cold and not cold["pass"]:
        failed.append(cold)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
