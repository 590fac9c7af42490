"""Anonymising an owner reaches what the system wrote about their requests as event
parameters: a work order's task kept in its "created" step (and on the owner's
timeline) names them as the desk typed it."""

from __future__ import annotations

import json

import pytest

from crm_site.audit import unaudited
from crm_site.models import AuditEntry
from customers import services
from customers.models import Interaction
from service import services_work
from service.models import ServiceRequest, ServiceStep
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NAME = "柳如烟"
MOBILE = "+8613800138000"


def test_anonymising_scrubs_the_owner_from_step_and_timeline_params(
    administrator, consultant, service_agent, make_request, units, contractor
):
    owner = CustomerFactory(
        name=NAME, mobile=MOBILE, stage="owner", assigned_consultant=consultant
    )
    request = make_request(customer=owner, unit=units[0])
    work = services_work.work_order_create(
        actor=service_agent,
        request=request,
        task=f"{NAME}家重做防水，先打 138-0013-8000 约时间",
        assignee_kind="contractor",
        contractor=contractor,
    )
    with unaudited("test set-up: the case is settled"):
        ServiceRequest.objects.filter(pk=request.pk).update(
            status=ServiceRequest.Status.CLOSED
        )
    created = ServiceStep.objects.get(request=request, event=work_step_event())
    assert NAME in created.params["task"]  # set-up

    services.customer_anonymise(
        actor=administrator, customer=owner, reference="T-9", reason="本人要求"
    )

    params = [
        *ServiceStep.objects.filter(request=request).values_list("params", flat=True),
        *Interaction.objects.filter(customer=owner).values_list("params", flat=True),
    ]
    stored = json.dumps(params, ensure_ascii=False)
    assert NAME not in stored
    assert "0013" not in stored.replace(" ", "").replace("-", "")
    # The work itself stays readable: the unit's warranty record.
    created.refresh_from_db()
    assert "重做防水" in created.params["task"]
    assert created.params["pk"] == str(work.pk)
    # The request's entry says its steps were changed, without their words.
    entry = AuditEntry.objects.get(
        content_type__model="servicerequest",
        object_id=request.pk,
        action=AuditEntry.Action.ANONYMISE,
    )
    assert entry.changes["steps"] == {"old": "***", "new": ""}
    assert NAME not in json.dumps(entry.changes, ensure_ascii=False)


def work_step_event() -> str:
    from service.events import WORK_ORDER_CREATED

    return WORK_ORDER_CREATED.code
