"""Fixtures for service operations: a building with units, contractors, requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from service import services
from service.models import Contractor, ServiceRequest
from tests.factories import CustomerFactory, make_building


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
def building(db):
    return make_building(floors=5, per_floor=2)


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
