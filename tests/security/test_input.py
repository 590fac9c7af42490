"""Bad input is refused, never a 500: pages, dates, numbers, NUL bytes, double sends."""

from __future__ import annotations

import re
import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from crm_site.models import FormSubmission
from crm_site.pagination import paginate
from crm_site.submissions import FIELD, new_token
from crm_site.validation import parse_date, parse_decimal, parse_id
from customers.models import Customer, Interaction
from sales.forms import BuildingGenerateForm, DashboardFilterForm, PaymentPlanForm
from service.forms import WorkOrderForm
from tests.factories import CustomerFactory
from tests.helpers import count_queries

LIST = reverse("customers:customer-list")


def log_url(customer: Customer) -> str:
    return reverse("customers:interaction-create", args=[customer.pk])


# Pages --------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["9", "10000", str(10**30)])
def test_a_page_past_the_end_shows_the_last_page(
    client, sales_manager, consultant, page
):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    client.force_login(sales_manager)
    response = client.get(LIST, {"page": page})
    assert response.status_code == 200
    shown = response.context["page"]
    assert (shown.number, len(shown.items), shown.has_next) == (2, 5, False)
    assert shown.moved
    assert b'data-testid="page-moved"' in response.content


@pytest.mark.parametrize("page", ["-3", "0", "x", "1.5", "١٢", "", " 2 "])
def test_garbage_page_numbers_show_a_page_without_error(
    client, sales_manager, consultant, page
):
    CustomerFactory.create_batch(3, assigned_consultant=consultant)
    client.force_login(sales_manager)
    response = client.get(LIST, {"page": page})
    assert response.status_code == 200
    assert len(response.context["page"].items) in (0, 3)


def test_a_page_inside_the_list_costs_no_count(db, consultant):
    CustomerFactory.create_batch(30, assigned_consultant=consultant)
    qs = Customer.objects.order_by("pk")
    assert count_queries(lambda: paginate(qs, page="2")) == 1
    assert count_queries(lambda: paginate(qs, page="99")) == 3


def test_an_empty_list_stays_on_page_one(db):
    page = paginate(Customer.objects.order_by("pk"), page="7")
    assert (page.number, page.items, page.has_next) == (1, [], False)


def test_plain_lists_are_paginated_past_the_end_too():
    page = paginate(list(range(60)), page=str(10**30), per_page=25)
    assert (page.number, page.items) == (3, list(range(50, 60)))


# Dates and numbers --------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"start": "9999-12-31"},
        {"end": "9999-12-31"},
        {"start": "0001-01-01", "end": "0001-02-01"},
        {"start": "2026-02-30"},
        {"start": "2030-01-01", "end": "2020-01-01"},
        {"project": "1" + "0" * 30},
    ],
)
def test_dashboards_fall_back_to_defaults_on_impossible_dates(
    client, sales_manager, service_manager, query
):
    client.force_login(sales_manager)
    response = client.get(reverse("sales:dashboard"), query)
    assert response.status_code == 200
    assert response.context["form"].errors
    client.force_login(service_manager)
    assert client.get(reverse("service:dashboard"), query).status_code == 200


def test_dashboard_form_names_the_allowed_range():
    form = DashboardFilterForm({"start": "2500-01-01"})
    assert not form.is_valid()
    assert "1900-01-01" in str(form.errors["start"])


@pytest.mark.parametrize("when", ["9999-12-31T10:00", "0001-01-01T10:00"])
def test_work_order_form_refuses_extreme_dates(when):
    form = WorkOrderForm({"appointment_at": when, "due_at": when})
    form.is_valid()
    assert "appointment_at" in form.errors and "due_at" in form.errors


@pytest.mark.parametrize(
    "amount", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 30, "sNaN"]
)
def test_money_fields_refuse_huge_and_non_finite_amounts(amount):
    form = PaymentPlanForm({"scheme": "full", "deposit": amount})
    assert not form.is_valid()
    assert "deposit" in form.errors


def test_building_areas_refuse_non_finite_numbers():
    form = BuildingGenerateForm({"gross_areas": "89, NaN"})
    form.is_valid()
    assert "gross_areas" in form.errors


def test_query_string_helpers_return_none_for_what_cannot_be_meant():
    assert parse_date("2026-02-30") is None
    assert parse_date("9999-12-31") is None
    assert parse_date("2026-03-01") == date(2026, 3, 1)
    assert parse_id("1" + "0" * 30) is None
    assert parse_id("١٢") is None
    assert parse_id("-1") is None
    assert parse_id(" 42 ") == 42
    assert parse_decimal("NaN") is None
    assert parse_decimal("1e400") is None
    assert parse_decimal("128.5") == Decimal("128.5")


def test_deal_list_ignores_an_impossible_reached_window(client, sales_manager):
    client.force_login(sales_manager)
    response = client.get(
        reverse("sales:opportunity-list"),
        {"reached": "contracted", "start": "2026-02-30", "end": "9999-12-31"},
    )
    assert response.status_code == 200 and response.context["reached"] is None


# NUL bytes and control characters -----------------------------------------------


def test_a_nul_byte_in_an_export_filter_is_refused_with_a_page(client, sales_manager):
    client.force_login(sales_manager)
    response = client.get(reverse("customers:customer-export"), {"q": "张\x00"})
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_nul_byte_in_a_posted_field_saves_nothing(client, consultant, own_customer):
    client.force_login(consultant)
    response = client.post(
        log_url(own_customer),
        "kind=call_out&summary=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert not Interaction.objects.filter(customer=own_customer).exists()


def test_a_nul_byte_in_a_url_token_is_refused(client):
    assert client.get("/marketing/u/ab%00cd/").status_code == 400


def test_a_nul_byte_in_a_multipart_field_is_a_form_error(client, consultant):
    client.force_login(consultant)
    response = client.post(
        reverse("customers:register"),
        {"mobile": "186 2222 3333", "name": "周\x00", "kind": "visit"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Customer.objects.exists()


def test_other_control_characters_are_removed_with_a_note(
    client, consultant, own_customer
):
    client.force_login(consultant)
    response = client.post(
        log_url(own_customer),
        "kind=call_out&summary=" + "called%01%1b%7f back",
        content_type="application/x-www-form-urlencoded",
        follow=True,
        headers={"accept-language": "en"},
    )
    assert Interaction.objects.get(customer=own_customer).summary == "called back"
    assert "control characters were removed" in response.content.decode()


# Double submission --------------------------------------------------------------


def test_logging_forms_carry_a_one_time_token(client, consultant, own_customer):
    client.force_login(consultant)
    first = client.get(own_customer.get_absolute_url()).content.decode()
    second = client.get(own_customer.get_absolute_url()).content.decode()
    pattern = rf'name="{FIELD}" value="([^"]+)"'
    assert re.findall(pattern, first) and re.findall(pattern, second)
    assert set(re.findall(pattern, first)).isdisjoint(re.findall(pattern, second))
    assert b"js/submit_once.js" in client.get(LIST).content


def test_a_double_submitted_quick_log_is_logged_once(client, consultant, own_customer):
    client.force_login(consultant)
    data = {"kind": "call_out", "summary": "回访", FIELD: new_token()}
    first = client.post(log_url(own_customer), data)
    second = client.post(
        log_url(own_customer), data, follow=True, headers={"accept-language": "en"}
    )
    assert Interaction.objects.filter(customer=own_customer).count() == 1
    assert first.status_code == 302 and first.url == own_customer.get_absolute_url()
    assert second.redirect_chain[0][0] == own_customer.get_absolute_url()
    assert "saved once" in second.content.decode()


def test_a_double_submitted_htmx_quick_log_is_logged_once(
    client, consultant, own_customer
):
    client.force_login(consultant)
    data = {"kind": "call_out", "summary": "回访", FIELD: new_token()}
    first = client.post(log_url(own_customer), data, HTTP_HX_REQUEST="true")
    second = client.post(log_url(own_customer), data, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and second.status_code == 204
    assert Interaction.objects.filter(customer=own_customer).count() == 1


def test_a_refused_form_leaves_its_token_usable(client, consultant, own_customer):
    client.force_login(consultant)
    token = new_token()
    client.post(
        log_url(own_customer), {"kind": "call_out", "summary": " ", FIELD: token}
    )
    assert not FormSubmission.objects.exists()
    client.post(
        log_url(own_customer), {"kind": "call_out", "summary": "好", FIELD: token}
    )
    assert Interaction.objects.filter(customer=own_customer).count() == 1


def test_a_double_submitted_visit_registration_is_registered_once(client, consultant):
    client.force_login(consultant)
    data = {
        "mobile": "186 2222 3333",
        "name": "周芷若",
        "kind": "visit",
        "source": "walk_in",
        "summary": "",
        FIELD: new_token(),
    }
    first = client.post(reverse("customers:register"), data)
    second = client.post(reverse("customers:register"), data)
    assert Customer.objects.count() == 1 and Interaction.objects.count() == 1
    assert second.url == first.url


def test_posts_without_a_token_behave_as_before(client, consultant, own_customer):
    client.force_login(consultant)
    for _ in range(2):
        client.post(log_url(own_customer), {"kind": "call_out", "summary": "x"})
    assert Interaction.objects.filter(customer=own_customer).count() == 2


def test_old_tokens_are_pruned(db, consultant):
    from datetime import timedelta

    from django.utils import timezone

    from crm_site.submissions import submissions_prune

    FormSubmission.objects.create(
        token="a" * 32, path="/", created_at=timezone.now() - timedelta(days=3)
    )
    FormSubmission.objects.create(token="b" * 32, path="/")
    assert submissions_prune() == 1
    assert submissions_prune() == 0
    assert list(FormSubmission.objects.values_list("token", flat=True)) == ["b" * 32]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_sends_of_one_form_log_once(consultant, own_customer):
    from django.test import Client

    data = {"kind": "call_out", "summary": "同时", FIELD: new_token()}
    statuses = []

    def send():
        client = Client()
        client.force_login(consultant)
        statuses.append(client.post(log_url(own_customer), data).status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302, 302]
    assert Interaction.objects.filter(customer=own_customer).count() == 1


# Found by the fuzz pass -------------------------------------------------------------


def test_a_discount_request_whose_hold_was_released_neither_breaks_nor_applies(
    client, consultant, sales_manager, own_customer
):
    from django.core.exceptions import ValidationError

    from sales import services as sales_services
    from sales.models import DiscountRequest, UnitHold
    from tests.factories import make_building

    building = make_building()
    deal = sales_services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("floor", "position").first()
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    request = DiscountRequest.objects.create(
        opportunity=deal, percent=Decimal("9"), reason="x", requested_by=consultant
    )
    hold = UnitHold.objects.get(opportunity=deal, status=UnitHold.Status.ACTIVE)
    sales_services.unit_release(actor=consultant, hold=hold)
    deal.refresh_from_db()
    assert deal.unit is None
    client.force_login(sales_manager)
    assert client.get(reverse("sales:approval-list")).status_code == 200
    # The release withdrew it (a discount is for the unit it was asked on): an
    # approval now changes nothing.
    request.refresh_from_db()
    assert request.status == DiscountRequest.Status.WITHDRAWN
    sales_services.discount_decide(actor=sales_manager, request=request, approve=True)
    request.refresh_from_db()
    assert request.status == DiscountRequest.Status.WITHDRAWN
    deal.refresh_from_db()
    assert deal.discount_percent == 0
    # A request left waiting on a deal without a unit is refused, never applied.
    DiscountRequest.objects.filter(pk=request.pk).update(
        status=DiscountRequest.Status.PENDING
    )
    with pytest.raises(ValidationError):
        sales_services.discount_decide(
            actor=sales_manager, request=request, approve=True
        )


def test_customer_list_names_a_reversed_contact_window_and_still_answers(
    client, sales_manager
):
    client.force_login(sales_manager)
    response = client.get(
        LIST, {"contact_after": "2026-05-01", "contact_before": "2026-01-01"}
    )
    assert response.status_code == 200
    assert "contact_after" in response.context["form"].errors
    # The user sees why the window was ignored (the cached filter fields carry it).
    assert 'data-testid="filter-errors"' in response.content.decode()
