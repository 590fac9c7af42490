# ruff: noqa: F811  (the world fixture is imported, then used as an argument)
"""A reviewer's decision on a parked message to an owner ("Messages to review") is
audited with the message row's text; a survey invitation's names the owner. Those
entries are about the owner: in their export, scrubbed when they are anonymised."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from crm_site import outbox
from crm_site import personal_data as crm_personal_data
from crm_site.audit import audit_record
from crm_site.models import AuditEntry
from customers import services
from service.handover import NOTICES as HANDOVER_NOTICES
from service.models import (
    Chargeback,
    Contractor,
    HandoverNotice,
    InspectionItem,
    PortalNotice,
    SurveyInvitation,
    SurveyReminder,
    WorkOrder,
)
from service.portal_requests import NOTICES as PORTAL_NOTICES
from service.surveys import INVITATIONS, REMINDERS
from tests.crm_site.test_personal_data import NAME, _media, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _park_and_send_again(actor, kind, row) -> None:
    kind.model.objects.filter(pk=row.pk).update(
        status=outbox.Status.UNKNOWN, claimed_at=timezone.now()
    )
    assert outbox.message_send_again(actor=actor, kind=kind, pk=row.pk)


def test_anonymising_scrubs_audit_entries_about_the_persons_survey_invitation(
    administrator, world, django_capture_on_commit_callbacks
):
    customer = world["customer"]
    invitation = SurveyInvitation.objects.get(customer=customer)
    _park_and_send_again(administrator, INVITATIONS, invitation)
    assert AuditEntry.objects.filter(object_repr__contains=NAME).exists()  # set-up
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="RE-1", reason="本人要求"
        )
    left = AuditEntry.objects.filter(object_repr__contains=NAME)
    assert list(left.values_list("content_type__model", "object_repr")) == []


def test_decisions_on_the_persons_parked_messages_are_in_their_audit_export(
    administrator, world
):
    customer = world["customer"]
    invitation = SurveyInvitation.objects.get(customer=customer)
    reminder = SurveyReminder.objects.create(invitation=invitation)
    messages = [
        (INVITATIONS, invitation),
        (REMINDERS, reminder),
        (HANDOVER_NOTICES, HandoverNotice.objects.get(appointment__customer=customer)),
        *[(PORTAL_NOTICES, notice) for notice in PortalNotice.objects.all()],
    ]
    for kind, row in messages:
        _park_and_send_again(administrator, kind, row)
    related = crm_personal_data.related_objects(customer)
    for kind, row in messages:
        assert row.pk in related[kind.model._meta.label_lower]
    audited = {
        (entry.content_type.model, entry.object_id)
        for entry in crm_personal_data._audit_entries(customer)
    }
    for kind, row in messages:
        assert (kind.model._meta.model_name, row.pk) in audited


def test_anonymising_deletes_work_order_and_inspection_photos_and_names(
    administrator, service_agent, world, django_capture_on_commit_callbacks
):
    """Photos taken in the owner's home go, files and all; the work, its chargeback
    and the inspection's findings stay for the warranty, without the owner's name."""
    customer, request = world["customer"], world["request"]
    contractor = Contractor.objects.create(name="安居防水", trade="防水")
    work = WorkOrder.objects.create(
        request=request,
        task=f"{NAME}家重做防水",
        assignee_kind="contractor",
        contractor=contractor,
        status="done",
        due_at=timezone.now(),
        signed_off_at=timezone.now(),
        signoff_note=f"闭水试验通过，{NAME}签字确认",
        signoff_photo=SimpleUploadedFile(
            "done.jpg", b"jpeg", content_type="image/jpeg"
        ),
        cost=Decimal("800.00"),
        created_by=service_agent,
    )
    chargeback = Chargeback.objects.create(
        contractor=contractor,
        work_order=work,
        request=request,
        amount=Decimal("200.00"),
        reason=f"{NAME}家再次渗水",
        created_by=service_agent,
    )
    InspectionItem.objects.filter(pk=world["inspection_item"].pk).update(
        note=f"水槽渗水（{NAME}指出）"
    )
    work_photo = work.signoff_photo.path
    inspection_photo = world["inspection_item"].photo.path
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="RE-2", reason="本人要求"
        )
    work.refresh_from_db()
    assert not work.signoff_photo
    assert not work.signoff_photo.storage.exists(work_photo)
    assert NAME not in work.task and "重做防水" in work.task
    assert NAME not in work.signoff_note and "闭水试验通过" in work.signoff_note
    assert work.cost == Decimal("800.00") and work.contractor == contractor
    chargeback.refresh_from_db()
    assert NAME not in chargeback.reason and chargeback.amount == Decimal("200.00")
    item = InspectionItem.objects.get(pk=world["inspection_item"].pk)
    assert not item.photo and not item.photo.storage.exists(inspection_photo)
    assert NAME not in item.note and "水槽渗水" in item.note
    # The photo's removal is audited, without the old value.
    assert AuditEntry.objects.filter(
        content_type__model="workorder",
        object_id=work.pk,
        action=AuditEntry.Action.ANONYMISE,
    ).exists()
    kept = {
        entry["reason"]
        for entry in crm_personal_data.retained(customer)
        if entry["section"] in {"service.work_orders", "service.inspections"}
    }
    assert kept == {"work_orders", "inspection"}


def _work(request, service_agent, contractor, **fields) -> WorkOrder:
    return WorkOrder.objects.create(
        request=request,
        assignee_kind="contractor",
        contractor=contractor,
        due_at=timezone.now(),
        created_by=service_agent,
        **fields,
    )


def _anonymisation_entries(model, pk):
    return AuditEntry.objects.filter(
        content_type__model=model, object_id=pk, action=AuditEntry.Action.ANONYMISE
    )


def test_anonymising_audits_each_work_order_and_chargeback_it_scrubs_without_words(
    administrator, service_agent, world, django_capture_on_commit_callbacks
):
    """Work orders and their charge-backs are the work of a request: what the
    anonymisation changes in them is audited like the request itself, one entry per
    row it changed naming the fields, the old words hidden."""
    customer, request = world["customer"], world["request"]
    contractor = Contractor.objects.create(name="安居防水", trade="防水")
    untouched = WorkOrder.objects.get(request=request, task="更换水龙头")
    worded = _work(
        request,
        service_agent,
        contractor,
        task=f"{NAME}家重做防水",
        signoff_note=f"闭水试验通过，{NAME}签字确认",
    )
    photographed = _work(
        request,
        service_agent,
        contractor,
        task=f"{NAME}家换角阀",
        signoff_photo=SimpleUploadedFile(
            "done.jpg", b"jpeg", content_type="image/jpeg"
        ),
    )
    chargeback = Chargeback.objects.create(
        contractor=contractor,
        work_order=worded,
        request=request,
        amount=Decimal("200.00"),
        reason=f"{NAME}家再次渗水",
        created_by=service_agent,
    )
    plain_chargeback = Chargeback.objects.create(
        contractor=contractor,
        work_order=photographed,
        request=request,
        amount=Decimal("50.00"),
        reason="返工",
        created_by=service_agent,
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="RE-3", reason="本人要求"
        )

    hidden = {"old": "***", "new": ""}
    (entry,) = _anonymisation_entries("workorder", worded.pk)
    assert entry.changes == {"task": hidden, "signoff_note": hidden}
    assert entry.actor == administrator
    # One entry for the row, the photo's removal with its words.
    (entry,) = _anonymisation_entries("workorder", photographed.pk)
    assert entry.changes == {"signoff_photo": hidden, "task": hidden}
    (entry,) = _anonymisation_entries("chargeback", chargeback.pk)
    assert entry.changes == {"reason": hidden}
    # Rows the anonymisation did not change get no entry.
    assert not _anonymisation_entries("workorder", untouched.pk).exists()
    assert not _anonymisation_entries("chargeback", plain_chargeback.pk).exists()
    written = AuditEntry.objects.filter(
        action=AuditEntry.Action.ANONYMISE,
        content_type__model__in=["workorder", "chargeback"],
    ).values_list("object_repr", "changes")
    assert NAME not in json.dumps(list(written), ensure_ascii=False)


def test_anonymising_scrubs_the_persons_name_from_earlier_entries_about_work_orders(
    administrator, service_agent, world, django_capture_on_commit_callbacks
):
    """A work order's entry is described by its task (WorkOrder.__str__), which often
    names the owner as the desk typed it: the entry stays, without the name."""
    customer, request = world["customer"], world["request"]
    contractor = Contractor.objects.create(name="安居防水", trade="防水")
    work = _work(request, service_agent, contractor, task=f"{NAME}家重做防水")
    created = audit_record(
        actor=service_agent, instance=work, action=AuditEntry.Action.CREATE
    )
    assert NAME in created.object_repr  # set-up

    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="RE-4", reason="本人要求"
        )

    created.refresh_from_db()
    assert NAME not in created.object_repr and "重做防水" in created.object_repr
    assert created.actor == service_agent


def test_the_work_order_scrub_reads_and_audits_in_as_many_queries_however_many_rows(
    administrator, service_agent, world
):
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.services.personal_data import erasure_of
    from service.personal_data import _anonymise_work_orders

    customer, request = world["customer"], world["request"]
    contractor = Contractor.objects.create(name="安居防水", trade="防水")
    for model in (WorkOrder, Chargeback):
        ContentType.objects.get_for_model(model)
    erasure = erasure_of(customer)
    erasure.actor = administrator

    def scrub_queries(rows: int) -> int:
        for n in range(rows):
            work = _work(request, service_agent, contractor, task=f"{NAME}家第{n}处")
            Chargeback.objects.create(
                contractor=contractor,
                work_order=work,
                request=request,
                amount=Decimal("10.00"),
                reason=f"{NAME}家返工",
                created_by=service_agent,
            )
        with CaptureQueriesContext(connection) as captured:
            _anonymise_work_orders(customer, erasure=erasure)
        return len(captured.captured_queries)

    assert scrub_queries(1) == scrub_queries(4)
    assert (
        AuditEntry.objects.filter(
            action=AuditEntry.Action.ANONYMISE, content_type__model="chargeback"
        ).count()
        == 5
    )
