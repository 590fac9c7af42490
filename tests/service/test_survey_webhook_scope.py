"""survey.answered goes to the keys whose user may read the answers: the survey
results page and /api/v1/surveys/ are the service managers' (view_service_management),
not every service agent's."""

from __future__ import annotations

import pytest

from crm_site import fragments
from crm_site.webhooks import event_type, services
from crm_site.webhooks.models import WebhookSubscription
from tests.api_fixtures import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_subscriber_set():
    fragments.bump(WebhookSubscription)
    yield
    fragments.bump(WebhookSubscription)


def test_survey_answered_needs_the_right_that_reads_the_answers(
    settings, service_agent, service_manager
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    permission = event_type("survey.answered").permission
    assert service_manager.has_perm(permission)
    assert not service_agent.has_perm(permission)
    for user in (service_agent, service_manager):
        key = make_key(user, "webhooks")[0]
        WebhookSubscription.objects.create(
            api_key=key, url="http://127.0.0.1:9/hooks", events=["survey.answered"]
        )
    fragments.bump(WebhookSubscription)
    wanted = services.subscribers("survey.answered")
    owners = set(
        WebhookSubscription.objects.filter(pk__in=wanted).values_list(
            "api_key__acts_as", flat=True
        )
    )
    assert owners == {service_manager.pk}
