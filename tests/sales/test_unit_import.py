from __future__ import annotations

import io
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from sales.models import Building, Project, Unit
from sales.services import unit_import

HEADER = [
    "楼栋",
    "房号",
    "楼层",
    "位置",
    "户型",
    "建筑面积",
    "套内面积",
    "朝向",
    "表价",
    "底价",
]
GOOD = [
    ["5号楼", "101", "1", "1", "3室2厅2卫", "120.5", "95", "南", "3600000", "3400000"],
    ["5号楼", "102", "1", "2", "2室2厅1卫", "89", "70", "南北", "2700000", ""],
    ["5号楼", "201", "2", "1", "3室2厅2卫", "120.5", "95", "S", "3650000", ""],
]


def xlsx(rows, name="units.xlsx"):
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


@pytest.fixture
def project(db):
    return Project.objects.create(name="安居·新城")


def upload(client, project, file):
    """Upload, let the worker run the dry run, and return the page that shows it."""
    response = client.post(
        reverse("sales:unit-import"), {"project": project.pk, "file": file}
    )
    if response.status_code != 302:
        return response
    token = response["Location"].split("check=")[1]
    unit_import.units_check_run(token=token)
    return client.get(response["Location"])


def test_dry_run_then_import_creates_the_building_and_units(
    client, sales_manager, project
):
    client.force_login(sales_manager)
    dry = upload(client, project, xlsx([HEADER, *GOOD]))
    assert dry.status_code == 200 and dry.context["error_count"] == 0
    assert not Unit.objects.exists()
    done = client.post(reverse("sales:unit-import"), {"token": dry.context["token"]})
    assert done.status_code == 302
    building = Building.objects.get(project=project, name="5号楼")
    assert (
        building.units.count() == 3
        and building.floors == 2
        and building.units_per_floor == 2
    )
    assert Unit.objects.get(number="102").orientation == "NS"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["5号楼", "301", "3", "1", "", "abc", "", "", "3600000", ""], "不是数字"),
        (["5号楼", "301", "三", "1", "", "100", "", "", "3600000", ""], "整数"),
        (["5号楼", "101", "3", "1", "", "100", "", "", "3600000", ""], "出现两次"),
        (["5号楼", "301", "3", "1", "", "100", "120", "", "3600000", ""], "套内面积"),
        (["5号楼", "301", "3", "1", "", "100", "", "北偏东", "3600000", ""], "朝向"),
        (["5号楼", "301", "3", "1", "", "100", "", "", "3600000", "3700000"], "底价"),
    ],
)
def test_a_bad_row_is_reported_and_nothing_is_imported(
    client, sales_manager, project, row, message
):
    client.force_login(sales_manager)
    dry = upload(client, project, xlsx([HEADER, *GOOD, row]))
    assert dry.context["error_count"] == 1
    assert dry.context["token"] == ""
    bad = next(r for r in dry.context["rows"] if not r.ok)
    assert bad.line == 5
    assert not Unit.objects.exists() and not Building.objects.exists()


@pytest.mark.parametrize(
    "file",
    [
        SimpleUploadedFile("units.xlsx", b"not a zip"),
        SimpleUploadedFile("units.txt", b"a,b"),
        SimpleUploadedFile("units.csv", "楼栋,房号\n5号楼,101\n".encode()),
        SimpleUploadedFile("units.csv", ",".join(HEADER).encode()),
    ],
)
def test_bad_files_get_a_clear_message(client, sales_manager, project, file):
    client.force_login(sales_manager)
    response = upload(client, project, file)
    # Refused at once (extension, not a zip) or by the dry run (the columns).
    assert "file" in response.context["form"].errors or response.context["refusal"]
    assert not Unit.objects.exists()


def test_gbk_csv_is_read(client, sales_manager, project):
    text = "\n".join(",".join(r) for r in [HEADER, *GOOD])
    client.force_login(sales_manager)
    dry = upload(
        client, project, SimpleUploadedFile("units.csv", text.encode("gb18030"))
    )
    assert dry.context["error_count"] == 0 and len(dry.context["rows"]) == 3


def test_units_that_exist_already_are_refused(client, sales_manager, project):
    client.force_login(sales_manager)
    dry = upload(client, project, xlsx([HEADER, *GOOD]))
    client.post(reverse("sales:unit-import"), {"token": dry.context["token"]})
    again = upload(client, project, xlsx([HEADER, *GOOD]))
    assert again.context["error_count"] == 3


def test_import_is_for_inventory_managers_and_tokens_are_personal(
    client, sales_manager, consultant, administrator, project
):
    client.force_login(consultant)
    assert client.get(reverse("sales:unit-import")).status_code == 403
    client.force_login(sales_manager)
    token = upload(client, project, xlsx([HEADER, *GOOD])).context["token"]
    client.force_login(administrator)
    client.post(reverse("sales:unit-import"), {"token": token})
    assert not Unit.objects.exists()


def test_the_upload_queues_the_dry_run_and_the_page_polls_until_it_is_done(
    client, sales_manager, project, django_capture_on_commit_callbacks
):
    client.force_login(sales_manager)
    with (
        mock.patch("sales.tasks.unit_import_check.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            reverse("sales:unit-import"),
            {"project": project.pk, "file": xlsx([HEADER, *GOOD])},
        )
    assert response.status_code == 302
    token = response["Location"].split("check=")[1]
    delay.assert_called_once_with(token)
    poll = client.get(response["Location"], headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in poll.content.decode()
    assert "<html" not in poll.content.decode()

    unit_import.units_check_run(token=token)
    unit_import.units_check_run(token=token)  # a second delivery does nothing
    poll = client.get(response["Location"], headers={"HX-Request": "true"})
    assert poll["HX-Refresh"] == "true"
    page = client.get(response["Location"])
    assert page.context["token"] == token and len(page.context["rows"]) == 3
    assert not Unit.objects.exists()


def test_a_dry_run_is_personal(client, sales_manager, administrator, project):
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:unit-import"),
        {"project": project.pk, "file": xlsx([HEADER, *GOOD])},
    )
    client.force_login(administrator)
    assert client.get(response["Location"]).status_code == 302
