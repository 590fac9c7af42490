"""A consultant's digest keeps no copy of a customer's name: the row holds ids and
dates, the e-mail reads the names when it is composed, so an anonymisation (or a merge)
after the digest was written never reaches the consultant's inbox."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.utils import timezone

from customers import services as customer_services
from customers.services.merge import customer_merge
from sales.models import FollowUpDigest
from sales.services import reminders
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NAME = "欧阳明月"


@pytest.fixture
def due(consultant):
    consultant.email = "consultant@example.com"
    consultant.save(update_fields=["email"])
    return CustomerFactory(
        name=NAME, assigned_consultant=consultant, next_follow_up=timezone.localdate()
    )


def _digest(user) -> FollowUpDigest:
    reminders.digests_build()
    return FollowUpDigest.objects.select_related("user").get(user=user)


def test_a_digest_stores_ids_and_dates_never_names(consultant, due):
    digest = _digest(consultant)
    assert digest.payload == {
        "follow_ups": [{"id": due.pk, "date": timezone.localdate().isoformat()}]
    }
    assert NAME not in json.dumps(digest.payload, ensure_ascii=False)


def test_the_digest_email_names_the_customers_as_they_are_when_sent(consultant, due):
    digest = _digest(consultant)
    due.name = "欧阳明日"
    due.save(update_fields=["name"])
    body = reminders.DIGESTS.compose(digest).text
    assert f"- 欧阳明日 ({timezone.localdate().isoformat()})" in body
    assert NAME not in body


def test_a_digest_still_to_send_does_not_email_a_name_anonymised_since(
    administrator, consultant, due, django_capture_on_commit_callbacks
):
    digest = _digest(consultant)
    assert NAME in reminders.DIGESTS.compose(digest).text  # set-up
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.customer_anonymise(
            actor=administrator, customer=due, reference="PIPL-1", reason="本人要求"
        )
    digest.refresh_from_db()
    assert NAME not in json.dumps(digest.payload, ensure_ascii=False)
    assert reminders.digest_send(digest_id=digest.pk) is True
    (message,) = [m for m in mail.outbox if consultant.email in m.to]
    assert NAME not in message.body
    # The anonymised record is left out, not listed under its placeholder name.
    assert f"({timezone.localdate().isoformat()})" not in message.body


def test_a_customer_merged_away_since_is_left_out_of_the_digest(
    administrator, consultant, due
):
    digest = _digest(consultant)
    survivor = CustomerFactory(name="欧阳", assigned_consultant=consultant)
    customer_merge(actor=administrator, survivor=survivor, absorbed=due, choices={})
    body = reminders.DIGESTS.compose(digest).text
    assert NAME not in body


def test_composing_a_digest_takes_one_query_however_many_customers_it_lists(
    consultant, other_consultant, due, django_assert_num_queries
):
    other_consultant.email = "other@example.com"
    other_consultant.save(update_fields=["email"])
    CustomerFactory.create_batch(
        9, assigned_consultant=other_consultant, next_follow_up=timezone.localdate()
    )
    reminders.digests_build()
    small = FollowUpDigest.objects.select_related("user").get(user=consultant)
    large = FollowUpDigest.objects.select_related("user").get(user=other_consultant)
    assert (len(small.payload["follow_ups"]), len(large.payload["follow_ups"])) == (
        1,
        9,
    )
    for digest in (small, large):
        with django_assert_num_queries(1):
            message = reminders.DIGESTS.compose(digest)
        assert message.text.count("\n- ") == len(digest.payload["follow_ups"])
