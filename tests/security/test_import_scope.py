"""Imports stay in scope: an import row may create or update only the customers the
importer may edit on the customer page, and a refused row says nothing more than the
file itself said."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from crm_site.models import AuditEntry, User
from customers.models import Customer, ImportChange, ImportJob
from customers.services import imports
from tests.factories import CustomerFactory

HEADER = "姓名,手机,备注\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def grant(user: User, *codenames: str) -> User:
    """The user with extra customer permissions, re-read so no permission is cached."""
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="customers", codename__in=codenames
        )
    )
    return User.objects.get(pk=user.pk)


def revoke(user: User, *codenames: str) -> None:
    user.user_permissions.remove(
        *Permission.objects.filter(
            content_type__app_label="customers", codename__in=codenames
        )
    )


def checked(actor: User, text: str) -> ImportJob:
    upload = SimpleUploadedFile("客户.csv", text.encode("utf-8-sig"))
    job = imports.import_upload(actor=actor, uploaded_file=upload)
    return imports.import_check(job=job, mapping=job.mapping)


def run(job: ImportJob) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def preview(job: ImportJob) -> dict[int, dict]:
    return {row["row"]: row for row in job.preview}


@pytest.fixture
def importing_consultant(consultant) -> User:
    """A consultant an administrator has given the import right."""
    return grant(consultant, "import_customer")


@pytest.fixture
def far_customer(far_consultant) -> Customer:
    return CustomerFactory(
        name="远方", mobile="+8613912345678", assigned_consultant=far_consultant
    )


def test_a_consultant_importing_a_colleagues_customer_gets_the_row_rejected(
    importing_consultant, others_customer
):
    notes_before = others_customer.notes
    job = checked(importing_consultant, HEADER + "改名,13900139000,覆盖\n")
    row = preview(job)[2]
    assert row["verdict"] == "invalid"
    assert row["reason"] == imports.out_of_scope_reason()
    job = run(job)
    assert (job.updated_count, job.invalid_count) == (0, 1)
    others_customer.refresh_from_db()
    assert (others_customer.name, others_customer.notes) == ("赵六", notes_before)
    assert not ImportChange.objects.exists()
    assert not AuditEntry.objects.filter(object_id=others_customer.pk).exists()


def test_a_consultant_importing_another_teams_customer_gets_the_row_rejected(
    importing_consultant, far_customer
):
    job = run(checked(importing_consultant, HEADER + "改名,13912345678,覆盖\n"))
    assert (job.created_count, job.updated_count, job.invalid_count) == (0, 0, 1)
    far_customer.refresh_from_db()
    assert (far_customer.name, far_customer.notes) == ("远方", "")


def test_a_consultant_updates_their_own_customers_and_owns_those_they_import(
    importing_consultant, own_customer
):
    job = run(
        checked(
            importing_consultant,
            HEADER + "张三,13800138000,新备注\n新客户,13812345678,\n",
        )
    )
    assert (job.created_count, job.updated_count) == (1, 1)
    own_customer.refresh_from_db()
    assert own_customer.notes == "新备注"
    created = Customer.objects.get(mobile="+8613812345678")
    # Like the new-customer form: what a consultant brings in is theirs to edit.
    assert created.assigned_consultant == importing_consultant
    assert Customer.objects.editable_by(importing_consultant).filter(pk=created.pk)


def test_a_consultant_may_not_import_into_the_public_pool(
    importing_consultant, pool_customer
):
    job = run(checked(importing_consultant, HEADER + "钱七,13700137000,抢客\n"))
    assert job.invalid_count == 1
    pool_customer.refresh_from_db()
    assert pool_customer.notes == ""


def test_a_sales_manager_updates_their_teams_customers_only(
    sales_manager, own_customer, others_customer, far_customer
):
    job = run(
        checked(
            sales_manager,
            HEADER
            + "张三,13800138000,一组一\n赵六,13900139000,一组二\n远方,13912345678,二组\n",
        )
    )
    assert (job.updated_count, job.invalid_count) == (2, 1)
    own_customer.refresh_from_db()
    others_customer.refresh_from_db()
    far_customer.refresh_from_db()
    assert (own_customer.notes, others_customer.notes) == ("一组一", "一组二")
    assert far_customer.notes == ""


@pytest.mark.parametrize(
    "url_name",
    ["customers:import-list", "customers:import-upload"],
)
def test_a_marketer_cannot_import(client, marketer, url_name):
    client.force_login(marketer)
    assert client.get(reverse(url_name)).status_code == 403
    upload = SimpleUploadedFile("客户.csv", (HEADER + "王五,13812345678,\n").encode())
    response = client.post(reverse("customers:import-upload"), {"file": upload})
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_the_import_right_alone_is_not_enough_even_in_the_services(marketer):
    # The marketing role held import_customer; without the edit right it means nothing.
    marketer = grant(marketer, "import_customer")
    upload = SimpleUploadedFile("客户.csv", (HEADER + "王五,13812345678,\n").encode())
    with pytest.raises(imports.ImportRefused):
        imports.import_upload(actor=marketer, uploaded_file=upload)
    assert not ImportJob.objects.exists()


def test_the_pages_of_a_users_import_are_refused_once_the_edit_right_is_gone(
    client, importing_consultant
):
    job = checked(importing_consultant, HEADER + "王五,13812345678,\n")
    revoke(importing_consultant, "change_customer")
    importing_consultant.groups.clear()
    client.force_login(importing_consultant)
    url = reverse("customers:import-detail", args=[job.pk])
    assert client.get(url).status_code == 403


def test_the_dry_run_verdict_says_nothing_the_file_did_not(
    importing_consultant, far_customer, far_consultant
):
    job = checked(importing_consultant, HEADER + "随便,13912345678,\n")
    row = preview(job)[2]
    assert row == {
        "row": 2,
        "verdict": "invalid",
        "name": "随便",
        "mobile": "+8613912345678",
        "reason": imports.out_of_scope_reason(),
    }
    text = str(job.preview)
    assert "远方" not in text
    assert far_consultant.display_name not in text
    assert job.updated_count == 0


def test_without_the_add_right_an_unknown_and_a_foreign_number_look_the_same(
    service_agent, far_customer
):
    # A service agent may edit owners only and may not add customers: for them a
    # number nobody has and a number someone else's customer has get one verdict.
    agent = grant(service_agent, "import_customer")
    job = checked(agent, HEADER + "甲,13912345678,\n乙,13812345678,\n")
    rows = preview(job)
    assert (rows[2]["verdict"], rows[2]["reason"]) == (
        rows[3]["verdict"],
        rows[3]["reason"],
    )
    assert rows[2]["reason"] == imports.out_of_scope_reason()
    assert (job.created_count, job.updated_count, job.invalid_count) == (0, 0, 2)


def test_the_run_checks_the_scope_again_when_owners_changed_since_the_dry_run(
    importing_consultant, own_customer, far_consultant
):
    job = checked(importing_consultant, HEADER + "张三,13800138000,晚了\n")
    assert preview(job)[2]["verdict"] == "updated"
    Customer.objects.filter(pk=own_customer.pk).update(
        assigned_consultant=far_consultant
    )
    job = run(job)
    assert (job.updated_count, job.invalid_count) == (0, 1)
    own_customer.refresh_from_db()
    assert own_customer.notes == ""
    assert job.rejected_file


def test_the_run_fails_without_changes_when_the_importer_lost_the_right(
    importing_consultant, own_customer
):
    job = checked(importing_consultant, HEADER + "张三,13800138000,晚了\n")
    revoke(importing_consultant, "import_customer")
    job = run(job)
    assert job.status == ImportJob.Status.FAILED
    own_customer.refresh_from_db()
    assert own_customer.notes == ""


def test_revert_restores_only_customers_the_reverter_may_still_edit(
    sales_manager, own_customer, others_customer, far_consultant
):
    job = run(
        checked(
            sales_manager, HEADER + "张三,13800138000,改一\n赵六,13900139000,改二\n"
        )
    )
    assert job.updated_count == 2
    # One of them moves to another team after the import.
    Customer.objects.filter(pk=others_customer.pk).update(
        assigned_consultant=far_consultant, notes="二组的记录"
    )
    result = imports.import_revert(job=job, actor=sales_manager)
    assert (result.restored, result.out_of_scope) == (1, 1)
    own_customer.refresh_from_db()
    others_customer.refresh_from_db()
    assert own_customer.notes == ""
    assert others_customer.notes == "二组的记录"


def test_revert_keeps_a_created_customer_another_team_has_taken(
    importing_consultant, far_consultant
):
    job = run(checked(importing_consultant, HEADER + "新客户,13812345678,\n"))
    created = Customer.objects.get(mobile="+8613812345678")
    Customer.objects.filter(pk=created.pk).update(assigned_consultant=far_consultant)
    result = imports.import_revert(job=job, actor=importing_consultant)
    assert (result.deleted, result.out_of_scope, result.kept) == (0, 1, [])
    assert Customer.objects.filter(pk=created.pk).exists()


def test_the_revert_page_says_how_many_were_left_without_naming_them(
    client, sales_manager, others_customer, far_consultant
):
    job = run(checked(sales_manager, HEADER + "赵六,13900139000,改二\n"))
    Customer.objects.filter(pk=others_customer.pk).update(
        assigned_consultant=far_consultant
    )
    client.force_login(sales_manager)
    response = client.post(
        reverse("customers:import-revert", args=[job.pk]), follow=True
    )
    body = response.content.decode()
    assert "1 customers were left as they are" in body
    assert "赵六" not in body
