"""The timeline speaks the reader's language: the same entries, in Chinese and English.

Every event any app registers is put on one customer's timeline with sample values
that are not words in either language (digits, amounts, dates), so whatever words the
page shows come from the catalog: none may be Chinese in English, or English in Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from crm_site import events
from customers.models import Interaction
from customers.services import interaction_log
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Numbers are not words: a work order is WO101 in either language.
IDENTIFIER = re.compile(r"\bWO\d+")
TAG = re.compile(r"<[^>]+>")


def _sample(kind: events.Param):
    if isinstance(kind, events.Choice):
        from django.apps import apps

        field = apps.get_model(kind.model)._meta.get_field(kind.field_name)
        return field.flatchoices[-1][0]
    if isinstance(kind, events.Money):
        return Decimal("2350000")
    if isinstance(kind, events.Number):
        return 3
    if isinstance(kind, events.DateTime):
        return timezone.make_aware(dt.datetime(2026, 12, 10, 14, 30))
    if isinstance(kind, events.Date):
        return dt.date(2026, 12, 10)
    if isinstance(kind, events.Nested):
        return events.get("sales.hold_expired")(unit="101")
    return "101"


def _timeline_text(client, customer, language: str) -> str:
    """The visible words of every page of the timeline, as the reader gets them."""
    words, page = [], 1
    while True:
        response = client.get(
            f"/customers/{customer.pk}/timeline/?page={page}",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert response.status_code == 200
        text = TAG.sub(" ", response.content.decode())
        # Past its end the timeline shows its last page again.
        if words and text == words[-1]:
            return " ".join(words)
        words.append(text)
        page += 1


def test_the_same_timeline_reads_wholly_in_chinese_and_wholly_in_english(
    client, consultant
):
    customer = CustomerFactory(name="101", assigned_consultant=consultant)
    registered = events.registered()
    assert registered, "no app registered its events"
    for event in registered.values():
        values = {name: _sample(kind) for name, kind in event.params.items()}
        interaction_log(
            customer=customer,
            kind=Interaction.Kind.SYSTEM,
            entry=event(**values),
            actor=None,
        )
    for kind in Interaction.Kind.values:
        interaction_log(
            customer=customer,
            kind=kind,
            entry=events.get("customers.contact")(kind=kind),
            actor=None,
            channel="",
        )
    client.force_login(consultant)

    english = _timeline_text(client, customer, "en")
    chinese = _timeline_text(client, customer, "zh-hans")

    assert CJK.findall(english) == [], "Chinese words on the English timeline"
    assert LATIN_WORD.findall(IDENTIFIER.sub("", chinese)) == [], (
        "English words on the Chinese timeline"
    )
    # Both pages show every entry: the words differ, the facts do not.
    assert english.count("¥2,350,000.00") == chinese.count("¥2,350,000.00") > 0
