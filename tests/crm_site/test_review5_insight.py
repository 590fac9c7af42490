"""Review 5 (insight): the analytics pages and their files, read as an attacker
looking for data leaving its scope or a 500 on odd input.

- a drill-down's banner names only what the user's rows hold, as the explorer's
  filters do (a filter on any user id, signed into the cell's link, named whose it
  was on the list behind it);
- a month the explorer cannot drill into (year 9999) is a message, and the
  follow-up records behind the last month a date can name open without a 500;
- a saved view's name with a line break no longer stops its report from being sent;
- odd input on every insight page and form answers a page, never a 500.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from crm_site import insight, reports
from crm_site.models import ExplorerView, ReportDelivery
from customers.services import interaction_log
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


# --- A drill banner names no one outside the user's rows ------------------------------


@pytest.mark.parametrize(
    "source,list_name",
    [
        ("sales.deals", "sales:opportunity-list"),
        ("sales.stage_durations", "sales:opportunity-list"),
        ("customers.interactions", "customers:interaction-list"),
    ],
)
def test_a_drill_banner_names_no_consultant_outside_the_users_rows(
    client, sales_manager, far_consultant, source, list_name
):
    """The explorer shows a filter on an id its rows do not hold by the id alone
    (filter_labels); the link of the cell it makes signs that filter, and the list
    behind it named the user: any user id typed into the address told whose it was."""
    far_consultant.last_name, far_consultant.first_name = "欧阳", "远"
    far_consultant.save(update_fields=["last_name", "first_name"])
    client.force_login(sales_manager)
    page = client.get(
        reverse("explorer"), {"source": source, "f.consultant": far_consultant.pk}
    )
    assert page.status_code == 200
    assert "欧阳" not in page.content.decode()
    url = page.context["result"].total.url
    assert url.startswith(reverse(list_name))
    drilled = client.get(url)
    assert drilled.status_code == 200
    assert drilled.context["drill"] is not None
    assert "欧阳" not in drilled.content.decode()
    # The id is shown as it was given, by nobody's name.
    assert [v for _label, v in drilled.context["drill"].description] == [
        str(far_consultant.pk)
    ]


def test_a_drill_banner_still_names_the_consultants_of_the_users_rows(
    client, sales_manager, consultant
):
    customer = CustomerFactory(assigned_consultant=consultant)
    interaction_log(customer=customer, kind="call", summary="回访", actor=consultant)
    insight.refresh(only=["customers.interactions"])
    client.force_login(sales_manager)
    page = client.get(
        reverse("explorer"),
        {"source": "customers.interactions", "dim": "consultant"},
    )
    (line,) = page.context["result"].lines
    drilled = client.get(line.total.url)
    assert [v for _label, v in drilled.context["drill"].description] == [
        consultant.display_name
    ]
    assert [row.pk for row in drilled.context["page"].items] == [
        customer.interactions.get().pk
    ]


# --- Months at the end of the calendar ------------------------------------------------


def test_an_explorer_month_filter_in_the_year_9999_is_a_message(client, sales_manager):
    client.force_login(sales_manager)
    for source, key in (
        ("customers.interactions", "f.month"),
        ("sales.deals", "f.month"),
        ("sales.stage_durations", "f.entered_month"),
    ):
        response = client.get(
            reverse("explorer"), {"source": source, key: "9999-12-01"}
        )
        assert response.status_code == 200
        assert "filters" in response.context["query"].errors, source
        assert response.context["result"] is None


def test_the_follow_up_records_behind_the_last_month_a_date_can_name_open(
    client, sales_manager
):
    """A drill into the month 9999-12 (signed before the explorer refused it, or by
    any other page) computed the month after it and answered 500."""
    source = insight.source_named("customers.interactions")
    client.force_login(sales_manager)
    response = client.get(insight.drill_url(source, {"month": "9999-12-01"}))
    assert response.status_code == 200
    assert list(response.context["page"].items) == []


def test_follow_up_records_ending_on_the_last_day_a_date_can_name_answer_a_message(
    client, sales_manager
):
    client.force_login(sales_manager)
    client.raise_request_exception = False
    response = client.get(reverse("customers:interaction-list"), {"end": "9999-12-31"})
    assert response.status_code == 200
    assert response.context["form"].errors["end"]


# --- A report's subject ---------------------------------------------------------------


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_a_view_named_with_a_line_break_still_arrives(sales_manager):
    from tests.crm_site.test_reports import _at, _weekly

    mail.outbox = []
    view = ExplorerView.objects.create(
        owner=sales_manager,
        name="周报\nBcc: someone@example.com",
        source="sales.deals",
        params={"source": ["sales.deals"], "measure": ["deals"], "dim": ["stage"]},
    )
    _weekly(sales_manager, view)
    reports.reports_send(now=_at("2026-12-03"))
    (message,) = mail.outbox
    assert message.to == [sales_manager.email]
    assert message.bcc == []
    assert message.subject.startswith("周报 Bcc: someone@example.com")
    assert ReportDelivery.objects.get().error == ""


# --- Odd input never a 500 ------------------------------------------------------------

ODD = [
    {"start": "9999-12-31", "end": "9999-12-31"},
    {"start": "0001-01-01", "end": "0001-01-01"},
    {"start": "0001-01-01"},
    {"page": "99999999999999999999"},
    {"page": "-1"},
    {"page": "1\x00"},
    {"kind": "visit\x00"},
    {"consultant": "99999999999999999999"},
    {"consultant": "1 OR 1=1"},
    {"drill": "x" * 5000},
    {"project": "99999999999999999999"},
    {"tier": "99999999999999999999"},
    {"months": "99999999999999999999"},
    {"start": "9999-12", "end": "9999-12"},
    {"start": "0001-01", "end": "0001-01"},
    {"end": "0001-01"},
    {"end": "9999-12"},
    {"event": "x\x00"},
    {"period": "x\x00", "project": "1\x00"},
]

PAGES = [
    ("customers:interaction-list", "sales_manager"),
    ("customers:value-list", "executive"),
    ("sales:insight-win-loss", "executive"),
    ("sales:insight-velocity", "sales_manager"),
    ("sales:insight-cohorts", "executive"),
    ("service:insight", "service_manager"),
    ("service:insight-units", "service_manager"),
    ("home", "executive"),
    ("home", "sales_manager"),
    ("report-list", "executive"),
    ("customers:customer-export", "administrator"),
]


@pytest.mark.parametrize("name,persona", PAGES)
def test_odd_query_strings_on_the_insight_pages_are_never_a_500(
    client, request, name, persona
):
    client.force_login(request.getfixturevalue(persona))
    client.raise_request_exception = False
    bad = []
    for params in ODD:
        response = client.get(reverse(name), params)
        if response.status_code >= 500:
            bad.append(params)
    assert not bad


SOURCES = [
    "sales.deals",
    "sales.stage_durations",
    "service.requests",
    "service.work_orders",
    "customers.interactions",
    "customers.value",
]
EXPLORER_ODD = [
    {"dim": "nope"},
    {"dim": "'; DROP TABLE x; --"},
    {"dim": "x\x00"},
    {"measure": "x\x00"},
    {"source": "x\x00"},
    {"add": "x\x00"},
    {"f.month": "9999-12-01"},
    {"f.month": "0001-01-01"},
    {"f.month": ["9999-11-01", "9999-12-01"]},
    {"f.entered_month": ["9999-11-01", "9999-12-01"]},
    {"f.entered_month": ["0001-01-01", "0001-02-01", "0001-03-01"]},
    {"f.project": "99999999999999999999999"},
    {"f.project": "1.5"},
    {"f.tier": "abc"},
    {"f.consultant": "1\x00"},
    {"f.stage": "x" * 300},
    {"f.overdue": "maybe"},
    {"f.answered": "maybe"},
    {"f.x\x00": "1"},
    {"dim": ["month", "month"]},
    {"dim": ["month", "project", "stage"]},
    {"add": "unit"},
]


@pytest.mark.parametrize("url", ["explorer", "explorer-export"])
def test_odd_explorer_parameters_are_never_a_500(client, administrator, url):
    client.force_login(administrator)
    client.raise_request_exception = False
    bad = []
    for source in SOURCES:
        for params in EXPLORER_ODD:
            response = client.get(reverse(url), {"source": source, **params})
            if response.status_code >= 500:
                bad.append((source, params))
    assert not bad


POSTS = [
    ("explorer-view-save", {"name": "x\x00", "source": "sales.deals"}),
    ("explorer-view-save", {"name": "a" * 500, "source": "sales.deals"}),
    ("explorer-view-save", {"name": "ok", "source": "x\x00", "dim": "\x00"}),
    ("explorer-view-save", {"name": "ok", "f.month": "9999-99-99"}),
    ("explorer-view-delete", {"id": "99999999999999999999"}),
    ("explorer-view-delete", {"id": "1\x00"}),
    (
        "report-subscribe",
        {"what": "view", "view": "9" * 20, "frequency": "weekly", "weekday": "9"},
    ),
    ("report-subscribe", {"what": "overview", "frequency": "monthly", "day": "99"}),
    ("report-subscribe", {"what": "overview", "frequency": "monthly", "day": "\x00"}),
    ("report-subscribe", {"what": "overview", "frequency": "weekly", "weekday": "-1"}),
    ("report-subscribe", {"what": "x\x00", "frequency": "x\x00"}),
    ("report-pause", {"id": "99999999999999999999"}),
    ("report-delete", {"id": "-5"}),
]


def test_odd_posts_to_saved_views_and_reports_are_never_a_500(client, sales_manager):
    client.force_login(sales_manager)
    client.raise_request_exception = False
    bad = []
    for name, data in POSTS:
        if client.post(reverse(name), data).status_code >= 500:
            bad.append((name, data))
    assert not bad
