"""The webhook subscriber set, read on every emit, survives a colleague's sign-in
(last_login saved): it follows subscriptions, keys, groups and permissions only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import update_last_login
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm_site.webhooks.services import subscribers
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_colleague_signing_in_does_not_cost_every_event_a_query():
    colleague = UserFactory()
    subscribers("deal.stage_changed")  # warm
    with CaptureQueriesContext(connection) as warm:
        subscribers("deal.stage_changed")
    assert len(warm) == 0
    # A consultant signs in: Django writes their last_login (nothing about keys,
    # subscriptions, roles or permissions changed).
    update_last_login(None, colleague)
    with CaptureQueriesContext(connection) as after:
        subscribers("deal.stage_changed")
    assert len(after) == 0, [q["sql"] for q in after]
