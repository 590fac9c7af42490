"""The buyer's phone on opening day: signing in with an entry, the session page and
its live grid, choosing a unit (sales.views_portal_opening)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from crm_site import portal
from sales import tasks
from sales.models import (
    IntentDeposit,
    Opportunity,
    Selection,
    SelectionSession,
    SessionUnit,
    Unit,
)
from sales.opening_lane import SOLD_WORDS
from sales.services.opening import selection_make
from tests.factories import make_building
from tests.helpers import assert_queries_do_not_grow
from tests.opening_fixtures import enter, make_deposit, make_session
from tests.portal_fixtures import owner_client_for

pytestmark = pytest.mark.django_db

ONLINE = SelectionSession.Mode.ONLINE


def _url(name: str, *args) -> str:
    return reverse(f"sales_portal:{name}", args=args)


def _choose(client: Client, entry, unit):
    return client.post(_url("opening-choose", entry.pk, unit.pk))


# Who may sign in ---------------------------------------------------------------------


def test_a_buyer_entered_in_an_online_session_may_sign_in_to_the_portal(online):
    _session, _units, entry, _rival = online
    assert portal.is_eligible(entry.deposit.customer)


def test_a_buyer_with_a_deposit_but_no_online_entry_may_not_sign_in(
    online, consultant, sales_manager
):
    session, _units, _entry, _rival = online
    only_deposit = make_deposit(project=session.project, consultant=consultant)
    assert not portal.is_eligible(only_deposit.customer)
    on_site = make_session(
        project=session.project,
        created_by=sales_manager,
        units=[],
        mode=SelectionSession.Mode.ON_SITE,
        name="现场场次",
    )
    enter(on_site, only_deposit)
    assert not portal.is_eligible(only_deposit.customer)


def test_nobody_may_sign_in_with_an_entry_of_a_draft_or_closed_session(online):
    session, _units, entry, _rival = online
    for status in (SelectionSession.Status.DRAFT, SelectionSession.Status.CLOSED):
        SelectionSession.objects.filter(pk=session.pk).update(status=status)
        assert not portal.is_eligible(entry.deposit.customer)


def test_the_sign_in_code_is_sent_to_an_entry_holder(online):
    from customers.models import PortalCode
    from customers.services.portal import portal_code_request

    _session, _units, entry, _rival = online
    customer = entry.deposit.customer
    portal_code_request(phone=customer.mobile, ip_address="10.0.0.9")
    assert PortalCode.objects.get().customer == customer


def test_the_online_selection_section_shows_only_to_entry_holders(online, owner_client):
    _session, _units, entry, _rival = online
    title = gettext("Online selection")
    home = reverse("portal:home")
    buyer_page = owner_client_for(entry.deposit.customer).get(home).content.decode()
    assert title in buyer_page
    assert _url("opening-sessions") in buyer_page
    assert title not in owner_client.get(home).content.decode()


# Scope -------------------------------------------------------------------------------


def test_my_sessions_list_my_entry_with_my_number(online):
    _session, _units, entry, _rival = online
    response = owner_client_for(entry.deposit.customer).get(_url("opening-sessions"))
    assert response.status_code == 200
    assert [row["entry"] for row in response.context["rows"]] == [entry]


def test_another_buyers_entry_is_not_found_on_any_page(online):
    session, units, entry, rival = online
    client = owner_client_for(entry.deposit.customer)
    rival_selection = selection_make(
        session=session, entry=rival, unit=units[5], channel="online"
    )
    for url in (
        _url("opening-session", rival.pk),
        _url("opening-choose", rival.pk, units[0].pk),
        _url("opening-selection", rival.pk, rival_selection.pk),
        _url("opening-selection", entry.pk, rival_selection.pk),
        _url("opening-live", rival.pk),
    ):
        assert client.get(url).status_code == 404, url
    assert _choose(client, rival, units[0]).status_code == 404
    assert not Selection.objects.filter(unit=units[0]).exists()


def test_a_unit_outside_the_session_is_not_found(online):
    _session, _units, entry, _rival = online
    elsewhere = make_building(project_name="别处", floors=1, per_floor=1).units.get()
    client = owner_client_for(entry.deposit.customer)
    assert client.get(_url("opening-choose", entry.pk, elsewhere.pk)).status_code == 404
    assert _choose(client, entry, elsewhere).status_code == 404


def test_a_staff_session_is_sent_to_the_owners_sign_in(online, client, consultant):
    _session, _units, entry, _rival = online
    client.force_login(consultant)
    response = client.get(_url("opening-session", entry.pk))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_choosing_needs_the_csrf_token(online):
    _session, units, entry, _rival = online
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.PORTAL_SESSION_COOKIE] = portal.session_for(
        entry.deposit.customer
    ).session_key
    assert _choose(client, entry, units[0]).status_code == 403
    assert not Selection.objects.exists()


# The session page --------------------------------------------------------------------


def test_the_session_page_shows_my_number_the_start_and_the_grid(online):
    _session, units, entry, _rival = online
    response = owner_client_for(entry.deposit.customer).get(
        _url("opening-session", entry.pk)
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert response.context["turn"]["first_come"]
    assert response.context["may_choose"]
    assert f'data-live-url="{_url("opening-live", entry.pk)}"' in text
    for unit in units:
        assert f'data-unit-id="{unit.pk}" data-status="available"' in text
        assert unit.number in text
    assert response.context["available"] == response.context["total"] == len(units)


def test_the_grid_filters_by_building_and_layout(online, sales_manager):
    _session, units, entry, _rival = online
    Unit.objects.filter(pk=units[0].pk).update(layout="四室两厅")
    client = owner_client_for(entry.deposit.customer)
    response = client.get(_url("opening-session", entry.pk), {"layout": "四室两厅"})
    shown = [
        u for g in response.context["groups"] for f in g["floors"] for u in f["units"]
    ]
    assert [u.pk for u in shown] == [units[0].pk]
    building = units[0].building.name
    response = client.get(_url("opening-session", entry.pk), {"building": "无此楼"})
    assert response.context["groups"] == []
    assert building in response.context["buildings"]


def test_a_buyer_whose_slot_is_later_sees_the_countdown(online, consultant):
    session, _units, entry, _rival = online
    SelectionSession.objects.filter(pk=session.pk).update(
        order=SelectionSession.Order.QUEUE
    )
    later = timezone.now() + timedelta(minutes=30)
    type(entry).objects.filter(pk=entry.pk).update(
        slot_starts_at=later, slot_ends_at=later + timedelta(minutes=5)
    )
    response = owner_client_for(entry.deposit.customer).get(
        _url("opening-session", entry.pk)
    )
    assert not response.context["turn"]["started"]
    assert 'data-testid="opening-countdown"' in response.content.decode()


def test_the_grid_costs_the_same_queries_whatever_the_number_of_units(online):
    session, _units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)

    def grow() -> None:
        building = make_building(
            project_name=session.project.name, floors=6, per_floor=4
        )
        SessionUnit.objects.bulk_create(
            SessionUnit(session=session, unit=u) for u in building.units.all()
        )

    assert_queries_do_not_grow(
        lambda: client.get(_url("opening-session", entry.pk)), grow, at_most=12
    )


def test_the_live_stream_answers_with_server_sent_events(online):
    _session, _units, entry, _rival = online
    response = owner_client_for(entry.deposit.customer).get(
        _url("opening-live", entry.pk)
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    response.close()


# Choosing ----------------------------------------------------------------------------


def test_choosing_a_unit_claims_it_and_a_worker_signs_the_subscription(
    online, django_capture_on_commit_callbacks
):
    _session, units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)
    page = client.get(_url("opening-choose", entry.pk, units[2].pk))
    assert page.status_code == 200 and units[2].number in page.content.decode()
    assert not Selection.objects.exists()  # GET changes nothing

    with django_capture_on_commit_callbacks() as callbacks:
        response = _choose(client, entry, units[2])
    selection = Selection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("opening-selection", entry.pk, selection.pk)
    assert selection.unit == units[2] and selection.entry == entry
    assert selection.channel == Selection.Channel.ONLINE
    assert selection.selected_by is None
    units[2].refresh_from_db()
    assert units[2].status == Unit.Status.SUBSCRIBED
    # The unit is the buyer's at once; the paperwork is queued for a worker.
    assert selection.opportunity is None
    assert len(callbacks) == 2  # the screens told, the paperwork queued
    signing = client.get(response["Location"])
    assert signing.status_code == 200 and signing.context["signing"]
    assert 'http-equiv="refresh"' in signing.content.decode()

    tasks.selection_complete(selection.pk)
    selection.refresh_from_db()
    assert selection.opportunity.stage == Opportunity.Stage.SUBSCRIBED
    assert selection.opportunity.unit == units[2]
    deposit = IntentDeposit.objects.get(pk=entry.deposit_id)
    assert deposit.status == IntentDeposit.Status.APPLIED

    done = client.get(response["Location"])
    assert done.status_code == 200 and not done.context["signing"]
    text = done.content.decode()
    assert units[2].number in text and 'http-equiv="refresh"' not in text
    assert done.context["balance"] == done.context["price"] - deposit.amount


def test_a_unit_just_sold_sends_the_buyer_back_to_the_grid_saying_so(online):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    client = owner_client_for(entry.deposit.customer)
    response = _choose(client, entry, units[0])
    assert response.status_code == 302
    assert response["Location"] == _url("opening-session", entry.pk) + (
        f"?taken={units[0].pk}"
    )
    page = client.get(response["Location"])
    text = page.content.decode()
    assert gettext(SOLD_WORDS) in text
    assert f'data-unit-id="{units[0].pk}" data-status="subscribed"' in text
    assert not Selection.objects.filter(entry=entry).exists()
    # … and the next unit is still theirs to choose.
    assert _choose(client, entry, units[1]).status_code == 302
    assert Selection.objects.get(entry=entry).unit == units[1]


def test_the_confirm_page_of_a_sold_unit_sends_the_buyer_back_to_the_grid(online):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    client = owner_client_for(entry.deposit.customer)
    response = client.get(_url("opening-choose", entry.pk, units[0].pk))
    assert response.status_code == 302
    assert "taken=" in response["Location"]


def test_a_second_unit_over_the_buyers_limit_is_refused_with_the_reason(online):
    _session, units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)
    _choose(client, entry, units[0])
    response = _choose(client, entry, units[1])
    assert response.status_code == 302
    assert response["Location"] == _url("opening-session", entry.pk)
    text = client.get(response["Location"]).content.decode()
    assert gettext("The buyer has chosen as many units as the session allows.") in text
    assert Selection.objects.filter(entry=entry).count() == 1


def test_a_buyer_whose_slot_has_not_started_is_refused(online):
    session, units, entry, _rival = online
    SelectionSession.objects.filter(pk=session.pk).update(
        order=SelectionSession.Order.QUEUE
    )
    later = timezone.now() + timedelta(minutes=30)
    type(entry).objects.filter(pk=entry.pk).update(slot_starts_at=later)
    client = owner_client_for(entry.deposit.customer)
    response = _choose(client, entry, units[0])
    text = client.get(response["Location"]).content.decode()
    assert gettext("Your time slot has not started yet.") in text
    assert not Selection.objects.exists()


def test_a_session_not_yet_open_refuses_and_offers_no_unit(online):
    session, units, entry, _rival = online
    SelectionSession.objects.filter(pk=session.pk).update(
        status=SelectionSession.Status.ORDERED
    )
    client = owner_client_for(entry.deposit.customer)
    page = client.get(_url("opening-session", entry.pk))
    assert not page.context["may_choose"]
    response = _choose(client, entry, units[0])
    text = client.get(response["Location"]).content.decode()
    assert gettext("The selection session is not open.") in text
    assert not Selection.objects.exists()


def test_a_household_member_may_choose_for_the_households_entry(
    online, consultant, owner_household
):
    session, units, _entry, _rival = online
    deposit = make_deposit(
        project=session.project,
        consultant=consultant,
        customer=owner_household.buyer,
    )
    entry = enter(session, deposit)
    client = owner_client_for(owner_household.co_buyer)
    assert client.get(_url("opening-session", entry.pk)).status_code == 200
    assert _choose(client, entry, units[3]).status_code == 302
    assert Selection.objects.get(entry=entry).customer == owner_household.buyer


def test_losing_the_race_inside_the_selection_sends_the_buyer_back_saying_so(
    online, monkeypatch
):
    """The unit was still on sale when the page was read, and another buyer's
    selection committed first: selection_claim answers UnitUnavailable."""
    from sales import opening_lane
    from sales.services.deals import UnitUnavailable

    _session, units, entry, _rival = online

    def faster(**kwargs):
        raise UnitUnavailable(kwargs["unit"])

    monkeypatch.setattr(opening_lane, "selection_claim", faster)
    client = owner_client_for(entry.deposit.customer)
    response = _choose(client, entry, units[4])
    assert response["Location"].endswith(f"?taken={units[4].pk}")
    text = client.get(response["Location"]).content.decode()
    assert gettext(SOLD_WORDS) in text
    assert "opening-taken" in text


# The phone's script: answers as data -----------------------------------------------


def _choose_json(client: Client, entry, unit):
    return client.post(
        _url("opening-choose", entry.pk, unit.pk), HTTP_ACCEPT="application/json"
    )


def test_the_phones_script_is_told_its_choice_as_data(online):
    _session, units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)
    response = _choose_json(client, entry, units[2])
    selection = Selection.objects.get()
    assert response.status_code == 200
    assert response.json() == {
        "result": "chosen",
        "url": _url("opening-selection", entry.pk, selection.pk),
    }
    assert selection.unit == units[2] and selection.entry == entry


def test_a_lost_race_is_answered_with_the_units_still_on_sale_not_the_grid(online):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    client = owner_client_for(entry.deposit.customer)
    response = _choose_json(client, entry, units[0])
    assert response.status_code == 200
    answer = response.json()
    assert answer["result"] == "taken" and answer["unit"] == units[0].pk
    assert answer["available"] == sorted(u.pk for u in units[1:])
    assert answer["grid"] == _url("opening-session", entry.pk) + f"?taken={units[0].pk}"
    assert answer["message"] == gettext(SOLD_WORDS)
    assert len(response.content) < 1000  # not the grid
    assert not Selection.objects.filter(entry=entry).exists()
    # No message waits for the next page: the phone showed it already.
    page = client.get(_url("opening-session", entry.pk))
    assert gettext(SOLD_WORDS) not in page.content.decode()
    # … and the buyer chooses again from that list.
    again = _choose_json(client, entry, units[1])
    assert again.json()["result"] == "chosen"


def test_losing_inside_the_selection_is_answered_as_data_too(online, monkeypatch):
    from sales import opening_lane
    from sales.services.deals import UnitUnavailable

    _session, units, entry, _rival = online

    def faster(**kwargs):
        raise UnitUnavailable(kwargs["unit"])

    monkeypatch.setattr(opening_lane, "selection_claim", faster)
    client = owner_client_for(entry.deposit.customer)
    response = _choose_json(client, entry, units[4])
    assert response.status_code == 200
    assert response.json()["result"] == "taken"
    assert units[4].pk in response.json()["available"]  # still on sale in the table


def test_a_refusal_is_answered_as_data_with_its_reason(online):
    _session, units, entry, _rival = online
    client = owner_client_for(entry.deposit.customer)
    _choose_json(client, entry, units[0])
    response = _choose_json(client, entry, units[1])
    assert response.status_code == 200
    answer = response.json()
    assert answer["result"] == "refused" and answer["code"] == "buyer_limit"
    assert answer["message"] == gettext(
        "The buyer has chosen as many units as the session allows."
    )
    assert Selection.objects.filter(entry=entry).count() == 1


def test_a_lost_race_costs_the_same_queries_whatever_the_number_of_units(online):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    client = owner_client_for(entry.deposit.customer)

    def grow() -> None:
        building = make_building(
            project_name=session.project.name, floors=6, per_floor=4
        )
        SessionUnit.objects.bulk_create(
            SessionUnit(session=session, unit=u) for u in building.units.all()
        )

    # The owner, the entry, the unit, the units still on sale.
    assert_queries_do_not_grow(
        lambda: _choose_json(client, entry, units[0]), grow, at_most=4
    )
