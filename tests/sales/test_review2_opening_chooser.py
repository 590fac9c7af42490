"""Which owner chose a unit on the phone is recorded (sales.services.opening
.selection_claim, called by sales.opening_lane.choose): an audit entry naming them
and a timeline entry with the portal's channel; a lost race writes nothing."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from crm_site.models import AuditEntry
from customers.models import Channel, Interaction
from sales.models import Selection
from sales.services.opening import selection_make
from tests.opening_fixtures import enter, make_deposit
from tests.portal_fixtures import owner_client_for
from tests.sales.test_opening_lane import (  # noqa: F401 - fixtures
    _keep_the_test_transaction,
    _post,
    lane,
)

pytestmark = pytest.mark.django_db


def _recorded(selection: Selection) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Selection),
            object_id=selection.pk,
        )
    )


def test_a_household_member_choosing_on_the_phone_is_named(
    online,
    consultant,
    owner_household,
    lane,  # noqa: F811
):
    session, units, _entry, _rival = online
    buyer, co_buyer = owner_household.buyer, owner_household.co_buyer
    entry = enter(
        session,
        make_deposit(project=session.project, consultant=consultant, customer=buyer),
    )
    answer = _post(entry.pk, units[1].pk, owner=co_buyer)
    assert lane[0] is not None and answer.json()["result"] == "chosen"
    selection = Selection.objects.get(entry=entry)
    assert selection.customer == buyer
    [audit] = _recorded(selection)
    assert audit.changes["chosen_by"]["new"] == f"{co_buyer.name} (#{co_buyer.pk})"
    assert (
        audit.changes["channel"]["new"] == Selection.Channel.ONLINE
    )  # shown as the field's choice
    entry_on_timeline = Interaction.objects.get(
        customer=co_buyer, event="sales.unit_selected"
    )
    assert entry_on_timeline.channel == Channel.PORTAL
    assert entry_on_timeline.params["unit"] == units[1].number


def test_the_holder_choosing_in_the_plain_form_is_named(online):
    _session, units, entry, _rival = online
    holder = entry.deposit.customer
    response = owner_client_for(holder).post(
        reverse("sales_portal:opening-choose", args=[entry.pk, units[2].pk])
    )
    assert response.status_code == 302
    selection = Selection.objects.get(entry=entry)
    [audit] = _recorded(selection)
    assert audit.changes["chosen_by"]["new"] == f"{holder.name} (#{holder.pk})"
    # The holder's own choice: their timeline hears of it from the subscription the
    # worker signs (its stage change), not from a second entry written in the rush.
    assert not Interaction.objects.filter(
        customer=holder, event="sales.unit_selected", channel=Channel.PORTAL
    ).exists()


def test_a_lost_race_writes_no_record(online, lane):  # noqa: F811
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    audits, timeline = AuditEntry.objects.count(), Interaction.objects.count()
    answer = _post(entry.pk, units[0].pk, owner=entry.deposit.customer)
    assert answer.json()["result"] == "taken"
    assert AuditEntry.objects.count() == audits
    assert Interaction.objects.count() == timeline
