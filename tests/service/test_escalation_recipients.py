"""The first rung of the escalation ladder reaches someone who still works here: the
handler, else the receiver, else the service desk, else its managers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm_site.models import Notification
from crm_site.roles import Role
from service import services
from service.models import Escalation, ServiceRequest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_(complaint) -> ServiceRequest:
    return complaint


def _leaves(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def _sweep_late(request: ServiceRequest) -> set[str]:
    """Two hours past its deadlines: the handler's rung, and who was told of it."""
    now = timezone.now()
    ServiceRequest.objects.filter(pk=request.pk).update(
        response_due=now - timedelta(hours=2), resolution_due=now - timedelta(hours=2)
    )
    Notification.objects.all().delete()
    assert services.escalations_sweep(now=now) == 1
    assert Escalation.objects.get(request=request).level == Escalation.Level.HANDLER
    return set(Notification.objects.values_list("user__username", flat=True))


def test_an_overdue_request_whose_receiver_left_is_escalated_to_someone_active(
    request_, service_agent
):
    colleague = UserFactory(username="agent_still_here", role=Role.SERVICE_AGENT)
    _leaves(service_agent)
    # The desk hears of it, as of a portal request nobody accepted.
    assert _sweep_late(request_) == {colleague.username}


def test_an_overdue_request_is_escalated_to_its_receiver_while_they_work_here(
    request_, service_agent
):
    UserFactory(username="agent_two", role=Role.SERVICE_AGENT)
    assert _sweep_late(request_) == {service_agent.username}


def test_an_overdue_request_whose_handler_left_is_escalated_to_its_receiver(
    request_, service_agent
):
    handler = UserFactory(username="plumber_agent", role=Role.SERVICE_AGENT)
    services.request_assign(
        actor=service_agent,
        request=request_,
        department="engineering",
        handler=handler,
    )
    _leaves(handler)
    # The receiver stays accountable for the request (首问负责制).
    assert _sweep_late(request_) == {service_agent.username}


def test_an_overdue_request_with_nobody_left_at_the_desk_reaches_its_managers(
    request_, service_agent, service_manager
):
    _leaves(service_agent)
    assert _sweep_late(request_) == {service_manager.username}
