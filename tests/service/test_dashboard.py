from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from service import dashboard, services, services_work
from service.models import Contractor, ServiceRequest
from tests.helpers import assert_queries_do_not_grow

URL = reverse("service:dashboard")


def _today_window():
    today = timezone.localdate()
    return today - timedelta(days=60), today


def test_figures_add_up(make_request, units, service_agent, contractor):
    a, b, c, d = (make_request(unit=unit) for unit in units[:4])
    late = make_request(unit=units[4], category="electrical")
    ServiceRequest.objects.filter(pk=late.pk).update(
        resolution_due=timezone.now() - timedelta(hours=1)
    )
    for request in (a, b):
        services.request_start(actor=service_agent, request=request)
        services.request_resolve(actor=service_agent, request=request, note="ok")
    # b was resolved after its deadline; a was called back unhappy and reopened.
    ServiceRequest.objects.filter(pk=b.pk).update(
        resolution_due=timezone.now() - timedelta(hours=1)
    )
    services.request_callback(
        actor=service_agent, request=a, satisfied=False, note="不满意"
    )
    start, end = _today_window()
    board = dashboard.compute(start=start, end=end, project=None)
    t = board.totals
    assert t["received"] == 5 and t["open"] == 5 and t["overdue"] == 1
    # a is back in the queue (not resolved any more); b was resolved, late.
    assert (t["resolved"], t["in_time"], t["compliance"]) == (1, 0, 0.0)
    assert (t["reopened"], t["called_back"], t["reopen_rate"]) == (1, 1, 100.0)
    assert t["respond_hours"] is not None and t["resolve_hours"] is not None
    assert [(r["key"], r["count"], r["share"]) for r in board.by_category] == [
        ("plumbing", 4, 80.0),
        ("electrical", 1, 20.0),
    ]
    assert board.by_building[0]["count"] == 5
    assert [c.units for c in board.clusters] == [4]
    assert board.contractors[0]["name"] == contractor.name
    assert board.satisfaction == []
    assert c.pk and d.pk


def test_project_filter_and_period(make_request, units):
    from sales.models import Project

    make_request(unit=units[0])
    make_request(unit=None, days_ago=200)
    other = Project.objects.create(name="别的楼盘", city="苏州")
    start, end = _today_window()
    assert (
        dashboard.compute(start=start, end=end, project=other).totals["received"] == 0
    )
    board = dashboard.compute(start=start, end=end, project=units[0].building.project)
    assert board.totals["received"] == 1


def test_the_satisfaction_slot_uses_the_surveys_module_when_it_exists(monkeypatch):
    import sys
    import types

    module = types.ModuleType("service.surveys")
    module.satisfaction_by_month = lambda projects=None, months=12: [
        {"month": "2026-01", "project": "p", "index": 86, "months": months}
    ]
    monkeypatch.setitem(sys.modules, "service.surveys", module)
    assert dashboard.satisfaction_by_project(None)[0]["months"] == 12


def test_the_page_is_cached_and_says_how_fresh(client, service_manager, make_request):
    client.force_login(service_manager)
    make_request()
    first = client.get(URL)
    assert first.status_code == 200 and first.context["board"].totals["received"] == 1
    make_request()
    assert client.get(URL).context["board"].totals["received"] == 1
    assert 'data-testid="freshness"' in first.content.decode()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("service_manager", 200),
        ("executive", 200),
        ("administrator", 200),
        ("service_agent", 403),
        ("consultant", 403),
        ("sales_manager", 403),
        ("marketer", 403),
        ("outsider", 403),
    ],
    indirect=["persona"],
)
def test_dashboard_permissions_for_every_role(client, persona, status):
    client.force_login(persona)
    assert client.get(URL).status_code == status


def test_the_dashboard_link_shows_for_managers_only(
    client, service_agent, service_manager
):
    client.force_login(service_agent)
    html = client.get(reverse("service:home")).content.decode()
    assert "service-dashboard-link" not in html
    client.force_login(service_manager)
    assert (
        "service-dashboard-link" in client.get(reverse("service:home")).content.decode()
    )


def test_dashboard_queries_do_not_grow(client, service_manager, make_request, units):
    client.force_login(service_manager)
    names = iter(range(1000))

    def grow():
        for n, unit in enumerate(units):
            request = make_request(unit=unit, category=["plumbing", "design"][n % 2])
            contractor = Contractor.objects.create(name=f"c{next(names)}", trade="x")
            services_work.work_order_create(
                actor=service_manager,
                request=request,
                task="x",
                assignee_kind="contractor",
                contractor=contractor,
            )

    def view():
        cache.clear()
        return client.get(URL)

    make_request(unit=units[0])  # the buildings' names are one query from the first

    assert_queries_do_not_grow(view, grow, at_most=16)


def test_warming_fills_the_cache_the_page_reads(client, service_manager, make_request):
    from sales.models import Project
    from service.tasks import dashboard_warm

    make_request()
    assert dashboard_warm() == 1 + Project.objects.count()  # all, then each
    client.force_login(service_manager)
    board = client.get(URL).context["board"]
    make_request()
    assert client.get(URL).context["board"].computed_at == board.computed_at
    assert board.totals["received"] == 1


def test_service_dashboard_does_not_count_a_reopened_request_as_resolved_in_time(
    service_agent, owner_customer
):
    """An owner not satisfied at the callback reopens the request: it is being worked
    on again, not resolved, so 'Resolved within deadline' must not count it."""
    request = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="complaint",
        category="plumbing",
        severity="normal",
        channel="phone",
        description="卫生间天花板漏水",
    )
    services.request_assign(
        actor=service_agent, request=request, department="engineering", handler=None
    )
    request.refresh_from_db()
    services.request_start(actor=service_agent, request=request)
    services.request_resolve(actor=service_agent, request=request, note="已修")
    services.request_callback(
        actor=service_agent, request=request, satisfied=False, note="仍漏水"
    )
    request.refresh_from_db()
    assert request.status == "in_progress"
    today = timezone.localdate()
    board = dashboard.compute(start=today - timedelta(days=1), end=today, project=None)
    assert board.totals["open"] == 1
    assert board.totals["resolved"] == 0, board.totals
    assert board.totals["in_time"] == 0, board.totals
