"""Every event the apps register renders in both languages from sample parameters."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django.apps import apps
from django.utils import timezone, translation

from crm_site import events


def _sample(kind: events.Param) -> object:
    if isinstance(kind, events.Choice):
        field = apps.get_model(kind.model)._meta.get_field(kind.field_name)
        return field.flatchoices[-1][0]
    if isinstance(kind, events.Money):
        return Decimal("2350000.50")
    if isinstance(kind, events.Number):
        return 12
    if isinstance(kind, events.Date):
        return dt.date(2026, 12, 10)
    if isinstance(kind, events.DateTime):
        return timezone.make_aware(dt.datetime(2026, 12, 10, 14, 30))
    if isinstance(kind, events.Nested):
        return events.get("sales.hold_expired")(unit="3-1201")
    return "一期"  # Text, and any kind an app defines for itself


def _entries() -> list[events.Entry]:
    return [
        event(**{name: _sample(kind) for name, kind in event.params.items()})
        for event in events.registered().values()
    ]


def test_every_app_registers_its_events_under_its_own_label():
    codes = events.registered()
    labels = {code.split(".")[0] for code in codes}
    assert {"customers", "sales", "service", "marketing"} <= labels
    assert all(apps.is_installed(label) for label in labels)
    assert {
        "sales.deal_stage",
        "service.status_changed",
        "marketing.invited",
    } <= set(codes)


def test_every_event_renders_in_chinese_and_in_english_with_sample_parameters():
    for entry in _entries():
        assert json.loads(json.dumps(entry.params)) == entry.params  # stored as JSON
        event = events.get(entry.code)
        for language in ("zh-hans", "en"):
            with translation.override(language):
                text = str(entry)
                shown = {n: k.show(entry.params[n]) for n, k in event.params.items()}
            assert text and "%(" not in text, (entry, language)
            for name, kind in event.params.items():
                assert shown[name] != events.MISSING and shown[name] in text
                if isinstance(kind, events.Choice):
                    # A choice is shown by its label, never by its stored code.
                    assert shown[name] != str(entry.params[name]), (entry, name)


def test_a_nested_reason_is_shown_in_the_readers_words():
    moved = events.get("sales.deal_stage_because")(
        project="一期",
        old="reserved",
        new="visited",
        reason=events.get("sales.hold_expired")(unit="3-1201"),
    )
    with translation.override("en"):
        assert (
            str(moved) == "Deal 一期: Reserved → Visited · Hold on unit 3-1201 expired"
        )
    assert events.text_of(moved.code, moved.params, "客户改期") == (
        f"{moved} · 客户改期"
    )
    # An entry whose reason is gone from the registry still shows its own words.
    lost = dict(moved.params, reason={"event": "gone.event", "params": {}})
    with translation.override("en"):
        assert events.render(moved.code, lost) == "Deal 一期: Reserved → Visited · —"


def test_money_and_dates_are_written_as_people_write_them():
    reward = events.get("marketing.reward_due")(amount=Decimal("5000"), name="吴九")
    assert reward.params == {"amount": "5000.00", "name": "吴九"}
    with translation.override("en"):
        assert str(reward) == "Referral reward of ¥5,000.00 due: 吴九 signed a contract"
    handed = events.get("service.handed_over")(unit="3-1201", day=dt.date(2026, 1, 5))
    with translation.override("zh-hans"):
        assert "2026-01-05" in str(handed)
    answered = events.get("service.survey_answered")(index=Decimal("100.00"))
    assert answered.params == {"index": "100"}  # never 1E+2
