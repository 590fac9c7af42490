"""An owner's letters to the general manager are capped per day
(service.mailbox.letter_write): each notifies the whole GM queue, so a script looping
on the portal's form would flood the executive's and the service manager's bells."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from crm_site.models import Notification
from service import mailbox
from service.models import OwnerLetter

pytestmark = pytest.mark.django_db


def _a_days_letters(owner) -> None:
    """As many letters as the owner may write in a day."""
    for n in range(mailbox.LETTERS_PER_DAY):
        mailbox.letter_write(
            owner=owner,
            household_ids=frozenset([owner.pk]),
            subject=f"第{n}封",
            body="内容",
        )


def test_the_letter_past_the_days_cap_is_refused_on_the_form_and_nothing_is_sent(
    owner_client, owner, executive
):
    _a_days_letters(owner)
    notified = Notification.objects.count()
    response = owner_client.post(
        reverse("service_portal:letter-create"), {"subject": "再写一封", "body": "内容"}
    )
    assert response.status_code == 400
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1
    assert escape(errors[0]) in response.content.decode()
    assert OwnerLetter.objects.count() == mailbox.LETTERS_PER_DAY
    assert Notification.objects.count() == notified


def test_letters_older_than_a_day_do_not_count(owner, executive):
    _a_days_letters(owner)
    OwnerLetter.objects.update(
        written_at=OwnerLetter.objects.first().written_at.replace(year=2020)
    )
    mailbox.letter_write(
        owner=owner, household_ids=frozenset([owner.pk]), subject="明天", body="内容"
    )
    assert OwnerLetter.objects.count() == mailbox.LETTERS_PER_DAY + 1


def test_another_owners_letters_do_not_count(owner, other_owner, executive):
    _a_days_letters(other_owner)
    mailbox.letter_write(
        owner=owner, household_ids=frozenset([owner.pk]), subject="我的", body="内容"
    )
