"""The selection-session screens (sales.views_sessions): set-up, console, big screen,
event stream, print, close and report."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from crm_site import live
from sales.forms_sessions import format_floors, parse_floors
from sales.models import (
    DepositRefund,
    Selection,
    SelectionSession,
    SessionUnit,
    Unit,
)
from sales.services import sessions as service
from sales.services.opening import selection_make
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

Status = SelectionSession.Status


@pytest.fixture
def opening(sales_manager, team):
    project, units = opening_project(floors=4, per_floor=2)
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    return project, units, session


def _url(name: str, session) -> str:
    return reverse(f"sales:{name}", args=[session.pk])


def _form(project, **extra) -> dict:
    data = {
        "name": "一期首开",
        "starts_at": (timezone.localtime() + timedelta(days=2)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "mode": SelectionSession.Mode.ON_SITE,
        "order": SelectionSession.Order.QUEUE,
        "units_per_buyer": "1",
        "units_per_household": "2",
        "minutes_per_buyer": "5",
        "buildings": [str(b.pk) for b in project.buildings.all()],
        "floors": "",
    }
    data.update(extra)
    return data


# --- set-up -------------------------------------------------------------------------


def test_a_manager_creates_a_session_from_the_form(client, sales_manager, team):
    project, _units = opening_project(floors=3, per_floor=2)
    project.teams.add(team)
    client.force_login(sales_manager)
    page = client.get(reverse("sales:session-create", args=[project.pk]))
    assert page.status_code == 200
    response = client.post(
        reverse("sales:session-create", args=[project.pk]), _form(project, floors="2-3")
    )
    session = SelectionSession.objects.get()
    assert response.status_code == 302 and response.url == session.get_absolute_url()
    assert session.session_units.count() == 4
    assert session.units_per_household == 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"units_per_buyer": "3", "units_per_household": "1"}, "units_per_household"),
        ({"floors": "十楼"}, "floors"),
        ({"floors": "40-50"}, "buildings"),
        ({"buildings": []}, "buildings"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_shows_the_error_next_to_the_field_and_saves_nothing(
    client, sales_manager, team, extra, field
):
    project, _units = opening_project(floors=3, per_floor=2)
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:session-create", args=[project.pk]), _form(project, **extra)
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not SelectionSession.objects.exists()


def test_a_unit_in_another_live_session_is_refused_on_the_form(
    client, sales_manager, opening
):
    project, _units, _session = opening
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:session-create", args=[project.pk]), _form(project)
    )
    assert response.status_code == 200
    assert "buildings" in response.context["form"].errors
    assert SelectionSession.objects.count() == 1


def test_a_consultant_may_not_create_a_session(client, consultant, team):
    project, _units = opening_project()
    client.force_login(consultant)
    url = reverse("sales:session-create", args=[project.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, _form(project)).status_code == 403
    assert not SelectionSession.objects.exists()


def test_a_draft_session_is_edited_and_an_ordered_one_refused(
    client, sales_manager, team
):
    project, _units = opening_project(floors=3, per_floor=2)
    session = make_session(
        project=project, created_by=sales_manager, status=Status.DRAFT
    )
    client.force_login(sales_manager)
    assert client.get(_url("session-edit", session)).status_code == 200
    response = client.post(
        _url("session-edit", session), _form(project, name="改了", floors="3")
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.name == "改了" and session.session_units.count() == 2
    session.status = Status.ORDERED
    session.save()
    response = client.post(_url("session-edit", session), _form(project, name="再改"))
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    session.refresh_from_db()
    assert session.name == "改了"


def test_the_session_list_is_paginated_and_its_queries_do_not_grow(
    client, sales_manager, opening
):
    project, _units, _session = opening
    client.force_login(sales_manager)
    url = reverse("sales:session-list", args=[project.pk])

    def grow() -> None:
        for _ in range(30):
            make_session(
                project=project,
                created_by=sales_manager,
                status=Status.CLOSED,
                name="加推",
                units=[],
            )

    # Past one page from the start: the pager then counts the same way each time.
    grow()
    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=12)
    page = client.get(url)
    assert page.status_code == 200 and page.context["page"].has_next


# --- scope and rights ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "session-detail",
        "session-console",
        "session-screen",
        "session-events",
        "session-report",
        "session-close",
        "session-edit",
    ],
)
def test_a_consultant_of_another_team_gets_404(client, far_consultant, opening, name):
    _project, _units, session = opening
    # Rights enough for every page: only the scope keeps them out.
    far_consultant.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["manage_sales", "view_sales_management"]
        )
    )
    client.force_login(far_consultant)
    assert client.get(_url(name, session)).status_code == 404


def test_the_project_sessions_of_another_team_are_404(client, far_consultant, opening):
    project, _units, _session = opening
    client.force_login(far_consultant)
    url = reverse("sales:session-list", args=[project.pk])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("session-console", "get"),
        ("session-select", "post"),
        ("session-call", "post"),
        ("session-open", "post"),
        ("session-close", "post"),
        ("session-report", "get"),
    ],
)
def test_a_service_agent_or_consultant_without_the_right_gets_403(
    client, consultant, service_agent, opening, name, method
):
    _project, _units, session = opening
    # The console and the selection need use_sales (a service agent lacks it);
    # calling, opening, closing and the report are a manager's.
    user = (
        service_agent if name in ("session-console", "session-select") else consultant
    )
    client.force_login(user)
    response = getattr(client, method)(_url(name, session))
    assert response.status_code == 403


def test_an_outsider_gets_403_everywhere(client, outsider, opening):
    _project, _units, session = opening
    client.force_login(outsider)
    assert client.get(_url("session-detail", session)).status_code == 403
    assert client.get(_url("session-screen", session)).status_code == 403


# --- detail -------------------------------------------------------------------------


def test_the_detail_shows_rules_entries_and_links_with_steady_queries(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    enter(session, make_deposit(project=project, consultant=consultant))
    client.force_login(sales_manager)
    url = session.get_absolute_url()
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert _url("session-order", session) in body
    assert _url("session-console", session) in body

    def grow() -> None:
        for _ in range(15):
            enter(session, make_deposit(project=project, consultant=consultant))

    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=15)


def test_the_detail_masks_names_the_viewer_may_not_see(
    client, consultant, other_consultant, opening
):
    project, _units, session = opening
    customer = CustomerFactory(name="李四海", assigned_consultant=consultant)
    enter(
        session, make_deposit(project=project, consultant=consultant, customer=customer)
    )
    client.force_login(other_consultant)
    body = client.get(session.get_absolute_url()).content.decode()
    assert "李**" in body and "李四海" not in body


# --- opening and calling ------------------------------------------------------------


def test_a_manager_opens_an_ordered_session_and_calls_numbers(
    client, consultant, sales_manager, team
):
    project, _units = opening_project()
    session = make_session(
        project=project, created_by=sales_manager, status=Status.ORDERED
    )
    for _ in range(2):
        enter(session, make_deposit(project=project, consultant=consultant))
    client.force_login(sales_manager)
    response = client.post(_url("session-open", session))
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == Status.OPEN
    client.post(_url("session-call", session))
    client.post(_url("session-call", session), {"position": "1"})
    session.refresh_from_db()
    assert session.called_position == 1
    response = client.post(
        _url("session-call", session), {"position": "9"}, follow=True
    )
    assert any("9" in str(m) for m in response.context["messages"])
    response = client.post(
        _url("session-call", session), {"position": "x"}, follow=True
    )
    session.refresh_from_db()
    assert session.called_position == 1


def test_opening_a_draft_queue_session_is_refused_with_a_message(
    client, sales_manager, team
):
    project, _units = opening_project()
    session = make_session(
        project=project, created_by=sales_manager, status=Status.DRAFT
    )
    client.force_login(sales_manager)
    response = client.post(_url("session-open", session), follow=True)
    assert list(response.context["messages"])
    session.refresh_from_db()
    assert session.status == Status.DRAFT


# --- the console --------------------------------------------------------------------


def _called(session, project, consultant, sales_manager, customer=None):
    entry = enter(
        session,
        make_deposit(project=project, consultant=consultant, customer=customer),
    )
    service.session_call(actor=sales_manager, session=session, position=entry.position)
    return entry


def test_the_consultant_selects_for_the_called_buyer_after_confirming(
    client, consultant, sales_manager, opening
):
    project, units, session = opening
    entry = _called(session, project, consultant, sales_manager)
    client.force_login(consultant)
    console = client.get(_url("session-console", session))
    assert console.status_code == 200
    assert f'data-unit-id="{units[0].pk}"' in console.content.decode()
    data = {"entry": entry.pk, "unit": units[0].pk}
    asked = client.post(_url("session-select", session), data)
    assert asked.status_code == 200 and b"confirm-page" in asked.content
    assert not Selection.objects.exists()
    done = client.post(_url("session-select", session), {**data, "confirmed": "1"})
    selection = Selection.objects.get()
    assert done.status_code == 302 and f"printed={selection.pk}" in done.url
    assert selection.selected_by == consultant and selection.channel == "on_site"
    printed = client.get(reverse("sales:selection-print", args=[selection.pk]))
    assert printed.status_code == 200
    assert units[0].number in printed.content.decode()


def test_a_selection_still_being_signed_is_printed_a_moment_later(
    client, consultant, sales_manager, opening
):
    from sales.services.opening import selection_claim, selection_complete

    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection = selection_claim(
        session=session, entry=entry, unit=units[0], channel="online"
    )
    client.force_login(consultant)
    url = reverse("sales:selection-print", args=[selection.pk])
    waiting = client.get(url, follow=True)
    assert waiting.redirect_chain[0][0] == session.get_absolute_url()
    assert str(next(iter(waiting.context["messages"]))) == gettext(
        "The subscription of this selection is being signed; print it in a moment."
    )
    selection_complete(selection.pk)
    printed = client.get(url)
    assert printed.status_code == 200 and units[0].number in printed.content.decode()


def test_a_refused_selection_says_why_and_sells_nothing(
    client, consultant, sales_manager, opening
):
    project, units, session = opening
    entry = _called(session, project, consultant, sales_manager)
    selection_make(
        session=session, entry=entry, unit=units[0], channel="on_site", actor=consultant
    )
    client.force_login(consultant)
    response = client.post(
        _url("session-select", session),
        {"entry": entry.pk, "unit": units[1].pk, "confirmed": "1"},
        follow=True,
    )
    assert [m.message for m in response.context["messages"]]
    assert Selection.objects.count() == 1
    units[1].refresh_from_db()
    assert units[1].status == Unit.Status.AVAILABLE

    other = _called(session, project, consultant, sales_manager)
    response = client.post(
        _url("session-select", session),
        {"entry": other.pk, "unit": units[0].pk, "confirmed": "1"},
        follow=True,
    )
    assert any(units[0].number in m.message for m in response.context["messages"])


def test_a_unit_outside_the_session_or_a_bad_post_is_refused(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    entry = _called(session, project, consultant, sales_manager)
    elsewhere = make_building(
        project_name="别的项目", floors=1, per_floor=1, skipped=()
    )
    client.force_login(consultant)
    for data in (
        {"entry": entry.pk, "unit": elsewhere.units.get().pk, "confirmed": "1"},
        {"entry": "x", "unit": ""},
    ):
        response = client.post(_url("session-select", session), data)
        assert response.status_code == 302
    assert not Selection.objects.exists()


def test_the_console_and_screen_queries_do_not_grow_with_units_and_entries(
    client, consultant, sales_manager, team
):
    project, _units = opening_project(floors=2, per_floor=2)
    session = make_session(project=project, created_by=sales_manager)
    _called(session, project, consultant, sales_manager)
    client.force_login(sales_manager)

    def grow() -> None:
        building = make_building(
            project_name=project.name, floors=8, per_floor=4, skipped=()
        )
        building.name = "2栋"
        SessionUnit.objects.bulk_create(
            SessionUnit(session=session, unit=u) for u in building.units.all()
        )
        for _ in range(10):
            enter(session, make_deposit(project=project, consultant=consultant))

    for name in ("session-console", "session-screen"):
        assert_queries_do_not_grow(
            lambda name=name: client.get(_url(name, session)), grow, at_most=20
        )


def test_the_card_fragment_shows_the_called_buyer(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    _called(session, project, consultant, sales_manager)
    client.force_login(consultant)
    response = client.get(_url("session-console-card", session))
    assert response.status_code == 200 and b"called-card" in response.content


def test_the_big_screen_has_no_navigation_and_the_live_markup(
    client, consultant, opening
):
    _project, units, session = opening
    client.force_login(consultant)
    body = client.get(_url("session-screen", session)).content.decode()
    assert "navbar" not in body
    assert f'data-live-url="{_url("session-events", session)}"' in body
    assert f'data-unit-id="{units[0].pk}"' in body and "opening_live.js" in body


# --- the event stream ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_event_stream_sends_a_frame_after_a_publish(
    client, consultant, sales_manager, team, monkeypatch
):
    project, _units = opening_project()
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    live.client().delete(live.recent_key(session.topic))
    # Opening streams last two minutes (sales' live topic kind): two seconds here.
    monkeypatch.setitem(
        live._KINDS,
        "opening",
        dataclasses.replace(live._KINDS["opening"], stream_seconds=2.0),
    )
    client.force_login(consultant)
    response = client.get(_url("session-events", session))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")

    def publish_soon() -> None:
        time.sleep(0.3)
        live.publish(session.topic, {"position": 7}, name="called")

    threading.Thread(target=publish_soon).start()
    text = "".join(
        chunk.decode() if isinstance(chunk, bytes) else chunk
        for chunk in response.streaming_content
    )
    assert "event: called" in text and '"position": 7' in text
    connection.close()


# --- close and report ---------------------------------------------------------------


def test_the_manager_closes_with_refunds_and_the_form_needs_a_next_session_to_move(
    client, consultant, sales_manager, opening
):
    project, _units, session = opening
    enter(session, make_deposit(project=project, consultant=consultant))
    client.force_login(sales_manager)
    assert client.get(_url("session-close", session)).status_code == 200
    response = client.post(_url("session-close", session), {"deposits": "move"})
    assert response.status_code == 200
    assert "next_session" in response.context["form"].errors
    response = client.post(_url("session-close", session), {"deposits": "nonsense"})
    assert "deposits" in response.context["form"].errors
    session.refresh_from_db()
    assert session.status == Status.OPEN
    response = client.post(_url("session-close", session), {"deposits": "refund"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == Status.CLOSED
    assert DepositRefund.objects.filter(status="pending").count() == 1


def test_the_report_page_shows_the_figures(client, consultant, sales_manager, opening):
    project, units, session = opening
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    selection_make(
        session=session, entry=entry, unit=units[0], channel="on_site", actor=consultant
    )
    client.force_login(sales_manager)
    response = client.get(_url("session-report", session))
    assert response.status_code == 200
    assert response.context["report"].sold == 1
    assert units[0].layout in response.content.decode()
    # The words of opening day, not their homonyms elsewhere in the catalog.
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    report = client.get(_url("session-report", session), **zh).content.decode()
    assert '<th class="text-end">金额</th>' in report and ">时段</th>" in report
    console = client.get(_url("session-console", session), **zh).content.decode()
    assert ">叫号</button>" in console
    detail = client.get(_url("session-detail", session), **zh).content.decode()
    assert "<th>选房序号</th>" in detail and "选房场次" in detail


@pytest.mark.parametrize(
    ("floors", "text"),
    [([3, 4, 5, 7], "3-5, 7"), ([1], "1"), ([], ""), ([2, 4, 6], "2, 4, 6")],
)
def test_floors_are_written_as_ranges_and_read_back(floors, text):
    assert format_floors(floors) == text
    assert parse_floors(text) == floors


def test_the_edit_form_starts_from_the_floors_the_session_offers(
    client, sales_manager, team
):
    project, units = opening_project(floors=4, per_floor=2)
    top = max(u.floor for u in units)
    session = make_session(
        project=project,
        created_by=sales_manager,
        status=Status.DRAFT,
        units=[u for u in units if u.floor == top],
    )
    client.force_login(sales_manager)
    form = client.get(_url("session-edit", session)).context["form"]
    assert form.initial["floors"] == str(top)


def test_the_desk_selects_only_for_the_buyer_called_to_it(
    client, consultant, sales_manager, opening
):
    """Number 2 cannot jump the queue by its entry's id while number 1 is called; a
    buyer who missed their turn is called again first."""
    project, units, session = opening
    called = _called(session, project, consultant, sales_manager)
    waiting = enter(session, make_deposit(project=project, consultant=consultant))
    client.force_login(consultant)
    data = {"entry": waiting.pk, "unit": units[0].pk, "confirmed": "1"}

    refused = client.post(_url("session-select", session), data, follow=True)

    assert not Selection.objects.exists()
    assert f"{waiting.position} 号尚未叫号到选房台" in refused.content.decode()
    service.session_call(
        actor=sales_manager, session=session, position=waiting.position
    )
    client.post(_url("session-select", session), data)
    assert Selection.objects.get().entry == waiting
    assert called.position != waiting.position


def test_the_console_of_a_session_not_open_offers_no_unit_and_says_why(
    client, consultant, sales_manager, opening
):
    """Before it opens every unit looked choosable and each click was refused."""
    _project, units, session = opening
    SelectionSession.objects.filter(pk=session.pk).update(
        status=SelectionSession.Status.ORDERED
    )
    client.force_login(consultant)
    console = client.get(
        _url("session-console", session), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert 'class="opening-pick"' not in console
    assert 'data-testid="console-not-open"' in console and "尚未开始选房" in console
    assert f'data-unit-id="{units[0].pk}"' in console  # the grid is still shown
