from __future__ import annotations

import csv
import io
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from crm_site.models import AuditEntry
from customers import services
from customers.identity import id_number_hash
from customers.models import Customer, ImportChange, ImportJob, Interaction, Tag
from customers.services import imports
from customers.services.imports import PREVIEW_ROWS
from tests.factories import CustomerFactory

# A valid resident ID (the check digit is right).
RESIDENT_ID = "11010519491231002X"

HEADER = "姓名,手机,邮箱,性别,来源,阶段,标签,备注\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    # Reasons and messages are asserted in the English source strings.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def csv_file(text: str, *, name: str = "客户.csv", encoding: str = "utf-8-sig"):
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def xlsx_file(rows: list[list[object]], *, name: str = "客户.xlsx"):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return SimpleUploadedFile(name, out.getvalue())


def upload(actor, text: str, **kwargs) -> ImportJob:
    return imports.import_upload(actor=actor, uploaded_file=csv_file(text, **kwargs))


def checked(actor, text: str) -> ImportJob:
    job = upload(actor, text)
    return imports.import_check(job=job, mapping=job.mapping)


def run(job: ImportJob) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def verdicts(job: ImportJob) -> dict[int, tuple[str, str]]:
    return {row["row"]: (row["verdict"], row["reason"]) for row in job.preview}


# Mapping suggestions ------------------------------------------------------------


def test_suggest_mapping_recognises_chinese_headers():
    headers = [
        "客户姓名",
        "手机号",
        "邮箱",
        "性别",
        "客户来源",
        "阶段",
        "公司",
        "地址",
        "证件类型",
        "身份证号",
        "标签",
        "备注",
        "楼盘",
    ]
    assert imports.import_suggest_mapping(headers) == {
        "客户姓名": "name",
        "手机号": "mobile",
        "邮箱": "email",
        "性别": "gender",
        "客户来源": "source",
        "阶段": "stage",
        "公司": "company",
        "地址": "address",
        "证件类型": "id_type",
        "身份证号": "id_number",
        "标签": "tags",
        "备注": "notes",
    }


def test_suggest_mapping_recognises_english_headers_and_uses_a_field_once():
    mapping = imports.import_suggest_mapping(
        ["Name", "Mobile", "Phone", "E-mail", "Company name", "Tags"]
    )
    assert mapping == {
        "Name": "name",
        "Mobile": "mobile",
        "E-mail": "email",
        "Company name": "company",
        "Tags": "tags",
    }


# Upload and bad files -----------------------------------------------------------


def test_upload_keeps_the_file_and_suggests_a_mapping(sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    assert job.status == ImportJob.Status.UPLOADED
    assert job.created_by == sales_manager
    assert job.original_name == "客户.csv"
    assert job.file.read().decode("utf-8-sig").startswith("姓名,手机")
    assert job.mapping["手机"] == "mobile"


def test_upload_reads_a_gbk_csv_as_chinese_excel_saves_it(sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,男,,,,\n", encoding="gbk")
    assert job.mapping["姓名"] == "name"
    job = imports.import_check(job=job, mapping=job.mapping)
    assert job.created_count == 1
    assert job.preview[0]["name"] == "王五"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("客户.csv", bytes(range(256)) * 40, "not a valid spreadsheet"),
        ("客户.xlsx", b"PK\x03\x04 not really a workbook", "not a valid spreadsheet"),
        ("客户.csv", HEADER.encode(), "no customer rows"),
        ("客户.csv", b"\n\n", "empty"),
        ("客户.txt", HEADER.encode() + "王五,13812345678\n".encode(), "CSV file"),
        ("客户.csv", "王五,13812345678\n".encode(), "column names"),
        ("客户.csv", "姓名,姓名,手机\n王五,王五,13812345678\n".encode(), "twice"),
    ],
    ids=[
        "binary",
        "fake-xlsx",
        "header-only",
        "empty",
        "txt",
        "no-header",
        "twice",
    ],
)
def test_upload_refuses_a_bad_file_with_a_clear_message_and_keeps_nothing(
    sales_manager, media, name, content, message
):
    with pytest.raises(imports.ImportRefused, match=message):
        imports.import_upload(
            actor=sales_manager, uploaded_file=SimpleUploadedFile(name, content)
        )
    assert not ImportJob.objects.exists()
    assert not list(media.rglob("*.*"))


def test_upload_refuses_a_file_over_20_mb(sales_manager):
    big = csv_file(HEADER + "王五,13812345678\n")
    big.size = 21 * 1024 * 1024
    with pytest.raises(imports.ImportRefused, match="20 MB"):
        imports.import_upload(actor=sales_manager, uploaded_file=big)


# Dry run ------------------------------------------------------------------------


def test_dry_run_gives_each_row_a_verdict_with_its_reason_and_changes_nothing(
    sales_manager, own_customer
):
    text = HEADER + (
        "王五,13812345678,wang@example.com,男,老带新,意向客户,,\n"  # 2 new
        "张三,+86 138-0013-8000,,,,buyer,,\n"  # 3 updates own_customer
        "王五五,138 1234 5678,,,,,,\n"  # 4 same phone as row 2
        "赵六,12345,,,,,,\n"  # 5 bad phone
        ",13712345678,,,,,,\n"  # 6 new without a name
        "钱七,13612345678,not-an-email,,,,,\n"  # 7 bad e-mail
        "孙八,13512345678,,,,VIP,,\n"  # 8 unknown stage
        "周九,,,,,,,\n"  # 9 no phone
    )
    before = list(Customer.objects.values_list("pk", "name", "stage"))
    job = checked(sales_manager, text)
    assert job.status == ImportJob.Status.CHECKED
    assert job.total_rows == 8
    assert (
        job.created_count,
        job.updated_count,
        job.duplicate_count,
        job.invalid_count,
    ) == (1, 1, 1, 5)
    rows = verdicts(job)
    assert rows[2] == ("new", "")
    assert rows[3] == ("updated", "")
    assert rows[4][0] == "duplicate" and "2" in rows[4][1]
    assert rows[5][0] == "invalid" and "12345" in rows[5][1]
    assert rows[6] == ("invalid", "A new customer needs a name.")
    assert rows[7][0] == "invalid" and "not-an-email" in rows[7][1]
    assert rows[8][0] == "invalid" and "VIP" in rows[8][1]
    assert rows[9] == ("invalid", "No mobile number.")
    assert list(Customer.objects.values_list("pk", "name", "stage")) == before
    assert not ImportChange.objects.exists()
    assert not AuditEntry.objects.exists()


def test_dry_run_accepts_chinese_labels_english_codes_and_resident_ids(sales_manager):
    text = "姓名,手机,性别,来源,阶段,证件类型,证件号码\n" + (
        f"王五,13812345678,女,referral,业主,身份证,{RESIDENT_ID}\n"
        f"李四,13812345679,male,来访,Prospect,,{RESIDENT_ID.lower()}\n"
        "张三,13812345670,,,,身份证,110105194912310021\n"
        "赵六,13812345671,,,,,AB123\n"
    )
    job = checked(sales_manager, text)
    rows = verdicts(job)
    assert rows[2] == ("new", "")
    assert rows[3] == ("new", "")  # a resident ID without a type is recognised
    assert rows[4][0] == "invalid" and "check digit" in rows[4][1]
    assert rows[5] == ("invalid", "Give the type of document for the document number.")


def test_dry_run_refuses_a_mapping_without_the_phone_column(sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    with pytest.raises(imports.ImportRefused, match="mobile"):
        imports.import_check(job=job, mapping={"姓名": "name"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_dry_run_is_refused_once_the_import_has_started(sales_manager):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    job.refresh_from_db()
    with pytest.raises(imports.ImportRefused):
        imports.import_check(job=job, mapping=job.mapping)


# The run ------------------------------------------------------------------------


def test_run_creates_and_updates_customers_and_records_every_change(
    sales_manager, own_customer
):
    own_customer.email = "old@example.com"
    own_customer.save()
    text = HEADER + (
        "王五,13812345678,wang@example.com,男,,,学区房，改善型,老客户介绍\n"
        "张三丰,13800138000,,,,buyer,学区房,\n"
        "王五五,13812345678,,,,,,\n"
        "赵六,12345,,,,,,\n"
    )
    job = run(checked(sales_manager, text))
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count) == (1, 1)
    assert (job.duplicate_count, job.invalid_count) == (1, 1)
    assert job.processed_rows == job.total_rows == 4
    assert job.started_at and job.finished_at

    created = Customer.objects.get(mobile="+8613812345678")
    assert created.name == "王五"
    assert created.created_by == sales_manager
    assert created.source == Customer.Source.OTHER
    assert created.gender == "male"
    assert created.notes == "老客户介绍"
    assert "wangwu" in created.name_pinyin.split()
    assert sorted(created.tags.values_list("name", flat=True)) == ["学区房", "改善型"]

    own_customer.refresh_from_db()
    assert own_customer.name == "张三丰"
    assert own_customer.stage == Customer.Stage.BUYER
    # An empty cell never overwrites: the e-mail stays.
    assert own_customer.email == "old@example.com"
    assert own_customer.name_pinyin.startswith("zhangsanfeng")

    changes = {c.action: c for c in job.changes.all()}
    assert changes["created"].customer == created
    assert changes["updated"].customer == own_customer
    assert changes["updated"].before["name"] == "张三"
    assert changes["updated"].before["stage"] == "prospect"
    assert changes["updated"].before["tags"] == []
    assert AuditEntry.objects.filter(object_id=created.pk, action="create").exists()

    content = job.rejected_file.read()
    assert content.startswith(b"\xef\xbb\xbf")
    rejected = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rejected[0] == [*HEADER.strip().split(","), "Reason"]
    assert [row[0] for row in rejected[1:]] == ["王五五", "赵六"]
    assert "2" in rejected[1][-1]


def test_run_sets_the_source_and_id_number_hash_of_created_customers(sales_manager):
    text = f"姓名,手机,身份证号,来源\n王五,13812345678,{RESIDENT_ID},老带新\n"
    job = run(checked(sales_manager, text))
    customer = Customer.objects.get(mobile="+8613812345678")
    assert customer.source == Customer.Source.REFERRAL
    assert customer.id_type == Customer.IdType.RESIDENT_ID
    assert customer.id_number_hash == id_number_hash(RESIDENT_ID)
    assert job.rejected_file.name == ""


def test_run_reads_an_xlsx_with_numbers_typed_as_numbers(sales_manager):
    job = imports.import_upload(
        actor=sales_manager,
        uploaded_file=xlsx_file(
            [["Name", "Mobile", "Stage"], ["王五", 13812345678, "买家"], [None, None]]
        ),
    )
    job = imports.import_check(job=job, mapping=job.mapping)
    assert job.total_rows == 1 and job.invalid_count == 1
    job = imports.import_check(job=job, mapping={"Name": "name", "Mobile": "mobile"})
    assert job.created_count == 1
    run(job)
    assert Customer.objects.get(mobile="+8613812345678").name == "王五"


def test_running_the_import_twice_does_the_work_once(sales_manager):
    job = run(checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n"))
    imports.import_run(job_id=job.pk)
    assert Customer.objects.count() == 1
    assert ImportChange.objects.count() == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE


def test_run_of_a_job_that_was_not_queued_does_nothing(sales_manager):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert not Customer.objects.exists()


def test_run_works_in_batches_and_a_failing_batch_is_rolled_back(
    sales_manager, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    rows = "".join(f"客户{i},1381234567{i},,,,,,\n" for i in range(5))
    job = checked(sales_manager, HEADER + rows)
    real_apply = imports._apply
    calls = []

    def apply(job, verdicts):
        calls.append(len(verdicts))
        real_apply(job, verdicts)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_apply", apply)
    job = run(job)
    # The second batch is rolled back, and the first, committed, is reverted: all
    # or nothing.
    assert job.status == ImportJob.Status.REVERTED
    assert "disk full" in job.error
    assert not Customer.objects.exists()
    assert job.processed_rows == 2


def test_an_e_mail_longer_than_its_column_is_refused_by_the_dry_run(sales_manager):
    """Django's validator takes up to 320 characters; the column holds 254: such a
    row is invalid in the dry run, not a failure of the run."""
    long_email = "a" * 60 + "@" + ("b" * 60 + ".") * 4 + "com"
    assert len(long_email) > 254
    job = checked(sales_manager, HEADER + f"长邮箱,13611110000,{long_email},,,,,\n")
    assert job.invalid_count == 1
    job = run(job)
    assert job.status == ImportJob.Status.DONE
    assert not Customer.objects.exists()


# Starting -----------------------------------------------------------------------


def test_import_start_queues_the_task_only_on_commit(
    sales_manager, django_capture_on_commit_callbacks
):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    with mock.patch("customers.tasks.import_run.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            imports.import_start(job=job, actor=sales_manager)
        delay.assert_not_called()
        assert len(callbacks) == 1
        callbacks[0]()
    delay.assert_called_once_with(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED


def test_import_start_refuses_a_job_twice_or_unchecked(sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    with pytest.raises(imports.ImportRefused):
        imports.import_start(job=job, actor=sales_manager)
    job = imports.import_check(job=job, mapping=job.mapping)
    with mock.patch("customers.tasks.import_run.delay"):
        imports.import_start(job=job, actor=sales_manager)
        with pytest.raises(imports.ImportRefused):
            imports.import_start(job=job, actor=sales_manager)


def test_import_start_refuses_a_file_with_nothing_to_import(sales_manager):
    job = checked(sales_manager, HEADER + "王五,12345,,,,,,\n")
    with pytest.raises(imports.ImportRefused, match="Nothing to import"):
        imports.import_start(job=job, actor=sales_manager)


# Revert -------------------------------------------------------------------------


def test_revert_removes_created_customers_and_restores_updated_ones(
    sales_manager, own_customer
):
    tag = Tag.objects.create(name="老客户")
    own_customer.tags.add(tag)
    text = HEADER + (
        "王五,13812345678,,,,,,\n张三丰,13800138000,zhang@example.com,,,owner,新标签,\n"
    )
    job = run(checked(sales_manager, text))
    result = imports.import_revert(job=job, actor=sales_manager)
    assert (result.deleted, result.restored, result.kept) == (1, 1, [])
    assert not Customer.objects.filter(mobile="+8613812345678").exists()
    own_customer.refresh_from_db()
    assert own_customer.name == "张三"
    assert own_customer.email == ""
    assert own_customer.stage == Customer.Stage.PROSPECT
    assert own_customer.name_pinyin.startswith("zhangsan")
    assert list(own_customer.tags.all()) == [tag]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REVERTED
    assert job.reverted_by == sales_manager
    with pytest.raises(imports.ImportRefused):
        imports.import_revert(job=job, actor=sales_manager)


def test_revert_keeps_a_field_corrected_since_the_import(
    sales_manager, consultant, own_customer
):
    """The import wrote the e-mail and the stage; the consultant then corrected the
    e-mail. The revert puts the stage back but keeps the correction, and says so."""
    text = HEADER + "张三,13800138000,zhang@example.com,,,owner,,\n"
    job = run(checked(sales_manager, text))
    services.customer_update(
        actor=consultant, customer=own_customer, email="zhang.san@example.com"
    )
    result = imports.import_revert(job=job, actor=sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.email == "zhang.san@example.com"
    assert own_customer.stage == Customer.Stage.PROSPECT
    assert (result.restored, result.corrections_kept) == (1, 1)
    entry = AuditEntry.objects.filter(
        object_id=own_customer.pk, actor=sales_manager
    ).latest("pk")
    assert "email" not in entry.changes
    assert entry.changes["stage"] == {"old": "owner", "new": "prospect"}
    job.refresh_from_db()
    assert job.corrections_kept == 1
    revert = AuditEntry.objects.get(content_type__model="importjob", object_id=job.pk)
    assert revert.changes["corrections_kept"] == {"old": "", "new": "1"}


def test_revert_leaves_a_customer_whose_every_imported_field_was_corrected(
    sales_manager, consultant, own_customer
):
    job = run(checked(sales_manager, HEADER + "张三,13800138000,,,,owner,,\n"))
    services.customer_update(
        actor=consultant, customer=own_customer, stage=Customer.Stage.BUYER
    )
    result = imports.import_revert(job=job, actor=sales_manager)
    own_customer.refresh_from_db()
    assert own_customer.stage == Customer.Stage.BUYER
    assert (result.restored, result.corrections_kept) == (0, 1)


def test_revert_page_says_how_many_corrections_it_kept(
    client, sales_manager, consultant, own_customer
):
    job = run(checked(sales_manager, HEADER + "张三,13800138000,,,,owner,,\n"))
    services.customer_update(
        actor=consultant, customer=own_customer, stage=Customer.Stage.BUYER
    )
    client.force_login(sales_manager)
    response = client.post(
        reverse("customers:import-revert", args=[job.pk]), follow=True
    )
    assert "1 value changed since the import was kept" in response.content.decode()
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-corrections-kept"' in body


def test_revert_keeps_a_created_customer_that_has_timeline_entries(sales_manager):
    job = run(
        checked(
            sales_manager, HEADER + "王五,13812345678,,,,,,\n李四,13812345679,,,,,,\n"
        )
    )
    used = Customer.objects.get(mobile="+8613812345678")
    services.interaction_log(
        customer=used,
        kind=Interaction.Kind.CALL_OUT,
        summary="回访",
        actor=sales_manager,
    )
    result = imports.import_revert(job=job, actor=sales_manager)
    assert result.deleted == 1
    assert result.kept == [used]
    assert list(Customer.objects.all()) == [used]


def test_revert_refuses_an_import_that_has_not_run(sales_manager):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    with pytest.raises(imports.ImportRefused):
        imports.import_revert(job=job, actor=sales_manager)


def test_anonymising_takes_back_a_checked_import_whose_file_holds_the_person(
    sales_manager, administrator, own_customer, django_capture_on_commit_callbacks
):
    """Checked, never started: the kept upload must not keep the person (their
    number typed with spaces, past the rows the preview shows), nor bring them back
    as a new customer if started later."""
    rows = "".join(f"客户{n},1390000{n:04d},,,,,,\n" for n in range(PREVIEW_ROWS + 5))
    job = checked(sales_manager, HEADER + rows + "张三,138 0013 8000,,,,owner,,\n")
    other = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    path = Path(job.file.path)
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator,
            customer=own_customer,
            reference="T-1",
            reason="本人要求",
        )
    job.refresh_from_db()
    assert not path.exists()
    assert (job.status, job.file.name, job.preview) == (ImportJob.Status.FAILED, "", [])
    assert "personal information was erased" in job.error
    with pytest.raises(imports.ImportRefused):
        imports.import_start(job=job, actor=sales_manager)
    # An import that does not hold them is left to run.
    other.refresh_from_db()
    assert other.status == ImportJob.Status.CHECKED and Path(other.file.path).exists()


def test_anonymising_leaves_an_unrelated_import_that_merely_shares_a_phrase(
    sales_manager, administrator, own_customer
):
    """The person's WeChat was typed as "同手机号" (the WeChat is the mobile
    number): a colleague's import whose note says so of someone else is theirs."""
    services.contact_point_add(
        actor=sales_manager,
        customer=own_customer,
        kind="wechat",
        value="同手机号",
    )
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,微信同手机号\n")
    services.customer_anonymise(
        actor=administrator, customer=own_customer, reference="T-1", reason="本人要求"
    )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED, job.error
    assert Path(job.file.path).exists()


def test_anonymising_takes_back_an_import_whose_cell_holds_the_persons_wechat_id(
    sales_manager, administrator, own_customer
):
    services.contact_point_add(
        actor=sales_manager,
        customer=own_customer,
        kind="wechat",
        value="zhang_san88",
    )
    job = checked(
        sales_manager, HEADER + "王五,13812345678,,,,,,介绍人微信zhang_san88\n"
    )
    other = checked(sales_manager, HEADER + "赵六,13812345679,,,,,,微信zhang_san889\n")
    services.customer_anonymise(
        actor=administrator, customer=own_customer, reference="T-1", reason="本人要求"
    )
    job.refresh_from_db()
    other.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert other.status == ImportJob.Status.CHECKED, other.error


def test_anonymising_is_refused_while_an_import_whose_file_holds_the_person_runs(
    client, sales_manager, administrator, own_customer
):
    """A running import cannot be taken back half-way: a later batch of its file
    would bring the person back as a new customer. The request waits for it."""
    job = checked(sales_manager, HEADER + "张三,138 0013 8000,,,,owner,,\n")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    client.force_login(administrator)
    page = client.get(reverse("customers:personal-data", args=[own_customer.pk]))
    assert "try again when the import has finished" in page.content.decode()
    with pytest.raises(services.PersonalDataRefused, match="import has finished"):
        services.customer_anonymise(
            actor=administrator,
            customer=own_customer,
            reference="T-1",
            reason="本人要求",
        )
    # A worker that claimed it after the check is found under the rows' locks.
    with (
        mock.patch("crm_site.personal_data.blockers", return_value=[]),
        pytest.raises(services.PersonalDataRefused, match="import has finished"),
    ):
        services.customer_anonymise(
            actor=administrator,
            customer=own_customer,
            reference="T-1",
            reason="本人要求",
        )
    own_customer.refresh_from_db()
    assert own_customer.anonymised_at is None and own_customer.name == "张三"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING and job.file
    # Once it has finished, the request goes through and its file goes too.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE)
    services.customer_anonymise(
        actor=administrator, customer=own_customer, reference="T-1", reason="本人要求"
    )
    own_customer.refresh_from_db()
    assert own_customer.anonymised_at is not None


def test_an_import_running_without_the_person_does_not_hold_up_anonymising(
    sales_manager, administrator, own_customer
):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    services.customer_anonymise(
        actor=administrator, customer=own_customer, reference="T-1", reason="本人要求"
    )
    own_customer.refresh_from_db()
    job.refresh_from_db()
    assert own_customer.anonymised_at is not None
    assert job.status == ImportJob.Status.RUNNING and job.file


def test_an_import_taken_back_before_it_ran_offers_no_revert(
    client, sales_manager, administrator, own_customer
):
    job = upload(sales_manager, HEADER + "张三,13800138000,,,,,,\n")
    services.customer_anonymise(
        actor=administrator, customer=own_customer, reference="T-1", reason="本人要求"
    )
    client.force_login(sales_manager)
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-error"' in body
    assert 'data-testid="import-revert"' not in body


# Views --------------------------------------------------------------------------


def detail_url(job: ImportJob) -> str:
    return reverse("customers:import-detail", args=[job.pk])


@pytest.mark.parametrize(
    "url",
    [
        reverse("customers:import-list"),
        reverse("customers:import-upload"),
        reverse("customers:import-detail", args=[1]),
        reverse("customers:import-progress", args=[1]),
        reverse("customers:import-rejected", args=[1]),
    ],
)
def test_import_pages_are_refused_without_the_import_right(client, consultant, url):
    client.force_login(consultant)
    assert client.get(url).status_code == 403


def test_another_users_import_is_not_found(client, sales_manager, administrator):
    job = upload(administrator, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(sales_manager)
    assert client.get(detail_url(job)).status_code == 404
    assert client.get(reverse("customers:import-list")).context["page"].items == []
    response = client.post(reverse("customers:import-revert", args=[job.pk]))
    assert response.status_code == 404


def test_a_user_who_sees_everyone_sees_every_import(
    client, sales_manager, administrator
):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(administrator)
    assert client.get(detail_url(job)).status_code == 200


def test_upload_page_uploads_and_shows_the_mapping(client, sales_manager):
    client.force_login(sales_manager)
    assert client.get(reverse("customers:import-upload")).status_code == 200
    response = client.post(
        reverse("customers:import-upload"),
        {"file": csv_file(HEADER + "王五,13812345678,,,,,,\n")},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(job)
    page = client.get(detail_url(job))
    assert page.status_code == 200
    assert page.context["form"]["column_1"].value() == "mobile"
    assert "13812345678" in page.content.decode()


def test_upload_page_shows_why_a_file_is_refused(client, sales_manager):
    client.force_login(sales_manager)
    response = client.post(
        reverse("customers:import-upload"), {"file": csv_file(HEADER, name="a.txt")}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_mapping_without_the_phone_column_is_a_form_error(client, sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(sales_manager)
    response = client.post(detail_url(job), {"column_0": "name", "column_1": ""})
    assert response.status_code == 200
    assert "mobile number" in str(response.context["form"].non_field_errors())
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_mapping_a_field_twice_is_a_form_error(client, sales_manager):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(sales_manager)
    response = client.post(
        detail_url(job), {"column_0": "name", "column_1": "mobile", "column_7": "name"}
    )
    assert response.context["form"].errors["column_7"]


def test_mapping_form_queues_the_dry_run_and_shows_its_progress_then_the_verdicts(
    client, sales_manager, django_capture_on_commit_callbacks
):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n赵六,123,,,,,,\n")
    client.force_login(sales_manager)
    with (
        mock.patch("customers.tasks.import_check.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            detail_url(job), {"column_0": "name", "column_1": "mobile"}
        )
    assert response.status_code == 302
    delay.assert_called_once_with(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKING
    assert job.mapping == {"姓名": "name", "手机": "mobile"}
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-checking"' in body
    assert 'hx-trigger="every 1s"' in body

    imports.import_check_run(job_id=job.pk)
    imports.import_check_run(job_id=job.pk)  # a second delivery finds nothing to do
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert (job.created_count, job.invalid_count) == (1, 1)
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-preview"' in body
    assert 'data-testid="import-start"' in body
    assert not Customer.objects.exists()


def test_start_view_queues_the_import_and_get_changes_nothing(
    client, sales_manager, django_capture_on_commit_callbacks
):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(sales_manager)
    url = reverse("customers:import-start", args=[job.pk])
    assert client.get(url).status_code == 405
    with (
        mock.patch("customers.tasks.import_run.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url)
    assert response.status_code == 302
    delay.assert_called_once_with(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED


def test_progress_partial_polls_while_running_and_stops_when_done(
    client, sales_manager
):
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, total_rows=4, processed_rows=1
    )
    client.force_login(sales_manager)
    url = reverse("customers:import-progress", args=[job.pk])
    response = client.get(url, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert "25%" in body
    assert "<html" not in body
    assert "HX-Refresh" not in response

    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE, processed_rows=4
    )
    response = client.get(url, headers={"HX-Request": "true"})
    assert "every 1s" not in response.content.decode()
    assert response["HX-Refresh"] == "true"


def test_detail_page_of_a_finished_import_links_rejected_rows_and_reverts(
    client, sales_manager
):
    job = run(
        checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n赵六,123,,,,,,\n")
    )
    client.force_login(sales_manager)
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-rejected"' in body
    assert 'data-testid="import-revert"' in body
    assert "every 1s" not in body

    response = client.get(reverse("customers:import-rejected", args=[job.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert "赵六" in b"".join(response.streaming_content).decode("utf-8-sig")

    assert (
        client.get(reverse("customers:import-revert", args=[job.pk])).status_code == 405
    )
    response = client.post(reverse("customers:import-revert", args=[job.pk]))
    assert response.status_code == 302
    assert not Customer.objects.exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REVERTED


def test_rejected_rows_of_an_import_without_any_are_not_found(client, sales_manager):
    job = run(checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n"))
    client.force_login(sales_manager)
    response = client.get(reverse("customers:import-rejected", args=[job.pk]))
    assert response.status_code == 404


def test_a_refused_dry_run_goes_back_to_the_mapping_with_its_reason(
    client, sales_manager
):
    job = upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.CHECKING, mapping={"姓名": "name"}
    )
    imports.import_check_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED
    assert "mobile" in job.error
    client.force_login(sales_manager)
    body = client.get(detail_url(job)).content.decode()
    assert 'data-testid="import-check-error"' in body
    assert 'data-testid="import-mapping-form"' in body


def test_import_list_shows_own_imports(client, sales_manager):
    upload(sales_manager, HEADER + "王五,13812345678,,,,,,\n")
    client.force_login(sales_manager)
    response = client.get(reverse("customers:import-list"))
    assert response.status_code == 200
    assert "客户.csv" in response.content.decode()


@pytest.mark.parametrize("status", [s.value for s in ImportJob.Status])
def test_detail_page_renders_in_chinese_in_every_status(
    client, sales_manager, settings, status
):
    settings.LANGUAGE_CODE = "zh-hans"
    job = checked(sales_manager, HEADER + "王五,13812345678,,,,,,\n赵六,123,,,,,,\n")
    ImportJob.objects.filter(pk=job.pk).update(status=status)
    client.force_login(sales_manager)
    with translation.override("zh-hans"):
        response = client.get(detail_url(job))
    assert response.status_code == 200
    polls = 'hx-trigger="every 1s"' in response.content.decode()
    assert polls == (status in ("checking", "queued", "running"))


def test_rows_matching_another_teams_customer_are_rejected_not_updated(
    sales_manager, far_consultant
):
    far = CustomerFactory(
        name="远方", mobile="+8613912345678", assigned_consultant=far_consultant
    )
    job = run(checked(sales_manager, HEADER + ",13912345678,,,,owner,,\n"))
    far.refresh_from_db()
    assert far.stage != Customer.Stage.OWNER
    assert far.name == "远方"
    assert (job.updated_count, job.invalid_count) == (0, 1)


def test_a_revert_after_a_merge_leaves_the_survivor_as_it_is(sales_manager):
    """The import updated A; A was then merged into B. Its values before the import
    are A's: reverting must not write them onto B (merge_handlers keeps the change
    on A, which no one edits any more)."""
    from customers.services.merge import customer_merge

    a = CustomerFactory(
        name="甲",
        mobile="+8613533334444",
        email="old-a@example.com",
        assigned_consultant=sales_manager,
    )
    b = CustomerFactory(
        name="乙",
        mobile="+8613533335555",
        email="b@example.com",
        assigned_consultant=sales_manager,
    )
    job = run(
        checked(sales_manager, HEADER + "甲新,13533334444,new-a@example.com,,,,,\n")
    )
    assert job.status == ImportJob.Status.DONE and job.updated_count == 1
    customer_merge(actor=sales_manager, survivor=b, absorbed=a, choices={})

    result = imports.import_revert(job=job, actor=sales_manager)

    b.refresh_from_db()
    assert (b.name, b.email) == ("乙", "b@example.com")
    assert result.restored == 0 and result.out_of_scope == 1
