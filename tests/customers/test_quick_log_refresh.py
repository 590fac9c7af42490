"""A quick log on the customer page refreshes what it changed elsewhere on the page,
out of band (issue 12, item 5)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site import panels
from customers import services
from customers.models import Interaction
from sales.models import Project, Registration


@pytest.fixture
def project(team):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    return project


# Customer, scope check (the session's user comes from the cache); the log with sales' renewal of protection
# (savepoints, projects, registration, update, event); then the answer: the customer
# read again, the timeline page and its authors, tags and the protection panel's
# three lists.
QUICK_LOG_QUERIES = 19


def log_url(customer):
    return reverse("customers:interaction-create", args=[customer.pk])


def oob_ids(body: str) -> list[str]:
    return re.findall(r'<\w+[^>]*? id="([\w-]+)"[^>]*hx-swap-oob="true"', body)


def test_a_quick_log_answers_with_the_heading_dates_and_the_protection_panel(
    client, consultant, own_customer, project
):
    client.force_login(consultant)
    follow_up = timezone.localdate() + timedelta(days=3)
    response = client.post(
        log_url(own_customer),
        {"kind": "visit", "summary": "看样板间", "next_follow_up": follow_up},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="quick-log-and-timeline">')
    assert oob_ids(body) == [
        "customer-heading",
        "customer-activity",
        panels.dom_id("sales/_customer_panel.html"),
    ]
    activity = body[body.index('id="customer-activity"') :]
    assert follow_up.isoformat() in activity.split("</dl>")[0]
    assert timezone.localdate().isoformat() in activity.split("</dl>")[0]
    # The visit registered the customer at the project: the panel shows it.
    registration = Registration.objects.get(customer=own_customer)
    panel = body[body.index(f'id="{panels.dom_id("sales/_customer_panel.html")}"') :]
    assert project.name in panel
    assert f"{timezone.localtime(registration.protected_until):%Y-%m-%d}" in panel
    # Panels that do not follow the timeline are left alone.
    assert "panel-marketing" not in body


def test_the_page_wraps_each_panel_where_the_swap_finds_it(
    client, consultant, own_customer, project
):
    client.force_login(consultant)
    page = client.get(own_customer.get_absolute_url()).content.decode()
    for element in ("customer-heading", "customer-activity"):
        assert f'id="{element}"' in page
    # The panels load right after the page, each in the element the swap finds.
    panels_url = reverse("customers:customer-panels", args=[own_customer.pk])
    assert f'hx-get="{panels_url}"' in page
    loaded = client.get(panels_url).content.decode()
    assert f'<div id="{panels.dom_id("sales/_customer_panel.html")}">' in loaded
    assert 'hx-swap-oob="true"' not in page + loaded


def test_a_refused_quick_log_swaps_nothing_out_of_band(
    client, consultant, own_customer
):
    client.force_login(consultant)
    response = client.post(
        log_url(own_customer), {"kind": "visit", "summary": " "}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "invalid-feedback" in body and oob_ids(body) == []
    assert not Interaction.objects.exists()


def test_the_quick_log_answer_takes_a_fixed_number_of_queries(
    client, consultant, own_customer, project, django_assert_num_queries
):
    """The count does not grow with the timeline, the protection history or deals."""
    client.force_login(consultant)

    def log(n: int) -> None:
        response = client.post(
            log_url(own_customer),
            {"kind": "call_out", "summary": f"回访{n}"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200

    log(0)  # registers the customer at the project; warms permissions
    with django_assert_num_queries(QUICK_LOG_QUERIES):
        log(1)
    for n in range(30):
        services.interaction_log(
            customer=own_customer, kind="visit", summary=str(n), actor=consultant
        )
    with django_assert_num_queries(QUICK_LOG_QUERIES):
        log(2)
