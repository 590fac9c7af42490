"""Date and time pickers (<input type="date"> / "datetime-local") take ISO values
only: written in the language's input format (zh-hans 2026/12/06) the browser drops
the value and the field shows empty — a receipt's date, a work order's appointment."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.utils import timezone, translation

from customers.forms import InteractionForm
from sales.forms import ReceiptForm
from service.forms import ScheduleForm, WorkOrderForm

LANGUAGES = ["zh-hans", "en"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("form", "field"),
    [(ReceiptForm, "received_on"), (InteractionForm, "next_follow_up")],
)
def test_a_date_picker_is_given_its_value_as_an_iso_date(form, field, language):
    widget = form.base_fields[field].widget
    with translation.override(language):
        html = widget.render(field, date(2026, 12, 6))
    assert 'type="date"' in html and 'value="2026-12-06"' in html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("form", "field"), [(ScheduleForm, "appointment_at"), (WorkOrderForm, "due_at")]
)
def test_a_date_and_time_picker_is_given_its_value_in_iso_form(form, field, language):
    moment = timezone.make_aware(datetime(2026, 12, 6, 9, 30))
    widget = form.base_fields[field].widget
    with translation.override(language), timezone.override("Asia/Shanghai"):
        html = widget.render(field, moment)
    assert 'type="datetime-local"' in html and 'value="2026-12-06T09:30"' in html
