#!/usr/bin/env python
"""Where does a page's time go? Renders the busiest pages in this process with
Django's test client and splits each one's time: SQL, templates, forms, permission and
scope checks, panels, middleware, context processors, the ORM's Python side, ...

    python bench/profile_pages.py                       # every page, 10 warm runs each
    python bench/profile_pages.py --runs 20 --pages customer,search
    python bench/profile_pages.py --json                # also bench/out/profile.json

Needs the bench data (bench/generate.py, sales_generate.py, service_generate.py) and
bench/out/sample.json (the heavy customer, sample phone numbers and names). No HTTP,
no gunicorn: the view, its middleware and its templates run here, as they would in a
worker, so the figures are the per-request cost of the application itself.

Each page is rendered in three passes of --runs warm requests (after --warmup):

1. timing, nothing else attached: total ms, queries and SQL ms (a
   ``connection.execute_wrapper``), template rendering ms (``Template.render`` wrapped,
   outermost template only, with the SQL run while rendering counted apart);
2. categories: a profile hook that knows, at every call and return, which categories
   have a frame on the stack; a category's time is the time during which at least one
   of its frames is on the stack (so a form that renders a template that renders the
   form again is not counted twice). The hook slows Python down more than the
   database, so the table shows each category's share of that traced run and that
   share of the untraced total (≈ ms);
3. cProfile: the ten functions with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

PASSWORDLESS_NOTE = "users are logged in with force_login (no password needed)"

# --- What is measured -------------------------------------------------------------


@dataclass
class Page:
    name: str
    username: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def build_pages(sample: dict, ids: dict[str, int | None]) -> list[Page]:
    """The pages of issue 13, as the users who work on them see them."""
    from django.urls import reverse

    heavy = sample["heavy_customer_id"]
    phone = sample["phones"][0]
    name = sample["names"][0]
    pages = [
        Page("customer page (heavy, 200 interactions)", "sales_manager",
             reverse("customers:customer-detail", args=[heavy])),
        Page("customer list (first page)", "sales_manager", reverse("customers:customer-list")),
        Page("search: phone digits", "sales_manager",
             f"{reverse('customers:customer-list')}?{urlencode({'q': phone})}"),
        Page("search: name", "sales_manager",
             f"{reverse('customers:customer-list')}?{urlencode({'q': name})}"),
        Page("my day (consultant)", "consultant", reverse("sales:my-day")),
    ]  # fmt: skip
    if ids["building"]:
        pages.append(
            Page(
                "sales-control grid",
                "consultant",
                reverse("sales:building-grid", args=[ids["building"]]),
            )
        )
    if ids["service_request"]:
        pages.append(
            Page(
                "service request page",
                "service_agent",
                reverse("service:request-detail", args=[ids["service_request"]]),
            )
        )
    return pages


# --- Categories --------------------------------------------------------------------
#
# A category is a set of code locations. A pattern is "path fragment" (any function
# in a file whose path contains it), "path fragment:function" (that function there)
# or "*:function" (a function of that name in any file). Paths use "/" and are
# matched against the full file name, e.g. ".../site-packages/django/forms/forms.py".
#
# A category's time is the time during which one of its frames is on the stack and
# no frame of its `stop_at` patterns was called from inside it: the permission
# decorator wraps the whole view, so the view's own code stops it; middleware wraps
# everything below it, so the request handler's _get_response (the view, its
# templates) stops it; templates stop at the SQL they trigger.
#
# Every category but SQL also stops at the SQL it runs: the rows are Python time, and
# SQL is its own row (exact, from the timing pass). Categories overlap on purpose:
# forms render templates, a permission check may run in a template, the ORM runs
# everywhere. Each row answers "how long was this code busy".

SQL_WRAPPER = "bench/profile_pages.py:_timed_query"  # the execute wrapper below
VIEW_CODE = ["/views.py", "/views/", "/views_"]  # the application's view modules
HANDLER = "django/core/handlers/base.py:_get_response"  # URL resolving to response
SQL_NAME = "SQL (database + driver)"


@dataclass
class Category:
    name: str
    patterns: list[str]
    stop_at: list[str] = field(default_factory=list)


def middleware_patterns() -> list[str]:
    """Each middleware in settings.MIDDLEWARE: its module's file."""
    from django.conf import settings

    files = [m.rsplit(".", 1)[0].replace(".", "/") + ".py" for m in settings.MIDDLEWARE]
    # Old-style middleware runs through MiddlewareMixin.__call__.
    return [*files, "django/utils/deprecation.py:__call__"]


def context_processor_patterns() -> list[str]:
    """Each context processor in settings.TEMPLATES: that function in its module."""
    from django.conf import settings

    patterns = []
    for engine in settings.TEMPLATES:
        for dotted in engine.get("OPTIONS", {}).get("context_processors", []):
            module, function = dotted.rsplit(".", 1)
            patterns.append(f"{module.replace('.', '/')}.py:{function}")
    return patterns


def build_categories() -> list[Category]:
    return [
        Category(SQL_NAME, [SQL_WRAPPER]),
        Category("templates", ["django/template/", "/templatetags/"]),
        Category("forms (excl. ORM)",
                 ["django/forms/", "/forms.py", "crm_site/widgets.py"],
                 stop_at=["django/db/"]),
        Category("permissions & scope checks",
                 ["crm_site/permissions.py", "crm_site/roles.py",
                  "crm_site/auth_backends.py", "django/contrib/auth/backends.py",
                  "*:has_perm", "*:has_perms", "*:visible_to", "*:editable_by",
                  "*:_scope"],
                 stop_at=VIEW_CODE),
        Category("panels (panels.for_customer)", ["crm_site/panels.py:for_customer"]),
        Category("middleware (own, excl. the view)", middleware_patterns(),
                 stop_at=[HANDLER]),
        Category("session & user loading",
                 ["django/contrib/sessions/backends/",
                  "django/contrib/auth/__init__.py:get_user"]),
        Category("context processors", context_processor_patterns()),
        Category("ORM (building queries, making objects)", ["django/db/"]),
        Category("translation (gettext, activate)", ["django/utils/translation/"]),
        Category("URL reversing", ["django/urls/base.py:reverse"]),
    ]  # fmt: skip


class CategoryTracer:
    """A sys.setprofile hook: time during which each category "has the stack".

    For each category it keeps a stack of markers, one per frame that is either the
    category's (True) or one of its stops (False); the category is counting while the
    innermost marker is True. Only Python calls and returns are looked at (C calls
    are part of their caller). Each code object is classified once; time is added up
    whenever the set of counting categories changes."""

    def __init__(self, categories: list[Category]) -> None:
        self.categories = categories
        self.names = [c.name for c in categories]
        self._rules: list[tuple[int, bool, str, str | None]] = []
        for index, category in enumerate(categories):
            stops = category.stop_at
            if SQL_WRAPPER not in category.patterns:
                stops = [*stops, SQL_WRAPPER]
            for is_stop, patterns in ((False, category.patterns), (True, stops)):
                for pattern in patterns:
                    path, _, function = pattern.partition(":")
                    self._rules.append((index, is_stop, path, function or None))
        self._code_marks: dict[Any, tuple[tuple[int, bool], ...]] = {}
        self._marks: list[list[bool]] = [[] for _ in categories]
        self._frames: list[tuple[tuple[int, bool], ...]] = []
        self.counting = 0  # bit i: category i is counting
        self.totals = [0.0] * len(categories)
        self._since = 0.0

    def _classify(self, code: Any) -> tuple[tuple[int, bool], ...]:
        filename = code.co_filename.replace("\\", "/")
        marks: dict[int, bool] = {}
        for index, is_stop, path, function in self._rules:
            if path != "*" and path not in filename:
                continue
            if function is not None and code.co_name != function:
                continue
            # A frame that is both the category's and a stop counts as the category's.
            marks[index] = marks.get(index, False) or not is_stop
        return tuple(marks.items())

    def _set(self, index: int, on: bool) -> None:
        bit = 1 << index
        if bool(self.counting & bit) == on:
            return
        now = time.perf_counter()
        elapsed = now - self._since
        counting = self.counting
        i = 0
        while counting:
            if counting & 1:
                self.totals[i] += elapsed
            counting >>= 1
            i += 1
        self._since = now
        self.counting ^= bit

    def hook(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            marks = self._code_marks.get(code)
            if marks is None:
                marks = self._code_marks[code] = self._classify(code)
            self._frames.append(marks)
            for index, mark in marks:
                self._marks[index].append(mark)
                self._set(index, mark)
        elif event == "return":
            if not self._frames:
                return  # a frame that was running when the hook was set
            for index, _mark in self._frames.pop():
                stack = self._marks[index]
                stack.pop()
                self._set(index, bool(stack) and stack[-1])

    def __enter__(self) -> CategoryTracer:
        self._since = time.perf_counter()
        sys.setprofile(self.hook)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        for index in range(len(self.categories)):
            self._set(index, False)
        self._frames.clear()
        self._marks = [[] for _ in self.categories]


# --- Timing pass: SQL and templates ------------------------------------------------


class Timings:
    """Queries and template rendering of one request, without any profiler."""

    def __init__(self) -> None:
        self.queries = 0
        self.sql = 0.0
        self.template = 0.0
        self.sql_in_templates = 0.0
        self._template_depth = 0


_current: Timings | None = None


def _timed_query(execute: Callable, sql: str, params: Any, many: bool, context: Any):
    """The execute wrapper (its frame is also the tracer's "SQL" category)."""
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        if _current is not None:
            elapsed = time.perf_counter() - started
            _current.queries += 1
            _current.sql += elapsed
            if _current._template_depth:
                _current.sql_in_templates += elapsed


def instrument_templates() -> None:
    """Time the outermost Template.render of each request (includes included ones)."""
    from django.template.base import Template

    original = Template.render

    def render(self: Template, context: Any) -> Any:
        timings = _current
        if timings is None:
            return original(self, context)
        timings._template_depth += 1
        started = time.perf_counter()
        try:
            return original(self, context)
        finally:
            timings._template_depth -= 1
            if not timings._template_depth:
                timings.template += time.perf_counter() - started

    Template.render = render


# --- Running the pages ------------------------------------------------------------


@dataclass
class PageResult:
    page: Page
    status: int
    runs: int
    total_ms: float
    total_p50_ms: float
    queries: float
    sql_ms: float
    template_ms: float
    sql_in_templates_ms: float
    traced_ms: float
    categories: dict[str, float]  # traced ms per run
    estimates: dict[str, float]  # ≈ untraced ms per run
    top: list[dict[str, Any]]


def short(filename: str) -> str:
    for marker in ("site-packages/", str(common.ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def profile_page(
    client: Any, page: Page, *, runs: int, warmup: int, top: int
) -> PageResult:
    global _current
    from django.db import connection

    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v for k, v in page.headers.items()
    }

    def get() -> Any:
        return client.get(page.url, secure=True, **headers)

    status = 0
    for _ in range(warmup):
        status = get().status_code
    # 1. Timing.
    totals, runs_timings = [], []
    with connection.execute_wrapper(_timed_query):
        for _ in range(runs):
            _current = Timings()
            started = time.perf_counter()
            status = get().status_code
            totals.append(time.perf_counter() - started)
            runs_timings.append(_current)
            _current = None
    # 2. Categories.
    tracer = CategoryTracer(build_categories())
    traced = 0.0
    with connection.execute_wrapper(_timed_query):
        for _ in range(runs):
            started = time.perf_counter()
            with tracer:
                get()
            traced += time.perf_counter() - started
    # 3. cProfile.
    profiler = cProfile.Profile()
    for _ in range(runs):
        profiler.enable()
        get()
        profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    functions = [
        {
            "function": f"{short(file)}:{line}({name})",
            "own_ms": tt / runs * 1000,
            "cumulative_ms": ct / runs * 1000,
            "calls": nc / runs,
        }
        for (file, line, name), (_cc, nc, tt, ct, _callers) in rows[:top]
    ]

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) * 1000

    categories = {
        name: total / runs * 1000
        for name, total in zip(tracer.names, tracer.totals, strict=True)
    }
    total_ms, sql_ms = mean(totals), mean([t.sql for t in runs_timings])
    # The hook slows Python down, not the database: scale the Python rows by the
    # untraced / traced Python time; the SQL row is the exact figure.
    traced_sql = categories[SQL_NAME]
    factor = (total_ms - sql_ms) / max(traced / runs * 1000 - traced_sql, 1e-9)
    estimates = {
        name: sql_ms if name == SQL_NAME else ms * factor
        for name, ms in categories.items()
    }
    return PageResult(
        page=page,
        status=status,
        runs=runs,
        total_ms=total_ms,
        total_p50_ms=statistics.median(totals) * 1000,
        queries=statistics.fmean(t.queries for t in runs_timings),
        sql_ms=sql_ms,
        template_ms=mean([t.template for t in runs_timings]),
        sql_in_templates_ms=mean([t.sql_in_templates for t in runs_timings]),
        traced_ms=traced / runs * 1000,
        categories=categories,
        estimates=estimates,
        top=functions,
    )


def print_result(r: PageResult) -> None:
    p = r.page
    print(f"\n== {p.name}: {p.url} as {p.username} (HTTP {r.status}, {r.runs} runs)")
    print(
        f"   total {r.total_ms:.1f} ms (p50 {r.total_p50_ms:.1f}) | "
        f"SQL {r.sql_ms:.1f} ms in {r.queries:.0f} queries | "
        f"templates {r.template_ms:.1f} ms (SQL inside: {r.sql_in_templates_ms:.1f}) | "
        f"Python outside SQL+templates "
        f"{r.total_ms - r.sql_ms - r.template_ms + r.sql_in_templates_ms:.1f} ms"
    )
    print(
        f"   {'category (Python time unless SQL)':<44} {'≈ ms':>7} {'share':>6}"
        f" {'traced ms':>10}"
    )
    for name, ms in r.estimates.items():
        share = ms / r.total_ms if r.total_ms else 0.0
        print(f"   {name:<44} {ms:>7.1f} {share:>6.0%} {r.categories[name]:>10.1f}")
    print(
        f"   (traced run: {r.traced_ms:.0f} ms; ≈ ms = traced × untraced/traced Python)"
    )
    print(f"   top {len(r.top)} functions by own time (cProfile, per run)")
    print(f"   {'own ms':>8} {'cum ms':>8} {'calls':>7}  function")
    for row in r.top:
        print(
            f"   {row['own_ms']:>8.2f} {row['cumulative_ms']:>8.1f} "
            f"{row['calls']:>7.0f}  {row['function']}"
        )


def print_summary(results: list[PageResult]) -> None:
    def approx(r: PageResult, prefix: str) -> float:
        return next(v for n, v in r.estimates.items() if n.startswith(prefix))

    print(
        f"\n{'page':<42} {'total ms':>9} {'SQL ms':>7} {'queries':>7} "
        f"{'tmpl ms':>8} {'forms':>6} {'perms':>6} {'panels':>6} {'mw':>5}"
    )
    for r in results:
        print(
            f"{r.page.name:<42} {r.total_ms:>9.1f} {r.sql_ms:>7.1f} {r.queries:>7.0f} "
            f"{r.template_ms:>8.1f} {approx(r, 'forms'):>6.1f} "
            f"{approx(r, 'permissions'):>6.1f} {approx(r, 'panels'):>6.1f} "
            f"{approx(r, 'middleware'):>5.1f}"
        )
    print("(tmpl ms: measured, SQL inside included; forms, perms, panels, mw: ≈ ms)")


# --- Main -------------------------------------------------------------------------


def find_ids(args: argparse.Namespace) -> dict[str, int | None]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from sales.models import Building
    from service.models import ServiceRequest

    building = args.building
    if building is None:
        # bench/sales_generate.py's grid building (33 floors × 8), else any building.
        grid = (
            Building.objects.filter(name="基准1号楼").first()
            or Building.objects.order_by("id").first()
        )
        building = grid.pk if grid else None
    request_id = args.service_request
    if request_id is None:
        agent = get_user_model().objects.get(username="service_agent")
        recent = ServiceRequest.objects.visible_to(agent).order_by("-id")
        # A busy one among the latest: the most steps.
        chosen = (
            ServiceRequest.objects.filter(pk__in=recent.values("pk")[:2000])
            .annotate(n=Count("steps"))
            .order_by("-n", "-id")
            .first()
        )
        request_id = chosen.pk if chosen else None
    return {"building": building, "service_request": request_id}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="warm runs per pass")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests")
    parser.add_argument("--top", type=int, default=10, help="functions by own time")
    parser.add_argument("--sample", type=Path, default=common.SAMPLE_FILE)
    parser.add_argument(
        "--pages", help="comma-separated words; only pages whose name has one"
    )
    parser.add_argument("--building", type=int, help="grid building id")
    parser.add_argument("--service-request", type=int, help="service request id")
    parser.add_argument(
        "--json",
        nargs="?",
        const=common.OUT / "profile.json",
        type=Path,
        help="also write the results as JSON (default bench/out/profile.json)",
    )
    args = parser.parse_args()
    if not 1 <= args.runs <= 1000:
        parser.error("--runs must be between 1 and 1000")
    if not args.sample.exists():
        parser.error(f"{args.sample} not found: run bench/generate.py first")
    sample = json.loads(args.sample.read_text())
    common.django_setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    instrument_templates()
    pages = build_pages(sample, find_ids(args))
    if args.pages:
        words = [w.strip() for w in args.pages.split(",") if w.strip()]
        pages = [p for p in pages if any(w in p.name for w in words)]
    users = get_user_model().objects
    clients: dict[str, Client] = {}
    print(
        f"Database {connection.settings_dict['NAME']}; {args.runs} runs per pass after "
        f"{args.warmup} warm-up; DEBUG={settings.DEBUG}; {PASSWORDLESS_NOTE}"
    )
    results = []
    for page in pages:
        client = clients.get(page.username)
        if client is None:
            client = clients[page.username] = Client()
            client.force_login(users.get(username=page.username))
        result = profile_page(
            client, page, runs=args.runs, warmup=args.warmup, top=args.top
        )
        print_result(result)
        results.append(result)
    print_summary(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                [{**r.__dict__, "page": r.page.__dict__} for r in results],
                ensure_ascii=False,
                indent=1,
            )
        )
        print(f"\nWritten to {args.json}")
    return 0 if all(r.status == 200 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
