"""Webhook events are offered only if the key's user may see what they are about
(README, Webhooks). A role taken away from that user afterwards stops them: no new
deliveries, and those already written are skipped when their turn comes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from crm_site import fragments, outbox
from crm_site.models import User
from crm_site.roles import Role
from crm_site.webhooks import services
from crm_site.webhooks.delivery import DELIVERIES
from crm_site.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.api_fixtures import make_key

pytestmark = pytest.mark.django_db

EVENT = "service_request.created"
DATA = {
    "service_request_id": 1,
    "number": "S-1",
    "customer_id": 7,
    "unit_id": None,
    "kind": "complaint",
    "channel": "phone",
}


@pytest.fixture(autouse=True)
def _fresh_subscriber_set():
    # The subscriber set is cached in Redis, which outlives each test's rollback.
    fragments.bump(WebhookSubscription)
    yield
    fragments.bump(WebhookSubscription)


@pytest.fixture
def hotline(settings, administrator, service_agent):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    key = make_key(service_agent, "webhooks", name="Hotline")[0]
    services.subscription_create(
        actor=administrator,
        api_key=key,
        # Nothing listens there: a delivery that is not skipped fails to connect.
        url="http://127.0.0.1:9/hook",
        events=[EVENT],
    )
    assert services.subscribers(EVENT)  # the service agent sees service requests
    return key


def _emit():
    with transaction.atomic():
        return services.event_emit(EVENT, data=DATA)


def _fresh(user):
    return User.objects.get(pk=user.pk)


def test_a_keys_user_who_lost_the_role_no_longer_receives_its_events(
    hotline, service_agent
):
    # The agent leaves the service desk: their role is taken away in the admin.
    service_agent.groups.clear()
    assert not _fresh(service_agent).has_perm("service.view_service_request")
    assert _emit() is None
    assert not WebhookDelivery.objects.exists()


def test_a_permission_taken_from_the_keys_role_stops_its_events(hotline, service_agent):
    group = service_agent.groups.get()
    group.permissions.remove(
        Permission.objects.get(
            content_type__app_label="service", codename="view_service_request"
        )
    )
    assert not _fresh(service_agent).has_perm("service.view_service_request")
    assert _emit() is None
    assert not WebhookDelivery.objects.exists()


def test_a_delivery_written_before_the_role_was_taken_away_is_skipped(
    hotline, service_agent
):
    assert _emit() is not None
    delivery = WebhookDelivery.objects.get()
    service_agent.groups.clear()
    assert outbox.send_one(DELIVERIES, delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == outbox.Status.SKIPPED
    assert delivery.response_code is None  # nothing was posted


def test_a_key_whose_user_keeps_the_role_still_receives_its_events(
    hotline, service_agent
):
    # Another role added changes nothing for what the user already saw.
    service_agent.groups.add(Group.objects.get(name=Role.MARKETING))
    assert _emit() is not None
    assert WebhookDelivery.objects.count() == 1
