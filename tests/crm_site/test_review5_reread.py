"""A second reading of the previous session's commits (344c753..fbb3519): what they
left half-done or broke. Each test fails on the code as it was read."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.audit import audit_entries_for
from customers.models import CustomerAccess, Interaction
from sales import services as sales_services
from sales.models import CommissionRule, SelectionSession
from sales.services import sessions as session_services
from tests.factories import CustomerFactory, make_building
from tests.marketing.conftest import broker, partner  # noqa: F401
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project
from tests.sales.test_changes_after_contract import _pay, signed_deal

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


def _labels_in_chinese(entry) -> dict[str, str]:
    """The audit entry's keys as the trail's page names them to a Chinese reader."""
    with translation.override("zh-hans"):
        return {
            key: label
            for key, (label, _old, _new) in zip(
                entry.changes, entry.readable_changes(), strict=True
            )
        }


# --- 1. the session form and its audit trail (adcbe14, 52ed03a) ---------------------


def test_saving_a_sessions_form_with_its_start_unchanged_records_no_change_of_start(
    client, sales_manager, team
):
    """The form gives the start in Asia/Shanghai, the row holds it in UTC: compared as
    text (crm_site.audit.diff) the same moment reads as changed, and the trail says
    the start moved from 10:00 to 10:00 every time the form is saved."""
    project, _units = opening_project(floors=2, per_floor=2)
    project.teams.add(team)
    starts = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    session = make_session(
        project=project,
        created_by=sales_manager,
        status=SelectionSession.Status.DRAFT,
        starts_at=starts,
    )
    client.force_login(sales_manager)
    response = client.post(
        reverse("sales:session-edit", args=[session.pk]),
        {
            "name": "改个名字",  # the one thing changed
            "starts_at": timezone.localtime(starts).strftime("%Y-%m-%dT%H:%M"),
            "mode": session.mode,
            "order": session.order,
            "units_per_buyer": str(session.units_per_buyer),
            "units_per_household": str(session.units_per_household),
            "minutes_per_buyer": str(session.minutes_per_buyer),
            "buildings": [str(b.pk) for b in project.buildings.all()],
            "floors": "",
        },
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.starts_at == starts  # the same moment, saved again
    changes = audit_entries_for(session).first().changes
    assert "name" in changes
    assert "starts_at" not in changes, changes["starts_at"]


# --- 2. a partner's registration followed to the survivor (0fd206e) -----------------


def test_a_broker_registration_followed_to_the_survivor_logs_and_shares_the_survivor(
    broker,  # noqa: F811
    partner,  # noqa: F811
    team,
    sales_manager,
    monkeypatch,
):
    """The number was looked up, then a merge committed: the registration and the
    partner's link follow to the survivor, but the 'registered by partner' entry and
    the sales managers' access were still given to the merged-away record, where no
    one sees them (the survivor's timeline lacks it, its managers are not let in)."""
    from customers.services.merge import customer_merge
    from marketing.services import partners as partner_services

    project = make_building(floors=1, per_floor=2, skipped=()).project
    project.teams.add(team)
    absorbed = CustomerFactory(mobile="+8613911112222", assigned_consultant=None)
    survivor = CustomerFactory(assigned_consultant=None)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    monkeypatch.setattr(
        partner_services, "customer_find_by_phone", lambda mobile: absorbed
    )
    link = partner_services.partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile="13911112222",
    )
    assert link.customer_id == survivor.pk  # as 0fd206e made it

    registered = Interaction.objects.filter(event="marketing.partner_registered")
    assert list(registered.values_list("customer_id", flat=True)) == [survivor.pk]
    assert CustomerAccess.objects.filter(customer=survivor, user=sales_manager).exists()
    assert not CustomerAccess.objects.filter(customer=absorbed).exists()


# --- 3. audit keys named in the reader's language (b7dd397) -------------------------


@pytest.fixture
def building(db):
    return make_building()


def test_a_deal_changes_approval_names_its_status_in_chinese(
    building, consultant, sales_manager, own_customer
):
    """b7dd397's guard passes any key that is a field of the model, but a field with
    no translatable verbose name (DealChange.status) is shown as the code spells it:
    'status' on the Chinese trail of every decided change."""
    deal = signed_deal(consultant, own_customer, building.units.order_by("pk")[0])
    change = sales_services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="退房"
    )
    sales_services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    labels = _labels_in_chinese(audit_entries_for(change).first())
    assert CJK.search(labels["status"]), labels


def test_calling_a_number_at_the_desk_is_named_in_chinese_on_the_trail(
    consultant, sales_manager, team
):
    """The desk's 'number called' entry (called_position) shows in English."""
    project, _units = opening_project(floors=2, per_floor=2)
    project.teams.add(team)
    session = make_session(project=project, created_by=sales_manager)
    entry = enter(session, make_deposit(project=project, consultant=consultant))
    session_services.session_call(
        actor=sales_manager, session=session, position=entry.position
    )
    labels = _labels_in_chinese(audit_entries_for(session).first())
    assert CJK.search(labels["called_position"]), labels


# --- 4. four eyes: one predicate, but not on every screen (fbb3519) -----------------


def test_the_commission_list_offers_a_manager_no_settling_of_their_own_commission(
    client, building, sales_manager, own_customer
):
    """fbb3519 made other_eyes the one test for settling a commission, and the
    deposit pages hide what it refuses; the commission list still offers 'Mark paid'
    and 'Write off' on the manager's own line, refused on click."""
    CommissionRule.objects.create(
        project=building.project,
        basis="percent",
        rate=Decimal("1.5"),
        earned_at="contracted",
    )
    own_customer.assigned_consultant = sales_manager
    own_customer.save(update_fields=["assigned_consultant"])
    deal = signed_deal(sales_manager, own_customer, building.units.order_by("pk")[0])
    _pay(sales_manager, deal, deal.agreed_price)
    client.force_login(sales_manager)
    page = client.get(reverse("sales:commission-list")).content.decode()
    assert 'data-testid="pay-commission"' not in page
    assert 'data-testid="waive-commission"' not in page


def test_the_approvals_page_offers_no_approve_on_ones_own_discount_request(
    client, building, sales_manager, own_customer
):
    """A manager working their own deal asks a discount beyond the limit: the
    approvals page offers them Approve (may_approve says no; the service refuses),
    where the deposit refund pages now say another manager decides."""
    deal = sales_services.opportunity_open(
        actor=sales_manager, customer=own_customer, project=building.project
    )
    sales_services.unit_reserve(
        actor=sales_manager, opportunity=deal, unit=building.units.order_by("pk")[0]
    )
    waiting = sales_services.discount_request(
        actor=sales_manager, opportunity=deal, percent=Decimal("20"), reason="自批"
    )
    client.force_login(sales_manager)
    page = client.get(reverse("sales:approval-list")).content.decode()
    decide = reverse("sales:approval-decide", args=[waiting.pk])
    # The form deciding this request, if the page offers one (withdrawing is fine).
    forms = [part[: part.index("</form>")] for part in page.split(decide)[1:]]
    assert not [form for form in forms if 'value="approve"' in form]


# --- 5. registration_create follows a merge against the merges' lock order (0fd206e)


@pytest.mark.django_db(transaction=True)
def test_a_registration_following_a_merge_does_not_deadlock_with_its_undo(
    consultant, sales_manager, monkeypatch
):
    """registration_create locks the record it was given, then the survivor: for the
    usual merge (an older record absorbs a newer one) that is the higher id, then the
    lower, where a merge and its undo lock the pair in id order (merge._lock_pair).
    An undo starting between its two locks holds the survivor and waits for the
    absorbed record while the registration holds that and waits for the survivor:
    PostgreSQL breaks the cycle by failing one of them ('deadlock detected')."""
    import threading

    from django.db import connection

    from customers import merge_handlers
    from customers.models import Customer, MergeRecord
    from customers.services.merge import customer_merge, customer_merge_restore
    from sales.models import Registration
    from sales.services.ownership import registration_create

    merge_handlers.connect()
    project = make_building(floors=1, per_floor=1, skipped=()).project
    survivor = CustomerFactory(assigned_consultant=None)
    absorbed = CustomerFactory(assigned_consultant=None)
    assert survivor.pk < absorbed.pk  # the older record lives on
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    record = MergeRecord.objects.get(absorbed=absorbed)

    first_lock_held = threading.Event()
    undo_waits = threading.Event()
    manager = Customer.objects
    real = manager.select_for_update

    class PausedAfterFirstLock:
        """The registration's locking read, pausing once after its first row."""

        def __init__(self, queryset):
            self.queryset = queryset

        def get(self, *args, **kwargs):
            row = self.queryset.get(*args, **kwargs)
            if not first_lock_held.is_set():
                first_lock_held.set()
                undo_waits.wait(5)
            return row

        def __getattr__(self, name):
            return getattr(self.queryset, name)

    def select_for_update(*args, **kwargs):
        queryset = real(*args, **kwargs)
        if threading.current_thread().name == "registration":
            return PausedAfterFirstLock(queryset)
        return queryset

    monkeypatch.setattr(manager, "select_for_update", select_for_update)
    errors: list[BaseException] = []

    def run(work):
        def target():
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                connection.close()

        return target

    def register():
        registration_create(
            actor=consultant,
            customer=absorbed,
            project=project,
            consultant=consultant,
            basis=Registration.Basis.CALL,
        )

    def undo():
        first_lock_held.wait(5)
        customer_merge_restore(actor=sales_manager, record=record)

    threads = [
        threading.Thread(target=run(register), name="registration"),
        threading.Thread(target=run(undo), name="undo"),
    ]
    for thread in threads:
        thread.start()
    # Let the registration go on once the undo waits for a row lock.
    for _ in range(50):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
        threading.Event().wait(0.1)
    undo_waits.set()
    for thread in threads:
        thread.join(30)
    assert not [exc for exc in errors if "deadlock" in str(exc)], errors


# --- 6. the close page counts what the close will not refund (a87dabb) ---------------


def test_the_close_page_counts_only_the_deposits_closing_would_refund(
    client, consultant, sales_manager, team
):
    """Closing leaves out a deposit whose refund already waits for approval (a87dabb:
    that refund is the one already asked); the close page still counts it among the
    'buyers still holding an unused deposit' it is about to refund."""
    from sales.services.deposits import deposit_refund_request

    project, _units = opening_project(floors=2, per_floor=2)
    project.teams.add(team)
    session = make_session(
        project=project, created_by=sales_manager, status=SelectionSession.Status.DRAFT
    )
    staying = make_deposit(project=project, consultant=consultant)
    leaving = make_deposit(project=project, consultant=consultant)
    enter(session, staying)
    enter(session, leaving)
    deposit_refund_request(actor=consultant, deposit=leaving, reason="不买了")
    client.force_login(sales_manager)
    page = client.get(reverse("sales:session-close", args=[session.pk]))
    result = session_services.session_close(
        actor=sales_manager, session=session, deposits="refund"
    )
    assert result.refunds == 1
    assert page.context["unused"] == result.refunds
