# ruff: noqa: F811  (the world fixture is imported, then used as an argument)
"""A reviewer's decision on a parked message to an owner ("Messages to review") is
audited with the message row's text; a survey invitation's names the owner. Those
entries are about the owner: in their export, scrubbed when they are anonymised."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm_site import outbox
from crm_site import personal_data as crm_personal_data
from crm_site.models import AuditEntry
from customers import services
from service.handover import NOTICES as HANDOVER_NOTICES
from service.models import (
    HandoverNotice,
    PortalNotice,
    SurveyInvitation,
    SurveyReminder,
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
