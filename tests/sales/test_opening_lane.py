"""The phone's choice answered in the page server's WSGI callable (sales.opening_lane,
crm_site.lanes): the same checks and answers as the view, or the request is left to
Django."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import reverse
from django.utils.translation import gettext, override

from crm_site import live, portal, wsgi
from sales import opening_lane
from sales.models import Selection, SelectionSession, SessionUnit, Unit
from sales.opening_lane import SOLD_WORDS
from sales.services.opening import selection_make
from tests.factories import CustomerFactory, make_building
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

pytestmark = pytest.mark.django_db

CSRF = "c" * 32


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    # The WSGI handler closes "old" connections around a request, which would end
    # the test's transaction; Django's test Client disconnects the same receivers.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class Answer:
    def __init__(self, status: str, headers: list, body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.cookies = [v for k, v in headers if k == "Set-Cookie"]
        self.body = body

    def json(self) -> dict:
        return json.loads(self.body)


def _signed_in(owner) -> str:
    """An owner session whose household was just checked (a phone with the page
    open): its key."""
    session = portal.session_for(owner)
    session[portal.HOUSEHOLD_KEY] = [owner.pk]
    session[portal.CHECKED_AT_KEY] = time.time()
    session.save()
    return session.session_key


def _post(
    entry_id: int,
    unit_id: int,
    *,
    owner=None,
    cookie: str | None = None,
    token: str = CSRF,
    accept: str = "application/json",
    language: str | None = None,
    host: str = "testserver",
    secure: bool = True,
) -> Answer:
    """POST the phone's choice through the page server's WSGI callable."""
    factory = RequestFactory()
    factory.cookies["csrftoken"] = CSRF
    if owner is not None:
        cookie = portal.session_for(owner).session_key
    if cookie is not None:
        factory.cookies[settings.PORTAL_SESSION_COOKIE] = cookie
    if language:
        factory.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    path = reverse("sales_portal:opening-choose", args=[entry_id, unit_id])
    request = factory.post(
        path, {"csrfmiddlewaretoken": token}, HTTP_ACCEPT=accept, secure=secure
    )
    environ = request.environ
    environ["HTTP_HOST"] = host
    environ["HTTP_REFERER"] = f"{'https' if secure else 'http'}://{host}/portal/"
    started: list = []

    def start_response(status, headers, exc_info=None):
        started.extend([status, headers])

    body = b"".join(wsgi.application(environ, start_response))
    return Answer(started[0], started[1], body)


def _prepare_the_lookup() -> None:
    """The lane's statement is prepared on its connection's first lookup."""
    opening_lane._lookup(0, frozenset([0]), 0, 0, opening_lane.SHOWN)


@pytest.fixture
def lane():
    """Records each answer of the lane (None: left to Django)."""
    given: list = []

    def recording(environ):
        result = opening_lane.answer(environ)
        given.append(result)
        return result

    wsgi.lanes_application.lanes[:] = [recording]
    yield given
    wsgi.lanes_application.lanes[:] = [opening_lane.answer]


def test_the_page_servers_callable_has_the_opening_lane():
    # crm_site.wsgi.application drops the process's environment, then the lanes.
    assert wsgi.lanes_application.lanes == [opening_lane.answer]


def test_the_lane_claims_the_unit_and_answers_as_the_view_does(online, lane):
    _session, units, entry, _rival = online
    answer = _post(entry.pk, units[2].pk, owner=entry.deposit.customer)
    assert lane[0] is not None  # answered by the lane, not by Django
    selection = Selection.objects.get()
    assert answer.status_code == 200
    assert answer.json() == {
        "result": "chosen",
        "url": reverse("sales_portal:opening-selection", args=[entry.pk, selection.pk]),
    }
    assert selection.unit == units[2] and selection.entry == entry
    assert selection.channel == Selection.Channel.ONLINE
    units[2].refresh_from_db()
    assert units[2].status == Unit.Status.SUBSCRIBED
    # The headers Django's middleware gives the view's answer.
    assert "no-store" in answer.headers["Cache-Control"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "Cookie" in answer.headers["Vary"]


def test_a_household_member_chooses_for_the_households_entry_through_the_lane(
    online, consultant, owner_household, lane
):
    """The co-buyer's household is due for its check: the lane checks it as
    owner_required does, keeps it in the session and writes the cookie back."""
    session, units, _entry, _rival = online
    deposit = make_deposit(
        project=session.project, consultant=consultant, customer=owner_household.buyer
    )
    entry = enter(session, deposit)
    cookie = portal.session_for(owner_household.co_buyer).session_key
    answer = _post(entry.pk, units[3].pk, cookie=cookie)
    assert lane[0] is not None and answer.json()["result"] == "chosen"
    assert Selection.objects.get(entry=entry).customer == owner_household.buyer
    assert any(settings.PORTAL_PATH in cookie for cookie in answer.cookies)
    kept = portal.SessionStore(cookie)
    assert owner_household.buyer.pk in kept[portal.HOUSEHOLD_KEY]


def test_an_owner_choosing_for_their_own_entry_needs_no_household_check(
    online, lane, django_assert_max_num_queries
):
    """Holding an entry of an open online session is what makes the buyer eligible:
    a phone that waited on the countdown past the recheck chooses at once."""
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    cookie = portal.session_for(entry.deposit.customer).session_key  # never checked
    opening_lane.available_units(session.pk)
    _prepare_the_lookup()
    with django_assert_max_num_queries(1):  # the entry, the owner, the unit
        answer = _post(entry.pk, units[0].pk, cookie=cookie)
    assert lane[0] is not None and answer.json()["result"] == "taken"
    assert answer.cookies == []  # nothing written


def test_a_lost_race_is_answered_by_the_lane_with_the_units_still_on_sale(online, lane):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    answer = _post(entry.pk, units[0].pk, owner=entry.deposit.customer)
    assert lane[0] is not None
    data = answer.json()
    assert data["result"] == "taken" and data["unit"] == units[0].pk
    assert data["available"] == sorted(u.pk for u in units[1:])
    assert data["message"] == gettext(SOLD_WORDS)
    assert not Selection.objects.filter(entry=entry).exists()


def test_a_refusal_is_answered_by_the_lane_with_its_reason(online, lane):
    _session, units, entry, _rival = online
    _post(entry.pk, units[0].pk, owner=entry.deposit.customer)
    data = _post(entry.pk, units[1].pk, owner=entry.deposit.customer).json()
    assert data["result"] == "refused" and data["code"] == "buyer_limit"
    assert Selection.objects.filter(entry=entry).count() == 1
    # The refused choice lifted its claim: another buyer may take the unit.
    assert units[1].pk in opening_lane.available_units(entry.session_id)


def test_the_lane_answers_in_the_buyers_language(online, lane):
    session, units, entry, rival = online
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    data = _post(
        entry.pk, units[0].pk, owner=entry.deposit.customer, language="en"
    ).json()
    with override("en"):
        assert data["message"] == gettext(SOLD_WORDS)
    assert data["message"] == "This unit was just sold. Please choose another one."


# What the lane leaves to Django ------------------------------------------------------


def test_without_an_owner_session_django_sends_the_phone_to_sign_in(online, lane):
    _session, units, entry, _rival = online
    answer = _post(entry.pk, units[0].pk)
    assert lane == [None]
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(reverse("portal:sign-in"))
    assert not Selection.objects.exists()


def test_an_owner_no_longer_on_record_is_signed_out_by_django(online, lane):
    from django.utils import timezone

    from customers.models import Customer

    _session, units, entry, _rival = online
    owner = entry.deposit.customer
    cookie = _signed_in(owner)
    Customer.objects.filter(pk=owner.pk).update(anonymised_at=timezone.now())
    answer = _post(entry.pk, units[0].pk, cookie=cookie)
    assert lane == [None]
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(reverse("portal:sign-in"))
    assert not Selection.objects.exists()


def test_a_bad_csrf_token_is_refused_by_django(online, lane):
    _session, units, entry, _rival = online
    answer = _post(entry.pk, units[0].pk, owner=entry.deposit.customer, token="x" * 32)
    assert lane == [None]
    assert answer.status_code == 403
    assert not Selection.objects.exists()


def test_another_buyers_entry_is_not_found_and_django_still_reads_the_token(
    online, lane
):
    """The lane read the body for the token; Django reads it again (not a 403)."""
    _session, units, entry, rival = online
    answer = _post(rival.pk, units[0].pk, owner=entry.deposit.customer)
    assert lane == [None]
    assert answer.status_code == 404
    assert not Selection.objects.exists()


def test_a_unit_outside_the_session_is_left_to_django(online, lane):
    _session, _units, entry, _rival = online
    outside = make_building(project_name="别的楼盘", floors=1, per_floor=1)
    answer = _post(entry.pk, outside.units.get().pk, owner=entry.deposit.customer)
    assert lane == [None] and answer.status_code == 404


def test_a_plain_form_is_left_to_django(online, lane):
    _session, units, entry, _rival = online
    answer = _post(entry.pk, units[0].pk, owner=entry.deposit.customer, accept="*/*")
    assert lane == [None]  # Django answers the plain form
    assert answer.status_code == 302
    assert Selection.objects.get().unit == units[0]


def test_an_entry_of_a_draft_session_is_left_to_django(consultant, sales_manager, lane):
    project, units = opening_project()
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        status=SelectionSession.Status.DRAFT,
    )
    buyer = CustomerFactory(assigned_consultant=consultant)
    entry = enter(
        session, make_deposit(project=project, consultant=consultant, customer=buyer)
    )
    _post(entry.pk, units[0].pk, owner=buyer)
    assert lane == [None]
    assert not Selection.objects.exists()


def test_a_failing_lane_leaves_the_request_to_django(online, lane, monkeypatch):
    _session, units, entry, _rival = online

    def broken(**kwargs):
        raise RuntimeError("a bug in the lane")

    monkeypatch.setattr(opening_lane, "choose", broken)
    answer = _post(entry.pk, units[0].pk, owner=entry.deposit.customer)
    assert lane == [None]
    # The view chooses (it imported choose before the patch).
    assert answer.status_code == 200 and answer.json()["result"] == "chosen"


def test_a_bad_host_is_left_to_django(online, lane):
    _session, units, entry, _rival = online
    factory = RequestFactory()
    factory.cookies["csrftoken"] = CSRF
    factory.cookies[settings.PORTAL_SESSION_COOKIE] = _signed_in(entry.deposit.customer)
    request = factory.post(
        reverse("sales_portal:opening-choose", args=[entry.pk, units[0].pk]),
        {"csrfmiddlewaretoken": CSRF},
        HTTP_ACCEPT="application/json",
        HTTP_HOST="evil.example",
        secure=True,
    )
    started: list = []
    wsgi.application(request.environ, lambda status, headers: started.append(status))
    assert lane == [None] and started[0].startswith("400")
    assert not Selection.objects.exists()


# The gate in front of the database ----------------------------------------------------


def test_a_unit_another_phone_is_claiming_is_taken_without_a_transaction(
    online, lane, django_assert_max_num_queries
):
    session, units, entry, _rival = online
    assert opening_lane._claim(session.pk, units[3].pk)  # another phone's claim
    cookie = _signed_in(entry.deposit.customer)
    opening_lane.available_units(session.pk)  # read a moment ago by another phone
    _prepare_the_lookup()
    # The owner, the entry with its session and unit: one statement, no lock.
    with django_assert_max_num_queries(1):
        data = _post(entry.pk, units[3].pk, cookie=cookie).json()
    assert data["result"] == "taken"
    assert units[3].pk not in data["available"]  # being claimed: not offered
    assert not Selection.objects.exists()


def test_a_lapsed_claim_no_longer_holds_the_unit_back(online, lane):
    session, units, entry, _rival = online
    key = opening_lane._claims_key(session.pk)
    live.client().hset(key, units[3].pk, repr(time.time() - 1))
    assert units[3].pk in opening_lane.available_units(session.pk)
    data = _post(entry.pk, units[3].pk, owner=entry.deposit.customer).json()
    assert data["result"] == "chosen"


def test_with_redis_down_the_database_alone_decides(online, lane, monkeypatch):
    session, units, entry, rival = online

    class Down:
        def __getattr__(self, name):
            raise redis.ConnectionError("down")

    monkeypatch.setattr(live, "client", lambda *a, **k: Down())
    assert opening_lane._claim(session.pk, units[0].pk)
    selection_make(session=session, entry=rival, unit=units[0], channel="online")
    data = _post(entry.pk, units[0].pk, owner=entry.deposit.customer).json()
    assert data["result"] == "taken"
    assert data["available"] == sorted(u.pk for u in units[1:])
    assert (
        _post(entry.pk, units[1].pk, owner=entry.deposit.customer).json()["result"]
        == "chosen"
    )


def test_the_units_on_sale_are_read_once_a_moment_whatever_their_number(online):
    session, units, _entry, _rival = online
    opening_lane.available_units(session.pk)
    building = make_building(project_name=session.project.name, floors=6, per_floor=4)
    SessionUnit.objects.bulk_create(
        SessionUnit(session=session, unit=u) for u in building.units.all()
    )
    live.client().delete(opening_lane._available_key(session.pk))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        fresh = opening_lane.available_units(session.pk)
    with CaptureQueriesContext(connection) as second:
        again = opening_lane.available_units(session.pk)
    assert len(first) == 1 and len(second) == 0
    assert fresh == again and len(fresh) == len(units) + 24


def test_the_lookup_is_prepared_once_per_connection_and_again_after_a_reconnect(
    online,
):
    from django.db import connection

    _session, units, entry, _rival = online
    owner = entry.deposit.customer.pk
    args = (entry.pk, frozenset([owner]), units[0].pk, owner, opening_lane.SHOWN)
    found = opening_lane._lookup(*args)
    assert found[:3] == (entry.session_id, Unit.Status.AVAILABLE, True)
    # What the choice's early checks read (opening_lane.Seen): nothing chosen yet.
    assert found[3] == SelectionSession.Status.OPEN
    assert found[-2:] == (0, None)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = %s",
            [opening_lane._LOOKUP],
        )
        assert cursor.fetchone()[0] == 1
    assert opening_lane._lookup(*args) == found  # no second PREPARE


def test_the_owner_is_read_by_its_key_not_through_the_live_customers_index(online):
    """With the owner's conditions in the join, PostgreSQL scanned the partial
    index of live customers for the owner's id."""
    from django.db import connection

    _session, units, entry, _rival = online
    owner = entry.deposit.customer.pk
    with connection.cursor() as cursor:
        body = opening_lane._LOOKUP_SQL.split(" AS", 1)[1]
        # Once autovacuum has analysed the test's one-page customer table, a
        # sequential scan costs least there and PostgreSQL takes it; on real data
        # it never would. Ruled out, the planner still chooses among the indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN " + re.sub(r"\$(\d)", r"%(p\1)s", body),
            {
                "p1": owner,
                "p2": units[0].pk,
                "p3": entry.pk,
                "p4": [owner],
                "p5": ["online"],
                "p6": ["open"],
            },
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    # The owner's row is found by an index condition on its id. On the test's
    # one-page table the primary key and customer_created_idx (created_at, id) cost
    # the same, and PostgreSQL may take either; on real data only the key is cheap.
    # What was wrong: the live customers' partial index scanned with the id a filter.
    assert re.search(
        rf"Scan using \w+ on customers_customer\b.*\n\s+Index Cond: \(id = {owner}\)",
        plan,
    ), plan
    assert "customer_mobile_unique_live" not in plan, plan


# What the choice reads first (opening_lane.Seen) -----------------------------------


@pytest.fixture
def claims(monkeypatch):
    """The units each choice claimed in Redis."""
    taken: list[int] = []
    claim = opening_lane._claim

    def recording(session_id, unit_id):
        taken.append(unit_id)
        return claim(session_id, unit_id)

    monkeypatch.setattr(opening_lane, "_claim", recording)
    return taken


def test_a_phone_asking_again_for_its_own_unit_is_told_it_is_theirs(online, lane):
    """A phone that lost the answer to its choice asks again: the unit is theirs,
    not "just sold", from the lane and from the view alike."""
    _session, units, entry, _rival = online
    owner = entry.deposit.customer
    first = _post(entry.pk, units[2].pk, owner=owner).json()
    assert first["result"] == "chosen"

    again = _post(entry.pk, units[2].pk, owner=owner)
    assert lane[1] is not None
    assert again.json() == first
    wsgi.lanes_application.lanes[:] = []  # the view alone
    assert _post(entry.pk, units[2].pk, owner=owner).json() == first
    assert Selection.objects.count() == 1


@pytest.mark.parametrize("through", ["lane", "view"])
def test_a_buyer_at_their_limit_is_refused_without_claiming_the_unit(
    online, lane, claims, through
):
    _session, units, entry, rival = online
    assert (
        _post(entry.pk, units[0].pk, owner=entry.deposit.customer).json()["result"]
        == "chosen"
    )
    if through == "view":
        wsgi.lanes_application.lanes[:] = []

    answer = _post(entry.pk, units[1].pk, owner=entry.deposit.customer).json()

    assert answer["result"] == "refused" and answer["code"] == "buyer_limit"
    # No claim: the unit never looked sold to the others while the buyer was refused.
    assert claims == [units[0].pk]
    assert (
        _post(rival.pk, units[1].pk, owner=rival.deposit.customer).json()["result"]
        == "chosen"
    )


def test_a_buyer_whose_slot_has_not_come_is_refused_without_a_claim(
    consultant, sales_manager, lane, claims
):
    project, units = opening_project()
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.QUEUE,
    )
    late = enter(
        session,
        make_deposit(
            project=project,
            consultant=consultant,
            customer=CustomerFactory(assigned_consultant=consultant),
        ),
        slot_open=False,
    )

    answer = _post(late.pk, units[0].pk, owner=late.deposit.customer)

    assert lane[0] is not None
    assert answer.json()["result"] == "refused"
    assert answer.json()["code"] == "too_soon"
    assert claims == []


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_committed_before_a_failure_is_still_the_buyers(
    online, consultant, owner_household, lane, monkeypatch
):
    """A co-buyer choosing for the household's entry: their session is written
    after the claim commits (the household checked). Should that fail, Django
    answers the request again, and tells them the unit is theirs."""
    from django.db import OperationalError

    session, units, _entry, _rival = online
    deposit = make_deposit(
        project=session.project, consultant=consultant, customer=owner_household.buyer
    )
    entry = enter(session, deposit)
    cookie = portal.session_for(owner_household.co_buyer).session_key
    saves: list[int] = []
    save = portal.SessionStore.save

    def failing_once(self, *args, **kwargs):
        saves.append(1)
        if len(saves) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return save(self, *args, **kwargs)

    monkeypatch.setattr(portal.SessionStore, "save", failing_once)

    answer = _post(entry.pk, units[4].pk, cookie=cookie)

    assert lane == [None]  # the lane failed after its claim and left it to Django
    selection = Selection.objects.get(entry=entry)
    assert selection.unit_id == units[4].pk
    assert answer.json() == {
        "result": "chosen",
        "url": reverse("sales_portal:opening-selection", args=[entry.pk, selection.pk]),
    }


@pytest.mark.parametrize(
    "path",
    [
        "sales/opening/١/units/٢/",  # digits Django's int converter does not take
        "sales/opening/1/units/2/\n",
    ],
)
def test_the_lane_leaves_paths_django_would_not_resolve(path):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"{settings.PORTAL_PATH}{path}",
        "HTTP_ACCEPT": "application/json",
        "CONTENT_LENGTH": "4",
        "wsgi.input": io.BytesIO(b"x=1&"),
    }
    assert opening_lane.answer(environ) is None


def test_the_lanes_answer_has_the_headers_of_the_views(online, lane):
    _session, units, entry, rival = online
    _post(entry.pk, units[0].pk, owner=entry.deposit.customer)
    by_lane = _post(rival.pk, units[0].pk, owner=rival.deposit.customer)
    wsgi.lanes_application.lanes[:] = []
    by_view = _post(rival.pk, units[0].pk, owner=rival.deposit.customer)

    assert lane[1] is not None
    assert by_lane.json() == by_view.json()
    assert by_lane.json()["result"] == "taken"
    # Content-Length is the page server's to add (granian writes it); the view
    # checked the household and wrote the owner's session (its cookie), which the
    # lane spares a buyer choosing for their own entry.
    own = {"Content-Length", "Set-Cookie"}
    assert set(by_lane.headers) - own == set(by_view.headers) - own
    assert (
        by_lane.headers["Content-Security-Policy"]
        == by_view.headers["Content-Security-Policy"]
    )


def test_a_host_django_refuses_is_left_to_django(online, lane):
    _session, units, entry, _rival = online

    answer = _post(
        entry.pk, units[1].pk, owner=entry.deposit.customer, host="evil.example"
    )

    assert lane == [None]
    assert answer.status_code == 400
    assert not Selection.objects.exists()


def test_plain_http_where_https_is_required_is_left_to_djangos_redirect(
    online, lane, monkeypatch, settings
):
    """SECURE_SSL_REDIRECT on, as in production: the lane's own middleware and a
    Django handler built with it (the tests' settings turn it off)."""
    from django.core.handlers.wsgi import WSGIHandler

    settings.SECURE_SSL_REDIRECT = True
    monkeypatch.setattr(opening_lane._SECURITY, "redirect", True)
    monkeypatch.setattr(wsgi.lanes_application, "django", WSGIHandler())
    _session, units, entry, _rival = online

    answer = _post(entry.pk, units[1].pk, owner=entry.deposit.customer, secure=False)

    assert lane == [None]
    assert answer.status_code == 301
    assert answer.headers["Location"].startswith("https://testserver/")
    assert not Selection.objects.exists()
