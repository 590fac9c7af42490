from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import Group

from service import demo_care
from service.models import (
    HandoverAppointment,
    HandoverBatch,
    InspectionItem,
    SurveyResponse,
)
from tests.factories import make_building
from tests.service.conftest import sell


@pytest.fixture
def demo_world(consultant, service_agent, service_manager, other_consultant):
    first = make_building(project_name="安居·御景湾", floors=6, per_floor=2, skipped=())
    second = make_building(
        project_name="安居·云栖府", floors=2, per_floor=2, skipped=()
    )
    for unit in first.units.order_by("pk")[:8]:
        sell(unit, consultant)
    for unit in second.units.order_by("pk")[:2]:
        sell(unit, other_consultant)
    return {
        "service_agent": service_agent,
        "service_manager": service_manager,
        "consultant": consultant,
    }


def test_demo_seed_runs_twice_and_fills_handover_and_surveys(demo_world):
    assert Group.objects.exists()
    demo_care.seed(random.Random(5), demo_world)
    counts = (
        HandoverBatch.objects.count(),
        HandoverAppointment.objects.count(),
        SurveyResponse.objects.count(),
    )
    demo_care.seed(random.Random(5), demo_world)
    assert counts == (
        HandoverBatch.objects.count(),
        HandoverAppointment.objects.count(),
        SurveyResponse.objects.count(),
    )
    assert counts[0] == 1 and counts[1] == 8

    assert HandoverAppointment.objects.filter(status="handed_over").exists()
    defects = InspectionItem.objects.filter(result="defect")
    assert not defects.filter(repair_request__isnull=True).exists()
    projects = SurveyResponse.objects.values("project").distinct().count()
    months = {r["month"] for r in demo_care.surveys.satisfaction_by_month()}
    assert projects == 2 and len(months) >= 5
