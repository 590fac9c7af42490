from __future__ import annotations

import csv
import io
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from customers.models import Customer, ExportRecord, Tag
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

EXPORT = reverse("customers:customer-export")
RESIDENT_ID = "11010519491231002X"


@pytest.fixture(autouse=True)
def english(settings):
    # Column headers follow the active language; these tests read the English ones.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def csv_rows(response) -> list[list[str]]:
    content = response.content
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def test_export_is_refused_without_the_export_right(client, consultant, own_customer):
    client.force_login(consultant)
    assert client.get(EXPORT, {"format": "csv"}).status_code == 403
    assert not ExportRecord.objects.exists()


def test_export_csv_has_the_filtered_customers_and_is_recorded(
    client, sales_manager, own_customer, owner_customer
):
    own_customer.tags.add(Tag.objects.create(name="学区房"))
    client.force_login(sales_manager)
    response = client.get(EXPORT, {"format": "csv", "stage": "prospect"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    assert ".csv" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:3] == ["Name", "Mobile", "E-mail"]
    assert len(rows) == 2
    assert rows[1][0] == "张三"
    assert rows[1][1] == "138 0013 8000"  # a sales manager sees full numbers
    assert rows[1][4] == "Prospect"
    assert rows[1][11] == "学区房"
    record = ExportRecord.objects.get()
    assert record.user == sales_manager
    assert record.filters == {"stage": "prospect"}
    assert record.file_format == "csv"
    assert record.row_count == 1


def test_export_xlsx_keeps_masked_numbers_masked_for_marketing(
    client, marketer, own_customer
):
    own_customer.id_type = Customer.IdType.RESIDENT_ID
    own_customer.id_number = RESIDENT_ID
    own_customer.save()
    client.force_login(marketer)
    response = client.get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200
    assert "spreadsheetml" in response["Content-Type"]
    rows = xlsx_rows(response)
    assert rows[0][0] == "Name"
    assert rows[1][0] == "张三"
    assert rows[1][1] == "138****8000"
    assert rows[1][10] == "110***********002X"
    assert "13800138000" not in response.content.decode("latin-1")
    assert ExportRecord.objects.get().file_format == "xlsx"


def test_export_only_contains_customers_the_user_may_see(
    client, sales_manager, own_customer, far_consultant
):
    CustomerFactory(name="远方", assigned_consultant=far_consultant)
    client.force_login(sales_manager)
    names = [row[0] for row in csv_rows(client.get(EXPORT, {"format": "csv"}))[1:]]
    assert names == ["张三"]


def test_export_leaves_out_anonymised_customers_as_the_list_does(
    client, sales_manager, own_customer
):
    gone = CustomerFactory(
        name="已匿名", assigned_consultant=own_customer.assigned_consultant
    )
    Customer.objects.filter(pk=gone.pk).update(anonymised_at="2026-01-01T00:00Z")
    client.force_login(sales_manager)
    names = [row[0] for row in csv_rows(client.get(EXPORT, {"format": "csv"}))[1:]]
    assert names == ["张三"]


def test_export_headers_follow_the_active_language(client, sales_manager):
    client.force_login(sales_manager)
    with translation.override("zh-hans"):
        response = client.get(
            EXPORT, {"format": "csv"}, headers={"Accept-Language": "zh-hans"}
        )
    assert csv_rows(response)[0][0] == "姓名"


def test_export_cells_cannot_run_as_formulas(client, sales_manager, team):
    CustomerFactory(name="=HYPERLINK(1)", company="+cmd", assigned_consultant=None)
    client.force_login(sales_manager)
    rows = csv_rows(client.get(EXPORT, {"format": "csv"}))
    assert rows[1][0] == "'=HYPERLINK(1)"
    assert rows[1][7] == "'+cmd"
    rows = xlsx_rows(client.get(EXPORT, {"format": "xlsx"}))
    assert rows[1][0] == "=HYPERLINK(1)"
    workbook = load_workbook(io.BytesIO(client.get(EXPORT).content))
    assert workbook.active["A2"].data_type == "s"


def test_export_refuses_an_unknown_format(client, sales_manager):
    client.force_login(sales_manager)
    response = client.get(EXPORT, {"format": "pdf", "stage": "owner"})
    assert response.status_code == 302
    assert response.url == reverse("customers:customer-list") + "?stage=owner"
    assert not ExportRecord.objects.exists()


def test_export_refuses_more_rows_than_the_limit(client, sales_manager, own_customer):
    CustomerFactory(assigned_consultant=None)
    client.force_login(sales_manager)
    with mock.patch("customers.services.imports.EXPORT_MAX_ROWS", 1):
        response = client.get(EXPORT, {"format": "csv"})
    assert response.status_code == 302
    assert not ExportRecord.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "More than 1 customers match" in messages[0]


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_query_count_does_not_grow_with_rows(
    client, sales_manager, consultant, file_format
):
    client.force_login(sales_manager)
    tag = Tag.objects.create(name="学区房")

    def grow():
        for _ in range(5):
            customer = CustomerFactory(assigned_consultant=consultant)
            customer.tags.add(tag)

    grow()
    assert_queries_do_not_grow(
        lambda: client.get(EXPORT, {"format": file_format, "q": "1"}),
        grow,
        at_most=12,
    )
