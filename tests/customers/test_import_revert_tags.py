"""An import adds tags to the customers it updates; its revert takes off only those,
and both say so in the audit trail."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from crm_site.models import AuditEntry
from customers.models import ImportChange, ImportJob, Tag
from customers.services import imports
from customers.services.records import customer_update


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def run(actor, text: str) -> ImportJob:
    job = imports.import_upload(
        actor=actor,
        uploaded_file=SimpleUploadedFile(
            "客户.csv", text.encode("utf-8-sig"), content_type="text/csv"
        ),
    )
    job = imports.import_check(job=job, mapping=job.mapping)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def tagged_import(sales_manager, own_customer):
    """张三 had 老客户; the import adds 学区房 (and repeats 老客户)."""
    own_customer.tags.add(Tag.objects.create(name="老客户"))
    job = run(sales_manager, "姓名,手机,标签\n张三,13800138000,学区房、老客户\n")
    assert job.updated_count == 1
    return job


def names(customer) -> list[str]:
    return sorted(customer.tags.values_list("name", flat=True))


def entries_since(customer, before: set[int]) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(content_type__model="customer", object_id=customer.pk)
        .exclude(pk__in=before)
        .order_by("pk")
    )


def test_the_import_records_the_tags_it_added_and_audits_the_real_earlier_tags(
    tagged_import, own_customer
):
    change = ImportChange.objects.get(job=tagged_import, customer=own_customer)
    assert change.before["tags_added"] == [Tag.objects.get(name="学区房").pk]
    entry = AuditEntry.objects.filter(object_id=own_customer.pk).latest("pk")
    assert entry.changes["tags"] == {"old": "老客户", "new": "学区房, 老客户"}


def test_the_audit_entry_of_a_revert_records_the_tags_it_takes_off(
    tagged_import, own_customer, sales_manager
):
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    imports.import_revert(job=tagged_import, actor=sales_manager)
    assert names(own_customer) == ["老客户"]
    [entry] = entries_since(own_customer, before)
    assert entry.action == AuditEntry.Action.UPDATE
    assert entry.changes["tags"] == {"old": "学区房, 老客户", "new": "老客户"}


def test_a_revert_keeps_a_tag_a_colleague_added_after_the_import(
    tagged_import, own_customer, sales_manager
):
    vip = Tag.objects.create(name="VIP")
    customer_update(
        actor=sales_manager, customer=own_customer, tags=[*own_customer.tags.all(), vip]
    )
    imports.import_revert(job=tagged_import, actor=sales_manager)
    assert names(own_customer) == ["VIP", "老客户"]


def test_a_revert_leaves_alone_an_imported_tag_a_colleague_already_took_off(
    tagged_import, own_customer, sales_manager
):
    customer_update(
        actor=sales_manager,
        customer=own_customer,
        tags=list(own_customer.tags.exclude(name="学区房")),
    )
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    imports.import_revert(job=tagged_import, actor=sales_manager)
    assert names(own_customer) == ["老客户"]
    # Nothing of the customer changes: nothing is recorded on them.
    assert entries_since(own_customer, before) == []


def test_a_revert_of_an_import_recorded_before_tags_added_puts_back_the_earlier_tags(
    tagged_import, own_customer, sales_manager
):
    # An ImportChange written before "tags_added" existed: only the earlier tags.
    change = ImportChange.objects.get(job=tagged_import, customer=own_customer)
    del change.before["tags_added"]
    change.save(update_fields=["before"])
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    imports.import_revert(job=tagged_import, actor=sales_manager)
    assert names(own_customer) == ["老客户"]
    [entry] = entries_since(own_customer, before)
    assert entry.changes["tags"] == {"old": "学区房, 老客户", "new": "老客户"}
