"""System text is data: events render in the reader's language; old prose is migrated."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from crm_site import events
from crm_site.events_legacy import events_from_text, parse
from crm_site.models import Notification
from crm_site.notifications import notify
from customers.events import CONTACT_WITHOUT_NOTES, MERGED
from customers.models import Interaction
from tests.factories import CustomerFactory

# Not registered: the registry holds the apps' events only.
PRICE = events.Event(
    "tests.price",
    "Price of %(unit)s set to %(price)s (%(stage)s)",
    {
        "unit": events.Text(),
        "price": events.Money(),
        "stage": events.Choice("customers.Customer", "stage"),
    },
)


def test_an_entry_stores_codes_and_raw_values_and_refuses_unknown_names():
    entry = PRICE(unit="1-1201", price=Decimal("2350000"), stage="owner")
    assert entry.params == {"unit": "1-1201", "price": "2350000.00", "stage": "owner"}
    with pytest.raises(TypeError):
        PRICE(unit="1-1201", price=1)


def test_an_entry_renders_in_the_language_of_whoever_reads_it():
    entry = CONTACT_WITHOUT_NOTES(kind="visit")
    with translation.override("en"):
        assert events.render(entry.code, entry.params) == "Visit, no notes"
    with translation.override("zh-hans"):
        assert events.render(entry.code, entry.params) == "来访（无备注）"
    price = PRICE(unit="1-1201", price=Decimal("2350000"), stage="owner")
    with translation.override("en"):
        assert (
            PRICE.render(price.params) == "Price of 1-1201 set to ¥2,350,000.00 (Owner)"
        )


def test_an_unknown_code_shows_what_was_stored_and_a_note_follows_the_words():
    assert events.text_of("gone.event", {}, "as typed") == "as typed"
    with translation.override("en"):
        assert (
            events.text_of("customers.contact", {"kind": "call_in"}, "asked price")
            == "Incoming call, no notes · asked price"
        )


def test_old_prose_in_either_language_is_recognised_with_its_note():
    assert parse("来访") == (events.Entry("customers.contact", {"kind": "visit"}), "")
    entry, note = parse(
        "Merged duplicate customer 张三 (#12) into this one (3 records moved). · 核对"
    )
    assert entry == MERGED(absorbed="张三 (#12)", count=3)
    assert note == "核对"
    assert parse("客户想看三居室") is None


@pytest.mark.django_db
def test_the_data_migration_turns_prose_into_events_and_leaves_the_rest():
    customer = CustomerFactory()
    system = Interaction.objects.create(
        customer=customer, kind="system", summary="Restored from the merge into 李四."
    )
    typed = Interaction.objects.create(
        customer=customer, kind="visit", summary="客户想看三居室"
    )
    user = customer.assigned_consultant or _user()
    old = Notification.objects.create(user=user, message="来访")

    assert events_from_text(Interaction, text_field="summary") == 1
    assert events_from_text(Notification, text_field="message") == 1
    assert events_from_text(Interaction, text_field="summary") == 0  # once only

    system.refresh_from_db()
    typed.refresh_from_db()
    old.refresh_from_db()
    assert (system.event, system.params, system.summary) == (
        "customers.restored",
        {"survivor": "李四"},
        "",
    )
    assert (typed.event, typed.summary) == ("", "客户想看三居室")
    assert old.event == "customers.contact" and old.message == ""
    with translation.override("en"):
        assert system.text == "Restored from the merge into 李四."
        assert old.text == "Visit, no notes"


@pytest.mark.django_db
def test_notify_stores_the_event_not_its_words():
    user = _user()
    notification = notify(user=user, entry=CONTACT_WITHOUT_NOTES(kind="sms"))
    assert (notification.event, notification.params, notification.message) == (
        "customers.contact",
        {"kind": "sms"},
        "",
    )
    with pytest.raises(ValueError):
        notify(user=user)


def _user():
    from tests.factories import UserFactory

    return UserFactory()
