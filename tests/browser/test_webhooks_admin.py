"""An administrator subscribes an integration to webhooks, copies the secret shown
once, and reads the delivery log, in Chinese."""

from __future__ import annotations

import pytest

from crm_site import fragments, outbox
from crm_site.webhooks import services
from crm_site.webhooks.delivery import DELIVERIES
from crm_site.webhooks.models import WebhookSubscription
from tests.api_fixtures import make_key
from tests.browser.test_customer_journey import login
from tests.crm_site.test_webhooks import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    fragments.bump(WebhookSubscription)
    server = Receiver()
    yield server
    server.close()
    fragments.bump(WebhookSubscription)


def test_administrator_subscribes_sees_the_secret_once_and_reads_the_log(
    page, screenshot, administrator, receiver
):
    key = make_key(administrator, "webhooks", name="ERP 财务系统")[0]
    login(page, "admin")
    page.goto("/admin/crm_site/webhooksubscription/add/")
    page.locator("#id_api_key").select_option(str(key.pk))
    page.locator("#id_url").fill(receiver.url)
    page.get_by_label("customer.created", exact=False).check()
    page.get_by_label("deal.stage_changed", exact=False).check()
    screenshot("webhooks-01-add")
    page.locator("input[name=_save]").click()
    subscription = WebhookSubscription.objects.get()
    assert page.get_by_text(subscription.secret).is_visible()
    screenshot("webhooks-02-secret-once")

    receiver.codes = [500]
    for n in range(3):
        services.event_emit("customer.created", data={"customer_id": n + 1})
    outbox.send_due(DELIVERIES)
    page.goto(
        f"/admin/crm_site/webhookdelivery/?subscription__id__exact={subscription.pk}"
    )
    assert page.locator("#result_list tbody tr").count() == 3
    screenshot("webhooks-03-log")
