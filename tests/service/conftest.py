"""Service fixtures: a building with sold units and their owners (handover, surveys);
contractors and requests on its units (work orders, clusters, dashboard)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from crm_site import messaging
from sales.models import Opportunity, Unit
from service import handover, services
from service.models import Contractor, ServiceRequest
from tests.factories import CustomerFactory, make_building


@pytest.fixture(autouse=True)
def _sms_outbox(settings):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    messaging.sms_outbox.clear()
    yield
    messaging.sms_outbox.clear()


def sell(unit: Unit, consultant, **customer_fields) -> Opportunity:
    """A signed deal for the unit: its buyer is the unit's owner."""
    customer = CustomerFactory(stage="buyer", **customer_fields)
    Unit.objects.filter(pk=unit.pk).update(status=Unit.Status.CONTRACTED)
    return Opportunity.objects.create(
        customer=customer,
        project=unit.building.project,
        unit=unit,
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )


def closed_request(agent, customer) -> ServiceRequest:
    """A repair request walked to closed by one agent: its survey invitation exists."""
    request = services.request_create(
        actor=agent,
        customer=customer,
        kind="repair",
        category="plumbing",
        severity="normal",
        channel="phone",
        description="厨房水龙头漏水",
    )
    services.request_start(actor=agent, request=request)
    services.request_resolve(actor=agent, request=request, note="已更换")
    services.request_callback(actor=agent, request=request, satisfied=True, note="好")
    services.request_close(actor=agent, request=request)
    return request


@pytest.fixture
def building(db):
    return make_building(floors=3, per_floor=2, skipped=())


@pytest.fixture
def sold(building, consultant) -> list[Opportunity]:
    units = list(building.units.order_by("floor", "position"))
    return [sell(unit, consultant) for unit in units[:3]]


@pytest.fixture
def batch(building, service_manager):
    today = timezone.localdate()
    return handover.batch_create(
        actor=service_manager,
        building=building,
        name="1号楼第一批交房",
        starts_on=today,
        ends_on=today + timedelta(days=10),
    )


@pytest.fixture
def slot(batch, service_manager):
    return handover.slot_add(
        actor=service_manager,
        batch=batch,
        day=batch.starts_on,
        starts_at=time(9),
        ends_at=time(11),
        capacity=2,
    )


@pytest.fixture
def invited(batch, sold, service_manager):
    handover.batch_invite(actor=service_manager, batch=batch)
    return list(batch.appointments.select_related("customer", "unit").order_by("pk"))


# Work orders, contractors, clusters and the dashboard ---------------------------------


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Dashboards and the contractor ranking are cached; each test starts afresh."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def units(building):
    return list(building.units.order_by("pk"))


@pytest.fixture
def contractor(db):
    return Contractor.objects.create(name="安居防水", trade="防水", warranty_months=24)


@pytest.fixture
def make_request(service_agent, consultant):
    def make(
        *,
        unit=None,
        category: str = "plumbing",
        days_ago: float = 0,
        customer=None,
        actor=None,
    ) -> ServiceRequest:
        request = services.request_create(
            actor=actor or service_agent,
            customer=customer
            or CustomerFactory(stage="owner", assigned_consultant=consultant),
            unit=unit,
            kind="repair",
            category=category,
            severity="high",
            channel="phone",
            description="卫生间漏水",
        )
        if days_ago:
            received = timezone.now() - timedelta(days=days_ago)
            ServiceRequest.objects.filter(pk=request.pk).update(
                received_at=received,
                response_due=received + timedelta(hours=4),
                resolution_due=received + timedelta(hours=72),
            )
            request.refresh_from_db()
        return request

    return make


@pytest.fixture
def leak(make_request, units):
    return make_request(unit=units[0])


@pytest.fixture
def complaint(service_agent, owner_customer) -> ServiceRequest:
    """A high-severity plumbing complaint by phone, received by the service agent."""
    return services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="complaint",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )
