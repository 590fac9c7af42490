#!/usr/bin/env python
"""Time the owners' portal (issue 14) with concurrent signed-in owners.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/portal_bench.py
        [--owners 20] [--concurrency 4] [--requests 200] [--code-requests 10]
        [--base-url http://127.0.0.1:8000] [--json bench/out/portal.json]

Works on the bench data (1,000,000 customers, bench/sales_generate.py's deals) and on
the demo data (``manage.py demo_data``) alike: it samples ``--owners`` customers who
may sign in (buyers of a deal at subscription or later), signs each in with an owner
session of their own (crm_site.portal.session_for: the cookie a real sign-in sets),
and has ``--concurrency`` threads request every portal page of their owners:

- the home, my homes, one home, my payments, the handover booking (when open), the
  surveys, and every other section an app registered (club, repairs, GM mailbox);

printing p50 / p95 / max per page against the target p95 ≤ 100 ms.

Without ``--base-url`` the pages are rendered in this process by Django's test
Client (one per thread; what the application costs, no network, no gunicorn). With
``--base-url`` the threads drive a running server over HTTP (loopback only), which
must use the same database and secret key.

``--code-requests N`` also times N sign-in code requests (the POST that asks for an
SMS code) for sampled owners: the request writes a row and queues the send after
commit, so it never waits on the SMS provider. The rows and the owner sessions it
made are deleted at the end; nothing else is written.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TARGET_MS = 100
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def log(message: str = "") -> None:
    print(message, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Owner:
    customer_id: int
    mobile: str
    session_key: str = ""
    pages: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PageResult:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def sample_owners(count: int, seed: int) -> list[Owner]:
    """``count`` customers who may sign in, spread over the deals table."""
    from sales.models import Opportunity
    from sales.portal import BOUGHT_STAGES

    deals = Opportunity.objects.filter(
        stage__in=BOUGHT_STAGES,
        unit__isnull=False,
        customer__merged_into__isnull=True,
        customer__anonymised_at__isnull=True,
        customer__mobile__isnull=False,
    ).order_by("pk")
    total = deals.count()
    if not total:
        raise SystemExit(
            "No owner to sign in: load the demo data (manage.py demo_data) or the "
            "bench data (bench/generate.py, bench/sales_generate.py) first."
        )
    rng = random.Random(seed)
    offsets = sorted(rng.sample(range(total), min(count, total)))
    owners: dict[int, Owner] = {}
    for offset in offsets:
        customer_id, mobile = deals.values_list("customer_id", "customer__mobile")[
            offset
        ]
        owners.setdefault(customer_id, Owner(customer_id, mobile))
    return list(owners.values())


def plan_pages(owner: Owner) -> None:
    """Every portal page this owner can open, with ids from their own household."""
    from django.urls import reverse

    from crm_site import portal
    from customers.models import Customer
    from sales.portal import owner_deals
    from service import handover
    from service.portal import owner_appointments

    customer = Customer.objects.get(pk=owner.customer_id)
    household = portal.household_ids(customer)
    deal_ids = portal.owner_deal_ids(customer)
    pages = [("home", reverse("portal:home"))]
    pages += [(f"section {s.key}", s.url) for s in portal.sections()]
    deal = owner_deals(deal_ids).first()
    if deal is not None:
        pages.append(("one home", reverse("sales_portal:home-detail", args=[deal.pk])))
    for appointment in owner_appointments(household, deal_ids)[:1]:
        if handover.booking_open(appointment):
            pages.append(
                (
                    "handover booking",
                    reverse("service_portal:handover-booking", args=[appointment.pk]),
                )
            )
    owner.pages = pages


class InProcess:
    """One owner's browser, rendered in this process (Django's test Client)."""

    def __init__(self, owner: Owner) -> None:
        from django.conf import settings
        from django.test import Client

        self.client = Client(HTTP_HOST="localhost", raise_request_exception=False)
        self.client.cookies[settings.PORTAL_SESSION_COOKIE] = owner.session_key

    def get(self, path: str) -> tuple[float, str | None]:
        started = time.perf_counter()
        response = self.client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return elapsed, f"HTTP {response.status_code} {path}"
        return elapsed, None

    @staticmethod
    def close() -> None:
        from django.db import connection

        connection.close()


class OverHttp:
    """One owner's browser against a running server (no redirects followed: a
    redirect to the sign-in page is an error)."""

    def __init__(self, owner: Owner, base_url: str) -> None:
        from django.conf import settings

        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.cookie = f"{settings.PORTAL_SESSION_COOKIE}={owner.session_key}"
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def get(self, path: str) -> tuple[float, str | None]:
        started = time.perf_counter()
        try:
            self.connection.request(
                "GET", path, headers={"Cookie": self.cookie, "Host": self.host}
            )
            response = self.connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=30
            )
            return (time.perf_counter() - started) * 1000, f"{exc} {path}"
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            return elapsed, f"HTTP {response.status} {path}"
        return elapsed, None

    def close(self) -> None:
        self.connection.close()


def run(owners: list[Owner], *, concurrency: int, requests: int, browser) -> dict:
    """Each thread walks its owners' pages round-robin; the first pass warms up."""
    results: dict[str, PageResult] = {}
    lock = threading.Lock()
    per_thread = max(1, requests // concurrency)

    def worker(index: int) -> None:
        mine = owners[index::concurrency] or owners[index % len(owners) :][:1]
        clients = [(owner, browser(owner)) for owner in mine]
        try:
            for owner, client in clients:  # warm-up: one pass of every page
                for _name, path in owner.pages:
                    client.get(path)
            done = 0
            while done < per_thread:
                for owner, client in clients:
                    for name, path in owner.pages:
                        elapsed, error = client.get(path)
                        with lock:
                            result = results.setdefault(name, PageResult(name))
                            if error:
                                result.errors += 1
                                if len(result.error_samples) < 3:
                                    result.error_samples.append(error)
                            else:
                                result.latencies.append(elapsed)
                        done += 1
                        if done >= per_thread:
                            return
        finally:
            for _owner, client in clients:
                client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {"results": results, "wall_seconds": wall}


def time_code_requests(owners: list[Owner], count: int) -> list[float]:
    """POST the sign-in form for ``count`` owners' numbers (in this process); the
    rows it makes are deleted afterwards."""
    from django.test import Client
    from django.urls import reverse

    from customers.models import PortalCode

    before = PortalCode.objects.order_by("-pk").values_list("pk", flat=True).first()
    samples = []
    try:
        for owner in owners[:count]:
            client = Client(HTTP_HOST="localhost", enforce_csrf_checks=False)
            started = time.perf_counter()
            response = client.post(reverse("portal:sign-in"), {"mobile": owner.mobile})
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 302:
                log(f"  code request answered {response.status_code}")
    finally:
        PortalCode.objects.filter(pk__gt=before or 0).delete()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400, help="measured, in all")
    parser.add_argument("--code-requests", type=int, default=10)
    parser.add_argument("--base-url", default="")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    # In-process pages are asked for over plain HTTP, as behind the proxy.
    os.environ.setdefault("DJANGO_SECURE_HTTPS", "false")
    common.django_setup()
    import logging

    from django.test.utils import override_settings

    # A failing page is counted (and one sample printed), not logged at length.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    # Rendered here, static URLs come from the source tree (no collectstatic needed).
    plain_static = override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        }
    )
    if not args.base_url:
        plain_static.enable()
    from crm_site import portal
    from crm_site.models import PortalSession

    if args.base_url:
        from load import require_loopback

        require_loopback(args.base_url)
    owners = sample_owners(args.owners, args.seed)
    for owner in owners:
        plan_pages(owner)
    log(
        f"{len(owners)} owners, {args.concurrency} at a time, "
        f"{'HTTP ' + args.base_url if args.base_url else 'in-process (test Client)'}"
    )
    keys = []
    try:
        from customers.models import Customer

        for owner in owners:
            customer = Customer.objects.get(pk=owner.customer_id)
            owner.session_key = portal.session_for(customer).session_key
            keys.append(owner.session_key)
        if args.base_url:

            def browser(owner):
                return OverHttp(owner, args.base_url)
        else:
            browser = InProcess
        outcome = run(
            owners,
            concurrency=args.concurrency,
            requests=args.requests,
            browser=browser,
        )
        codes = (
            time_code_requests(owners, args.code_requests)
            if args.code_requests and not args.base_url
            else []
        )
    finally:
        from django.core.cache import cache

        PortalSession.objects.filter(session_key__in=keys).delete()
        cache.delete_many([f"anju.portal_session{key}" for key in keys])

    rows = []
    everything: list[float] = []
    log(f"{'page':<32} {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}  errors")
    for name, result in sorted(outcome["results"].items()):
        values = result.latencies
        everything += values
        if not values:
            log(f"{name:<32} {0:>5} {'-':>7} {'-':>7} {'-':>7}  {result.errors}")
            continue
        row = {
            "page": name,
            "n": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "max_ms": round(max(values), 1),
            "errors": result.errors,
            "error_samples": result.error_samples,
        }
        rows.append(row)
        log(
            f"{name:<32} {row['n']:>5} {row['p50_ms']:>7} {row['p95_ms']:>7} "
            f"{row['max_ms']:>7}  {result.errors} {' '.join(result.error_samples)}"
        )
    summary = {}
    if everything:
        summary = {
            "n": len(everything),
            "p50_ms": round(statistics.median(everything), 1),
            "p95_ms": round(percentile(everything, 0.95), 1),
            "pages_per_second": round(len(everything) / outcome["wall_seconds"], 1),
        }
        met = "met" if summary["p95_ms"] <= TARGET_MS else "NOT met"
        log(
            f"{'all portal pages':<32} {summary['n']:>5} {summary['p50_ms']:>7} "
            f"{summary['p95_ms']:>7}  ({summary['pages_per_second']} pages/s; "
            f"target p95 ≤ {TARGET_MS} ms: {met})"
        )
    if codes:
        log(
            f"{'sign-in code request (POST)':<32} {len(codes):>5} "
            f"{statistics.median(codes):>7.1f} {percentile(codes, 0.95):>7.1f} "
            f"{max(codes):>7.1f}  (the SMS is sent after commit by the worker)"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {"pages": rows, "all": summary, "code_requests_ms": codes},
                ensure_ascii=False,
                indent=2,
            )
        )
    errors = sum(r.errors for r in outcome["results"].values())
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
